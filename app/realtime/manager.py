"""Socket.IO client managers: in-process, or python-socketio's Redis manager when `REDIS_URL` is set.

Both learn one extra trick, *room commands*: a server-side message addressed to a room that is never
sent to clients but handed, on every replica, to `on_room_command` with that replica's sockets in the
room. It travels through the manager's own fan-out (Redis pub/sub with `AsyncRedisManager`), so a ban
made on replica A removes the user's sockets from the stream's rooms on replica B without a broker of
our own.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import socketio
import structlog

from app.realtime.metrics import REDIS_ERRORS, REDIS_UP

log = structlog.get_logger("app.realtime")

ROOM_COMMAND = "__room_command__"  # never reaches a client: intercepted below on every replica

RoomCommandHandler = Callable[[str, list[str], dict[str, Any]], Awaitable[None]]


class RoomCommands(socketio.AsyncManager):
    on_room_command: RoomCommandHandler | None = None

    async def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kwargs):  # type: ignore[no-untyped-def]
        if event != ROOM_COMMAND:
            return await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs
            )
        sids = [sid for sid, _ in self.get_participants(namespace, to or room)]
        if sids and self.on_room_command is not None:
            await self.on_room_command(namespace, sids, data)
        return None


class LocalManager(RoomCommands):
    """One replica: rooms and emits in this process."""


class RedisHealth:
    """Whether Redis answered the last time the realtime layer used it: one ERROR line when an outage
    starts, one WARNING when it ends, a counter per failed operation and a 0/1 gauge (docs/realtime.md,
    "Redis outage")."""

    def __init__(self) -> None:
        self.up = True

    def failed(self, operation: str, exc: BaseException) -> None:
        REDIS_ERRORS.labels(operation).inc()
        REDIS_UP.set(0)
        if self.up:
            self.up = False
            log.error("realtime_redis_unavailable", operation=operation, error=type(exc).__name__)

    def answered(self) -> None:
        REDIS_UP.set(1)
        if not self.up:
            self.up = True
            log.warning("realtime_redis_recovered")


class RedisManager(socketio.AsyncRedisManager, RoomCommands):
    """Several replicas: emits (room commands included) fan out through Redis pub/sub.

    The method order puts `RoomCommands.emit` between the pub/sub layer and the local delivery, so
    it runs on every replica that receives the message, the emitting one included.

    During a Redis outage (python-socketio would log two ERROR lines per emit and back off its
    listener up to 60 s): an emit still reaches this replica's sockets (python-socketio delivers
    locally before publishing) and is not sent to the other replicas, nothing is buffered, and a
    reconnection is tried at most once per `RETRY_SECONDS` by publishes and by the listener, which
    resubscribes by itself; `RedisHealth` logs and meters it.
    """

    RETRY_SECONDS = 1.0
    MAX_LISTEN_BACKOFF_SECONDS = 2.0

    def __init__(self, url: str, channel: str) -> None:
        # A bounded connect: an unreachable (not refusing) Redis must not hold the event pump for
        # the OS's connect timeout. No read timeout: the pub/sub listener waits for messages.
        super().__init__(url, channel=channel, redis_options={"socket_connect_timeout": 2})
        self.health = RedisHealth()
        self._next_publish_try = 0.0

    async def _publish(self, data: Any) -> None:
        if not self.health.up and time.monotonic() < self._next_publish_try:
            REDIS_ERRORS.labels("publish_skipped").inc()
            return
        try:
            if not self.connected:
                self._redis_connect()
            await self.redis.publish(self.channel, self.json.dumps(data))
        except Exception as exc:  # redis-py raises its own errors and OSError subclasses
            self.connected = False
            self._next_publish_try = time.monotonic() + self.RETRY_SECONDS
            self.health.failed("publish", exc)
        else:
            self.health.answered()

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        backoff = self.RETRY_SECONDS
        while True:
            try:
                self._redis_connect()
                pubsub = self.pubsub  # a publish may reconnect (and replace self.pubsub) meanwhile
                await pubsub.subscribe(self.channel)
                self.health.answered()
                backoff = self.RETRY_SECONDS
                async for message in pubsub.listen():
                    yield message
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected = False
                self.health.failed("listen", exc)
            await asyncio.sleep(backoff)  # also when listen() ended by itself: never a busy loop
            backoff = min(backoff * 2, self.MAX_LISTEN_BACKOFF_SECONDS)


def build_manager(redis_url: str | None, channel: str = "allmine-realtime") -> RoomCommands:
    if redis_url:
        return RedisManager(redis_url, channel=channel)
    return LocalManager()
