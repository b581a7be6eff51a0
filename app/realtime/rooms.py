"""Room names, shared by the namespaces and by `publish` callers."""

from typing import Any

STATUS_NS = "/live-stream-status"
LIVE_NS = "/live-stream"
CHAT_NS = "/stream-chat"


def stream_room(stream_id: Any) -> str:
    """Every socket that joined (or, on `/live-stream-status`, subscribed to) the stream."""
    return f"stream:{stream_id}"


def member_room(stream_id: Any, user_id: Any) -> str:
    """The sockets of one signed-in user in one stream: targeted events (banned, recordingReady)."""
    return f"stream:{stream_id}:user:{user_id}"
