"""The three namespaces. Every client event answers an ack (`acks.py`) and passes the socket's limits.

Handlers are thin like routers: parse the payload, call the service REST calls, manage rooms.
"""

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import socketio
import structlog
from bson import ObjectId

from app.bans.service import BANNED
from app.core.errors import (
    AppError,
    Conflict,
    ErrorCode,
    Forbidden,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ValidationFailed,
)
from app.core.security import AuthenticatedUser
from app.live_streams.documents import LiveStreamDocument
from app.realtime.acks import TOKEN_EXPIRED, TokenExpired, failure, ok
from app.realtime.limits import SocketLimiter
from app.realtime.metrics import DISCONNECTED, REFUSED
from app.realtime.rooms import CHAT_NS, LIVE_NS, STATUS_NS, member_room, stream_room

if TYPE_CHECKING:
    from app.realtime.server import Realtime

log = structlog.get_logger("app.realtime")


@dataclass
class SocketState:
    user: AuthenticatedUser | None
    limiter: SocketLimiter
    expires_at: float | None = None  # the token's `exp` (POSIX seconds); None for anonymous sockets
    streams: dict[ObjectId, bool] = field(default_factory=dict)  # stream → holds a participation
    reserved: set[ObjectId] = field(default_factory=set)  # joins/subscribes under way (see `slot`)
    expiry: asyncio.TimerHandle | None = None
    closing: bool = False  # a forced disconnect is on its way

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now  # PyJWT's rule: expired at `exp`


JOIN_FIRST = "join the stream first (joinStream), then send messages"

Handler = Callable[[Any, str, SocketState, dict[str, Any]], Awaitable[Any]]


def payload_depth_exceeds(value: Any, limit: int) -> bool:
    """True when `value` nests lists/objects deeper than `limit` (iterative: no recursion to exhaust)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def client_event(fn: Handler) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Token expiry, rate limit, payload depth, size and shape, then the handler; its result or error
    becomes the ack. Payloads no client of ours sends (too deep, too big, not JSON) count as strikes."""

    @functools.wraps(fn)
    async def handler(self: "BaseNamespace", sid: str, *args: Any) -> dict[str, Any]:
        state = self.sockets.get(sid)
        if state is None:
            return failure(NotAuthenticated())
        if state.expired(self.rt.wall()):
            REFUSED.labels("token_expired").inc()
            self.rt.spawn(self.expire(sid))  # after this ack is on its way
            return failure(TokenExpired())
        limits = self.rt.limits
        if not state.limiter.allow():
            REFUSED.labels("rate").inc()
            self.drop_if_abusive(sid, state)
            return failure(RateLimited(f"at most {limits.events_per_second:g} events per second"))
        try:
            if len(args) > 1:
                raise ValidationFailed("send one payload object")
            data = args[0] if args else {}
            if payload_depth_exceeds(data, limits.max_payload_depth):
                self.refuse(sid, state, "too_deep")
                raise ValidationFailed(f"the payload nests at most {limits.max_payload_depth} levels")
            try:
                size = len(orjson.dumps(data))
            except (TypeError, orjson.JSONEncodeError):  # e.g. a lone surrogate
                self.refuse(sid, state, "not_json")
                raise ValidationFailed("the payload must be valid JSON text (no lone surrogates)") from None
            if size > limits.max_event_bytes:
                self.refuse(sid, state, "oversized")
                raise PayloadTooLarge(f"an event payload is at most {limits.max_event_bytes} bytes")
            if not isinstance(data, dict):
                raise ValidationFailed("the payload must be an object")
            return ok(await fn(self, sid, state, data))
        except AppError as exc:
            return failure(exc)
        except Exception:
            log.exception("realtime_event_failed", namespace=self.namespace, handler=fn.__name__)
            return failure(AppError())

    handler.is_client_event = True  # type: ignore[attr-defined]
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

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Connect, disconnect and the client events; any other event name is refused and counted."""
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        if getattr(getattr(self, f"on_{event}", None), "is_client_event", False):
            return await super().trigger_event(event, *args)
        sid = args[0]
        state = self.sockets.get(sid)
        if state is None:
            return failure(NotAuthenticated())
        if not state.limiter.allow():  # spends a token like any event
            REFUSED.labels("rate").inc()
            self.drop_if_abusive(sid, state)
            return failure(RateLimited(f"at most {self.rt.limits.events_per_second:g} events per second"))
        self.refuse(sid, state, "unknown_event")
        return failure(NotFound("unknown event"))

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            user, expires_at = await self.rt.authenticate(environ, auth)
        except AppError as exc:
            body = failure(exc)
            raise socketio.exceptions.ConnectionRefusedError(
                body["message"],
                {"statusCode": body["statusCode"], "message": body["message"], "code": body["code"]},
            ) from None
        state = SocketState(user, SocketLimiter(self.rt.limits), expires_at)
        self.sockets[sid] = state
        if expires_at is not None:
            delay = max(0.0, expires_at - self.rt.wall())
            state.expiry = asyncio.get_running_loop().call_later(
                delay, lambda: self.rt.spawn(self.expire(sid))
            )

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        state = self.sockets.pop(sid, None)
        if state is not None:
            if state.expiry is not None:
                state.expiry.cancel()
            for stream_id, participates in state.streams.items():
                if participates and state.user is not None:
                    self.rt.presence.disconnected(state.user.id, stream_id, self.socket_key(sid))

    def socket_key(self, sid: str) -> str:
        return f"{self.namespace}|{sid}"

    # --- forced disconnects -------------------------------------------------------------------------

    def refuse(self, sid: str, state: SocketState, reason: str) -> None:
        """A payload no client of ours sends: a strike; too many and the socket is dropped."""
        REFUSED.labels(reason).inc()
        state.limiter.strike()
        self.drop_if_abusive(sid, state)

    def drop_if_abusive(self, sid: str, state: SocketState) -> None:
        if state.limiter.abusive and not state.closing:
            state.closing = True
            DISCONNECTED.labels("abuse").inc()
            log.warning("realtime_socket_dropped", namespace=self.namespace, reason="abuse")
            self.rt.spawn(self.disconnect(sid))  # after this ack is on its way

    async def expire(self, sid: str) -> None:
        """The socket's token expired: `tokenExpired` (docs/realtime.md), then disconnect."""
        state = self.sockets.get(sid)
        if state is None or state.closing:
            return
        state.closing = True
        DISCONNECTED.labels("token_expired").inc()
        await self.emit("tokenExpired", TOKEN_EXPIRED, to=sid)
        await self.disconnect(sid)

    # --- rooms --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def slot(self, state: SocketState, stream_id: ObjectId) -> Iterator[None]:
        """Hold one of the socket's `max_streams_per_socket` places for `stream_id` while the join or
        subscribe awaits: checked and taken in one step (no await between), so concurrent events on
        one socket cannot all pass the check. The place becomes the stream's entry on success (`enter`)
        and is given back on failure."""
        if stream_id in state.streams or stream_id in state.reserved:
            yield  # already counted
            return
        limit = self.rt.limits.max_streams_per_socket
        if len(state.streams) + len(state.reserved) >= limit:
            raise RateLimited(f"a socket can be in at most {limit} streams at a time")
        state.reserved.add(stream_id)
        try:
            yield
        finally:
            state.reserved.discard(stream_id)

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
        with self.slot(state, stream_id):
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
        with self.slot(state, stream_id):
            result, participates = await self.rt.join(state.user, stream_id)
            if participates and state.user is not None:
                self.rt.presence.hold(state.user.id, stream_id, self.socket_key(sid))
            await self.enter(sid, state, stream_id, participates)
        if await self.rt.blocked_meanwhile(state.user, stream_id):  # docs/community.md: bans vs joins
            await self.kicked(sid, stream_id)  # gives the place back
            raise Forbidden(BANNED, code=ErrorCode.BANNED)
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
            raise NotAuthenticated("sign in to chat", code=ErrorCode.TOKEN_MISSING)
        if "streamId" in data:
            stream_id = stream_id_of(data)
        elif len(state.streams) == 1:
            stream_id = next(iter(state.streams))
        elif not state.streams:
            raise Conflict(JOIN_FIRST)
        else:
            raise ValidationFailed("streamId is required when the socket is in several streams")
        if stream_id not in state.streams:
            raise Conflict(JOIN_FIRST)
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
