"""`publish`: send any event to a Socket.IO room from anywhere (money code, jobs, scripts).

It goes through the domain event hub (`app.core.events`), so it works on every replica that runs the
realtime layer (with `REDIS_URL`, the manager carries it to sockets on the others) and does nothing in
a process without one. The payload is encoded like REST (ObjectId → str, times `…000Z`), unwrapped.
For a superlike, prefer `app.core.events.emit(events.STREAM_SUPERLIKE, superlike)`: the realtime layer
turns it into `superlike` to the stream's `/stream-chat` room.
"""

from typing import Any

from app.core import events
from app.realtime.rooms import CHAT_NS, member_room, stream_room
from app.realtime.server import PUBLISH

__all__ = ["member_room", "publish", "stream_room"]


async def publish(event: str, room: str, payload: Any, namespace: str = CHAT_NS) -> None:
    """Emit `event` with `payload` to `room` (e.g. `stream_room(stream_id)`) in `namespace`."""
    events.emit(PUBLISH, {"event": event, "room": room, "payload": payload, "namespace": namespace})
