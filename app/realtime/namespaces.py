"""The three namespaces. Every client event answers an ack (`acks.py`) and passes the socket's limits.

Handlers are thin like routers: parse the payload, call the service REST calls, manage rooms.
"""

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import socketio
import structlog
from bson import ObjectId

from app.bans.service import BANNED
from app.core.errors import AppError, Conflict, Forbidden, NotAuthenticated, ValidationFailed
from app.core.security import AuthenticatedUser
from app.live_streams.documents import LiveStreamDocument
from app.realtime.acks import PayloadTooLarge, TooManyRequests, failure, ok
from app.realtime.limits import SocketLimiter
from app.realtime.rooms import CHAT_NS, LIVE_NS, STATUS_NS, member_room, stream_room

if TYPE_CHECKING:
    from app.realtime.server import Realtime

log = structlog.get_logger("app.realtime")


@dataclass
class SocketState:
    user: AuthenticatedUser | None
    limiter: SocketLimiter
    streams: dict[ObjectId, bool] = field(default_factory=dict)  # stream → holds a participation


Handler = Callable[[Any, str, SocketState, dict[str, Any]], Awaitable[Any]]


def client_event(fn: Handler) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Rate limit, size limit, payload shape, then the handler; its result or error becomes the ack."""

    @functools.wraps(fn)
    async def handler(self: "BaseNamespace", sid: str, *args: Any) -> dict[str, Any]:
        state = self.sockets.get(sid)
        if state is None:
            return failure(NotAuthenticated())
        limits = self.rt.limits
        if not state.limiter.allow():
            if state.limiter.abusive:
                self.rt.spawn(self.disconnect(sid))  # after this ack is on its way
            return failure(TooManyRequests(f"at most {limits.events_per_second:g} events per second"))
        try:
            if len(args) > 1:
                raise ValidationFailed("send one payload object")
            data = args[0] if args else {}
            if len(orjson.dumps(data)) > limits.max_event_bytes:
                raise PayloadTooLarge(f"an event payload is at most {limits.max_event_bytes} bytes")
            if not isinstance(data, dict):
                raise ValidationFailed("the payload must be an object")
            return ok(await fn(self, sid, state, data))
        except AppError as exc:
            return failure(exc)
        except (TypeError, orjson.JSONEncodeError):
            return failure(ValidationFailed("the payload must be JSON"))
        except Exception:
            log.exception("realtime_event_failed", namespace=self.namespace, event=fn.__name__)
            return failure(AppError())

    return handler


def stream_id_of(data: dict[str, Any]) -> ObjectId:
    value = data.get("streamId")
    if not isinstance(value, str) or not ObjectId.is_valid(value) or len(value) != 24:
        raise ValidationFailed("streamId must be a 24-character hex id")
    return ObjectId(value)


class BaseNamespace(socketio.AsyncNamespace):
    def __init__(self, namespace: str, rt: "Realtime") -> None:
        super().__init__(namespace)
        self.rt = rt
        self.sockets: dict[str, SocketState] = {}

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            user = await self.rt.authenticate(environ, auth)
        except AppError as exc:
            body = failure(exc)
            raise socketio.exceptions.ConnectionRefusedError(
                body["message"], {"statusCode": body["statusCode"], "message": body["message"]}
            ) from None
        self.sockets[sid] = SocketState(user, SocketLimiter(self.rt.limits))

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        state = self.sockets.pop(sid, None)
        if state is not None:
            for stream_id, participates in state.streams.items():
                if participates and state.user is not None:
                    self.rt.presence.disconnected(state.user.id, stream_id, self.socket_key(sid))

    def socket_key(self, sid: str) -> str:
        return f"{self.namespace}|{sid}"

    def check_capacity(self, state: SocketState, stream_id: ObjectId) -> None:
        limit = self.rt.limits.max_streams_per_socket
        if stream_id not in state.streams and len(state.streams) >= limit:
            raise TooManyRequests(f"a socket can be in at most {limit} streams at a time")

    async def enter(self, sid: str, state: SocketState, stream_id: ObjectId, participates: bool) -> None:
        state.streams[stream_id] = participates
        await self.enter_room(sid, stream_room(stream_id))
        if state.user is not None:
            await self.enter_room(sid, member_room(stream_id, state.user.id))

    async def exit(self, sid: str, state: SocketState, stream_id: ObjectId) -> bool:
        """Leave the stream's rooms; True when the socket held a participation in it."""
        participates = state.streams.pop(stream_id, False)
        await self.leave_room(sid, stream_room(stream_id))
        if state.user is not None:
            await self.leave_room(sid, member_room(stream_id, state.user.id))
        return participates

    async def kicked(self, sid: str, stream_id: ObjectId) -> None:
        """A BLOCK ban (room command from any replica): out of the stream's rooms, participation forgotten."""
        state = self.sockets.get(sid)
        if state is not None and stream_id in state.streams:
            await self.exit(sid, state, stream_id)
            if state.user is not None:
                self.rt.presence.forget(state.user.id, stream_id)


class StatusNamespace(BaseNamespace):
    """`/live-stream-status`: `subscribe` / `unsubscribe`; receives `liveStreamStatus`, `recordingReady`."""

    def __init__(self, rt: "Realtime") -> None:
        super().__init__(STATUS_NS, rt)

    @client_event
    async def on_subscribe(self, sid: str, state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        stream_id = stream_id_of(data)
        self.check_capacity(state, stream_id)
        stream = await self.rt.stream_or_404(stream_id)
        await self.enter(sid, state, stream_id, participates=False)
        return status_payload(stream)

    @client_event
    async def on_unsubscribe(self, sid: str, state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        stream_id = stream_id_of(data)
        await self.exit(sid, state, stream_id)
        return {"streamId": stream_id}


class StreamNamespace(BaseNamespace):
    """`joinStream` / `leaveStream`, shared by `/live-stream` and `/stream-chat`."""

    @client_event
    async def on_joinStream(self, sid: str, state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        stream_id = stream_id_of(data)
        self.check_capacity(state, stream_id)
        result, participates = await self.rt.join(state.user, stream_id)
        if participates and state.user is not None:
            self.rt.presence.hold(state.user.id, stream_id, self.socket_key(sid))
        await self.enter(sid, state, stream_id, participates)
        if await self.rt.blocked_meanwhile(state.user, stream_id):  # docs/community.md: bans vs joins
            await self.kicked(sid, stream_id)
            raise Forbidden(BANNED)
        result["viewerCount"] = await self.rt.viewer_count(stream_id)
        return result

    @client_event
    async def on_leaveStream(self, sid: str, state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        stream_id = stream_id_of(data)
        if stream_id not in state.streams:
            raise Conflict("you are not in this stream")
        participates = await self.exit(sid, state, stream_id)
        left = None
        if participates and state.user is not None:
            left = await self.rt.presence.leave(state.user.id, stream_id, self.socket_key(sid))
        return left or {"streamId": stream_id, "leftAt": None, "watchTimeSeconds": None}


class LiveStreamNamespace(StreamNamespace):
    """`/live-stream`: presence; receives `viewerCount`."""

    def __init__(self, rt: "Realtime") -> None:
        super().__init__(LIVE_NS, rt)


class ChatNamespace(StreamNamespace):
    """`/stream-chat`: presence plus `sendMessage`; receives `chatMessage`, `superlike`, `banned`."""

    def __init__(self, rt: "Realtime") -> None:
        super().__init__(CHAT_NS, rt)

    @client_event
    async def on_sendMessage(self, sid: str, state: SocketState, data: dict[str, Any]) -> Any:
        if state.user is None:
            raise NotAuthenticated("sign in to chat")
        if "streamId" in data:
            stream_id = stream_id_of(data)
        elif len(state.streams) == 1:
            stream_id = next(iter(state.streams))
        else:
            raise ValidationFailed("streamId is required when the socket is in several streams")
        if stream_id not in state.streams:
            raise Conflict("join the stream before sending messages")
        content = data.get("content")
        if not isinstance(content, str):
            raise ValidationFailed("content must be a string")
        return await self.rt.post_message(stream_id, state.user, content)


def status_payload(stream: LiveStreamDocument) -> dict[str, Any]:
    return {
        "streamId": stream["_id"],
        "status": stream["status"],
        "startedAt": stream.get("startedAt"),
        "endedAt": stream.get("endedAt"),
        "updatedAt": stream.get("updatedAt"),
        "deletedAt": stream.get("deletedAt"),
    }
