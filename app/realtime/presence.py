"""Presence: socket joins record participations through the REST join, disconnects close them late.

A signed-in user's sockets (either namespace, `/live-stream` or `/stream-chat`) in one stream share
one participation, recorded by `AudienceService.join` exactly as `POST /live-stream/join` does. It is
closed (`AudienceService.leave`, watch time recorded) when the user's last socket leaves the stream on
this replica: at once on `leaveStream`, after `grace_seconds` on a disconnect, so a reconnect inside
the grace period resumes the participation instead of being a new join.
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from bson import ObjectId

from app.core.errors import AppError, Conflict

log = structlog.get_logger("app.realtime")

Key = tuple[ObjectId, ObjectId]  # (user, stream)
Closer = Callable[[ObjectId, ObjectId], Awaitable[Any]]


class Presence:
    def __init__(self, grace_seconds: float, close: Closer) -> None:
        self.grace_seconds = grace_seconds
        self.close = close  # (stream_id, user_id) → closes the participation (REST leave)
        self.holders: dict[Key, set[str]] = {}  # sockets ("ns|sid") holding the participation
        self.pending: dict[Key, asyncio.Task[None]] = {}

    def is_open(self, user_id: ObjectId, stream_id: ObjectId) -> bool:
        """A socket of the user holds the participation here, or its close is still in grace."""
        key = (user_id, stream_id)
        return bool(self.holders.get(key)) or key in self.pending

    def hold(self, user_id: ObjectId, stream_id: ObjectId, socket: str) -> None:
        key = (user_id, stream_id)
        task = self.pending.pop(key, None)
        if task is not None:
            task.cancel()
        self.holders.setdefault(key, set()).add(socket)

    def drop(self, user_id: ObjectId, stream_id: ObjectId, socket: str) -> bool:
        """Forget the socket; True when it was the user's last one in the stream."""
        key = (user_id, stream_id)
        sockets = self.holders.get(key)
        if sockets is None:
            return False
        sockets.discard(socket)
        if sockets:
            return False
        del self.holders[key]
        return True

    async def leave(self, user_id: ObjectId, stream_id: ObjectId, socket: str) -> Any:
        """`leaveStream`: REST leave when this was the user's last socket in the stream, else None."""
        if self.drop(user_id, stream_id, socket):
            return await self.close(stream_id, user_id)
        return None

    def disconnected(self, user_id: ObjectId, stream_id: ObjectId, socket: str) -> None:
        if self.drop(user_id, stream_id, socket):
            key = (user_id, stream_id)
            self.pending[key] = asyncio.create_task(self._close_later(key))

    def forget(self, user_id: ObjectId, stream_id: ObjectId) -> None:
        """The participation was closed elsewhere (a BLOCK ban): nothing left to close."""
        key = (user_id, stream_id)
        self.holders.pop(key, None)
        task = self.pending.pop(key, None)
        if task is not None:
            task.cancel()

    async def _close_later(self, key: Key) -> None:
        await asyncio.sleep(self.grace_seconds)
        if self.pending.get(key) is not asyncio.current_task():
            return
        del self.pending[key]
        await self._close_quietly(key)

    async def _close_quietly(self, key: Key) -> None:
        user_id, stream_id = key
        try:
            await self.close(stream_id, user_id)
        except Conflict:
            pass  # already closed (stream ended, user banned, REST leave)
        except AppError as exc:
            log.info("presence_close_refused", stream_id=str(stream_id), status=exc.status_code)
        except Exception:
            log.exception("presence_close_failed", stream_id=str(stream_id))

    async def aclose(self) -> None:
        """Shutdown: close what is in grace now rather than leave it open."""
        pending, self.pending = self.pending, {}
        for key, task in pending.items():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._close_quietly(key)


Counter = Callable[[ObjectId], Awaitable[int]]
Emitter = Callable[[ObjectId, int], Awaitable[None]]
Gate = Callable[[ObjectId, float], Awaitable[float]]


async def local_gate(stream_id: ObjectId, interval: float) -> float:
    return 0.0


class ViewerCounts:
    """`viewerCount` coalesced: at most one emit per stream per `interval`, and only when it changed.

    A change marks the stream; the first mark schedules a flush at `last emit + interval`, later marks
    ride on it, and the flush reads the count from the database then (so it is current). `gate` makes
    the interval hold across replicas (a Redis `SET NX PX` when `REDIS_URL` is set): it answers the
    seconds to wait before trying again, 0 when this replica may emit now.
    """

    def __init__(self, count: Counter, emit: Emitter, interval: float = 1.0, gate: Gate = local_gate) -> None:
        self.count, self.emit, self.interval, self.gate = count, emit, interval, gate
        self.last_at: dict[ObjectId, float] = {}
        self.last_value: dict[ObjectId, int] = {}
        self.tasks: dict[ObjectId, asyncio.Task[None]] = {}

    def mark(self, stream_id: ObjectId) -> None:
        if stream_id not in self.tasks:
            self.tasks[stream_id] = asyncio.create_task(self._flush(stream_id))

    async def _flush(self, stream_id: ObjectId) -> None:
        try:
            wait = self.last_at.get(stream_id, -self.interval) + self.interval - time.monotonic()
            while True:
                if wait > 0:
                    await asyncio.sleep(wait)
                wait = await self.gate(stream_id, self.interval)  # another replica may have emitted
                if wait <= 0:
                    break
            self.last_at[stream_id] = time.monotonic()
            del self.tasks[stream_id]  # marks from here on schedule the next flush, an interval later
            value = await self.count(stream_id)
            if self.last_value.get(stream_id) != value:
                self.last_value[stream_id] = value
                await self.emit(stream_id, value)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.tasks.pop(stream_id, None)
            log.exception("viewer_count_failed", stream_id=str(stream_id))

    async def aclose(self) -> None:
        tasks, self.tasks = self.tasks, {}
        for task in tasks.values():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
