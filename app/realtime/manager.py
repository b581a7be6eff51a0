"""Socket.IO client managers: in-process, or python-socketio's Redis manager when `REDIS_URL` is set.

Both learn one extra trick, *room commands*: a server-side message addressed to a room that is never
sent to clients but handed, on every replica, to `on_room_command` with that replica's sockets in the
room. It travels through the manager's own fan-out (Redis pub/sub with `AsyncRedisManager`), so a ban
made on replica A removes the user's sockets from the stream's rooms on replica B without a broker of
our own.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import socketio

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


class RedisManager(socketio.AsyncRedisManager, RoomCommands):
    """Several replicas: emits (room commands included) fan out through Redis pub/sub.

    The method order puts `RoomCommands.emit` between the pub/sub layer and the local delivery, so
    it runs on every replica that receives the message, the emitting one included.
    """


def build_manager(redis_url: str | None, channel: str = "allmine-realtime") -> RoomCommands:
    if redis_url:
        return RedisManager(redis_url, channel=channel)
    return LocalManager()
