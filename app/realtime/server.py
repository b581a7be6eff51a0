"""`Realtime`: the Socket.IO server of one app, its namespaces, and the bridge from the event hub.

Mounted by `app.main` at `/socket.io` on the API's port. Domain events (`app.core.events`) are queued
as they are emitted and sent by one task in order, so a REST request never waits on a socket and two
changes of a stream reach clients in the order they happened. With `REDIS_URL` the Socket.IO manager
is python-socketio's `AsyncRedisManager`: an event emitted on any replica reaches sockets on all.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
import socketio
import structlog
from bson import ObjectId
from fastapi import FastAPI

from app.agora.tokens import AgoraRole
from app.bans.service import BANNED, active_ban, refuses_join
from app.chat.service import ChatService
from app.core import events
from app.core.config import Settings
from app.core.cors import socketio_origins
from app.core.dependencies import shared_instance
from app.core.errors import Conflict, ErrorCode, Forbidden, NotAuthenticated
from app.core.security import AuthenticatedUser, decode_token
from app.core.timeutils import utcnow
from app.live_streams.audience import AudienceService, token_fields
from app.live_streams.dependencies import audience_of, presenter_of
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.participant_repository import ParticipantRepository
from app.live_streams.presenter import LiveStreamPresenter
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import JoinIn, LiveStreamStatus
from app.realtime.acks import wire
from app.realtime.contract import SERVER_EVENTS
from app.realtime.guard import GuardedServer
from app.realtime.limits import RealtimeLimits
from app.realtime.manager import ROOM_COMMAND, RedisHealth, build_manager
from app.realtime.metrics import DROPPED
from app.realtime.namespaces import (
    BaseNamespace,
    ChatNamespace,
    LiveStreamNamespace,
    StatusNamespace,
    status_payload,
)
from app.realtime.presence import Presence, ViewerCounts, local_gate
from app.realtime.rooms import CHAT_NS, LIVE_NS, STATUS_NS, member_room, stream_room
from app.replays.repository import ReplayRentalRepository, rental_is_active
from app.users.auth import caller_of

log = structlog.get_logger("app.realtime")

PUBLISH = "realtime.publish"  # `app.realtime.events.publish`: {event, room, payload, namespace}
QUEUE_SIZE = 10_000  # domain events waiting to be sent; beyond, new ones are dropped (and logged)


class Realtime:
    def __init__(self, app: FastAPI, settings: Settings, limits: RealtimeLimits | None = None) -> None:
        self.app = app
        self.settings = settings
        self.limits = limits or RealtimeLimits()
        self.wall: Callable[[], float] = time.time  # token expiry is POSIX time (tests may pin it)
        self.redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
        self.manager = build_manager(self.redis_url)
        self.manager.on_room_command = self._on_room_command
        self.sio = GuardedServer(
            self.limits,
            async_mode="asgi",
            client_manager=self.manager,
            # REST's origins (CORS_ALLOW_ORIGINS) and the page's own; auth is a token, never a cookie.
            cors_allowed_origins=socketio_origins(settings.cors_policy),
            cors_credentials=False,
            max_http_buffer_size=self.limits.max_packet_bytes,
            logger=False,
            engineio_logger=False,
        )
        self.asgi = socketio.ASGIApp(self.sio, socketio_path="socket.io")
        self.namespaces: dict[str, BaseNamespace] = {
            STATUS_NS: StatusNamespace(self),
            LIVE_NS: LiveStreamNamespace(self),
            CHAT_NS: ChatNamespace(self),
        }
        for namespace in self.namespaces.values():
            self.sio.register_namespace(namespace)
        self.presence = Presence(settings.realtime_presence_grace_seconds, self._close_participation)
        self.viewer_counts = ViewerCounts(
            self.viewer_count,
            self._emit_viewer_count,
            interval=settings.realtime_viewer_count_interval_seconds,
            gate=local_gate,
        )
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pump: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._redis: Any = None
        self._dropping = False
        self.redis_health: RedisHealth = getattr(self.manager, "health", None) or RedisHealth()

    # --- lifecycle (app lifespan) -------------------------------------------------------------------

    async def start(self) -> None:
        self._queue = asyncio.Queue(QUEUE_SIZE)
        for name in (
            events.STREAM_STATUS_CHANGED,
            events.STREAM_RECORDING_READY,
            events.STREAM_AUDIENCE_CHANGED,
            events.STREAM_CHAT_MESSAGE,
            events.STREAM_SUPERLIKE,
            events.STREAM_USER_BANNED,
            PUBLISH,
        ):
            self._unsubscribe.append(events.subscribe(name, self._enqueuer(name)))
        if self.redis_url:
            self._redis = aioredis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=2)
            self.viewer_counts.gate = self._redis_gate
        self._pump = asyncio.create_task(self._run_pump())

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        await self.presence.aclose()
        await self.viewer_counts.aclose()
        for task in [self._pump, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._pump = None
        manager_task = getattr(self.manager, "thread", None)  # the Redis manager's listener
        if manager_task is not None:
            manager_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await manager_task
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- services (the same ones REST uses) ---------------------------------------------------------

    @property
    def db(self) -> Any:
        return self.app.state.db

    def presenter(self) -> LiveStreamPresenter:
        return presenter_of(self.app.state)

    def audience(self) -> AudienceService:
        return shared_instance(self.app.state, audience_of)

    async def authenticate(
        self, environ: dict[str, Any], auth: Any
    ) -> tuple[AuthenticatedUser | None, float | None]:
        """The handshake's `auth.token` (or `Authorization: Bearer`), checked like REST, and the token's
        expiry (POSIX seconds); (None, None) = anonymous."""
        token: Any = None
        if isinstance(auth, dict) and auth.get("token") is not None:
            token = auth["token"]
            if not isinstance(token, str):
                raise NotAuthenticated()
            if token[:7].lower() == "bearer ":
                token = token[7:]
        elif header := environ.get("HTTP_AUTHORIZATION"):
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token or "," in header:  # "," = several headers
                raise NotAuthenticated()
        if token is None:
            return None, None
        token = token.strip()
        user = await caller_of(self.db, self.settings, token)
        return user, decode_token(self.settings, token)[1]

    async def stream_or_404(self, stream_id: ObjectId) -> LiveStreamDocument:
        return await LiveStreamRepository(self.db).get_or_404(stream_id)

    async def viewer_count(self, stream_id: ObjectId) -> int:
        return await ParticipantRepository(self.db).count_present(stream_id)

    async def join(self, user: AuthenticatedUser | None, stream_id: ObjectId) -> tuple[dict[str, Any], bool]:
        """(ack data, whether the socket holds a participation). Signed-in viewers: REST join (or the
        resumption of their open participation); anonymous sockets and the stream's own creator and
        guests listen without one."""
        audience = self.audience()
        stream = await audience.streams.get_or_404(stream_id)
        if stream["status"] != LiveStreamStatus.active:
            raise Conflict(
                f"the stream is {stream['status']} and cannot be joined", code=ErrorCode.INVALID_STREAM_STATE
            )
        if user is None or user.id == stream["creatorId"] or user.id in stream.get("guestIds", []):
            return {"liveStream": await audience.presenter.one(stream, user)}, False
        if not self.presence.is_open(user.id, stream_id):
            joined = await audience.join(JoinIn(liveStreamId=stream_id), user)
            self.viewer_counts.mark(stream_id)
            return {**joined, "resumed": False}, True
        # Another socket of the user holds the participation, or a reconnect within the grace period:
        # the same participation goes on (a BLOCK ban meanwhile still refuses); a fresh Agora token.
        if refuses_join(await active_ban(self.db, stream_id, user.id)):
            raise Forbidden(BANNED, code=ErrorCode.BANNED)
        token = audience.tokens.issue(stream["channelName"], user.id, AgoraRole.subscriber)
        data = {"liveStream": await audience.presenter.one(stream, user), **token_fields(token)}
        return {**data, "resumed": True}, True

    async def blocked_meanwhile(self, user: AuthenticatedUser | None, stream_id: ObjectId) -> bool:
        """Asked once a joining socket is in the stream's rooms: a BLOCK ban that landed during the
        join closes the participation here (its kick may have found the socket not in the rooms yet).
        A ban landing after this read finds the socket in the rooms and kicks it itself."""
        if user is None or not refuses_join(await active_ban(self.db, stream_id, user.id)):
            return False
        await ParticipantRepository(self.db).record_leave(stream_id, user.id)
        self.viewer_counts.mark(stream_id)
        return True

    async def _close_participation(self, stream_id: ObjectId, user_id: ObjectId) -> Any:
        left = await self.audience().leave(stream_id, AuthenticatedUser(id=user_id, doc={}))
        self.viewer_counts.mark(stream_id)
        return left

    async def post_message(
        self, stream_id: ObjectId, user: AuthenticatedUser, content: str
    ) -> dict[str, Any]:
        """`sendMessage`: the REST chat rules (content, bans, active stream, rate limit)."""
        return await ChatService(self.db, on_message=self.on_chat_message).post_message(
            stream_id, user, content
        )

    async def on_chat_message(self, message: dict[str, Any]) -> None:
        """The chat service's publish hook (REST and socket posts alike): broadcast as `chatMessage`."""
        events.emit(events.STREAM_CHAT_MESSAGE, message)

    async def entitled_to_recording(self, stream: LiveStreamDocument) -> set[ObjectId]:
        """Who may watch the recording: creator, guests, broadcasters and active renters."""
        users = {stream["creatorId"], *stream.get("guestIds", [])}
        users |= {b["user"] for b in stream.get("broadcasters", [])}
        now = utcnow()
        rentals = await ReplayRentalRepository(self.db).open_of_stream(stream["_id"])
        users |= {r["userId"] for r in rentals if rental_is_active(r, now)}
        return users

    # --- outgoing: hub → queue → sockets ------------------------------------------------------------

    def _enqueuer(self, name: str) -> Callable[[Any], None]:
        def enqueue(payload: Any) -> None:
            try:
                self._queue.put_nowait((name, payload))
            except asyncio.QueueFull:
                DROPPED.labels(name).inc()
                if not self._dropping:  # one line per overflow, not one per event
                    self._dropping = True
                    log.warning("realtime_event_dropped", hub_event=name, queued=QUEUE_SIZE)
            else:
                self._dropping = False

        return enqueue

    async def _run_pump(self) -> None:
        while True:
            name, payload = await self._queue.get()
            try:
                await self._dispatch(name, payload)
            except Exception:
                log.exception("realtime_dispatch_failed", hub_event=name)

    async def _dispatch(self, name: str, payload: Any) -> None:
        if name == events.STREAM_STATUS_CHANGED:
            stream_id = payload["_id"]
            await self.emit("liveStreamStatus", status_payload(payload), stream_room(stream_id), STATUS_NS)
            if payload["status"] != LiveStreamStatus.active:
                self.viewer_counts.mark(stream_id)  # an end closes every participation
        elif name == events.STREAM_RECORDING_READY:
            rooms = [member_room(payload["_id"], user) for user in await self.entitled_to_recording(payload)]
            body = {"streamId": payload["_id"], "recordingUrl": payload.get("recordingUrl")}
            await self.emit("recordingReady", body, rooms, STATUS_NS)
        elif name == events.STREAM_AUDIENCE_CHANGED:
            self.viewer_counts.mark(payload["streamId"])
        elif name == events.STREAM_CHAT_MESSAGE:
            await self.emit("chatMessage", payload, stream_room(payload["streamId"]), CHAT_NS)
        elif name == events.STREAM_SUPERLIKE:
            await self.emit("superlike", payload, stream_room(payload["streamId"]), CHAT_NS)
        elif name == events.STREAM_USER_BANNED:
            await self._banned(payload)
        elif name == PUBLISH:  # any event, by design (app.realtime.events.publish)
            body = wire(payload["payload"])
            await self.sio.emit(payload["event"], body, to=payload["room"], namespace=payload["namespace"])

    async def emit(self, event: str, payload: Any, room: str | list[str], namespace: str) -> None:
        """Send a server event the contract declares for the namespace (app/realtime/contract.py)."""
        if event not in SERVER_EVENTS[namespace]:
            raise ValueError(f"{event!r} is not a declared server event of {namespace}")
        await self.sio.emit(event, wire(payload), to=room, namespace=namespace)

    async def _emit_viewer_count(self, stream_id: ObjectId, count: int) -> None:
        await self.emit(
            "viewerCount", {"streamId": stream_id, "viewerCount": count}, stream_room(stream_id), LIVE_NS
        )

    async def _banned(self, ban: dict[str, Any]) -> None:
        stream_id, user_id, action = ban["streamId"], ban["userId"], ban["actionType"]
        room = member_room(stream_id, user_id)
        for namespace in (CHAT_NS, LIVE_NS):
            await self.emit("banned", {"streamId": stream_id, "actionType": action}, room, namespace)
        if action == "BLOCK":
            for namespace in (CHAT_NS, LIVE_NS):
                await self.sio.emit(ROOM_COMMAND, {"kick": str(stream_id)}, to=room, namespace=namespace)
        self.viewer_counts.mark(stream_id)

    async def _on_room_command(self, namespace: str, sids: list[str], command: dict[str, Any]) -> None:
        """Runs on every replica with its own sockets in the room (see `manager.py`)."""
        handler = self.namespaces.get(namespace)
        if handler is None or "kick" not in command:
            return
        for sid in sids:
            await handler.kicked(sid, ObjectId(command["kick"]))

    async def _redis_gate(self, stream_id: ObjectId, interval: float) -> float:
        """0 when this replica takes the stream's next `viewerCount` slot, else seconds to wait.
        Redis down: 0 (each replica then keeps its own once-per-interval pace)."""
        key = f"allmine:viewerCount:{stream_id}"
        try:
            if await self._redis.set(key, b"1", nx=True, px=max(1, int(interval * 1000))):
                return 0.0
            remaining_ms: int = await self._redis.pttl(key)
        except Exception as exc:  # redis-py's errors and OSError subclasses
            self.redis_health.failed("viewer_count_gate", exc)
            return 0.0
        return max(remaining_ms, 1) / 1000
