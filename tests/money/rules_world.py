"""The harness beyond money (issue 26): the operations whose rules must hold under races and crashes -
mini crowd-funding creates, bans, REST and Socket.IO joins - called through the services like
`world.py`'s, and the invariants they keep.

Socket.IO at the service level: one `Realtime` (the app's, without a server) per schedule, built on first
use; a "socket" is a session registered with its manager and its namespace's state, so `joinStream` runs
the real handler and rooms are the manager's real rooms. A ban's `stream.user_banned` event is delivered
right after the ban returns (the earliest a replica's pump can): the adversarial order for a join whose
socket is not in the rooms yet.
"""

from datetime import timedelta
from typing import Any

from bson import ObjectId
from fastapi import FastAPI

from app import flows
from app.agora.tokens import AgoraTokenIssuer
from app.bans.schemas import BanAction, BanIn
from app.bans.service import BanService
from app.core import events
from app.core.errors import AppError
from app.live_streams.audience import AudienceService
from app.live_streams.mini_crowd_fundings import MAX_OPEN_PER_STREAM, MiniCrowdFundingService
from app.live_streams.schemas import JoinIn
from app.realtime.limits import SocketLimiter
from app.realtime.namespaces import SocketState
from app.realtime.rooms import CHAT_NS, member_room, stream_room
from app.realtime.server import Realtime
from tests.money import invariants
from tests.money.harness import RECOVERY_PHASES, recover
from tests.money.world import SETTINGS, Ctx, add_stream, add_user, presenter, start


async def live_stream_setup(db: Any, *, price: int | None = None, viewer_joined: bool = False) -> Ctx:
    """A started solo stream (a paid one with `price`), a viewer with 100 credits."""
    ctx = Ctx()
    await add_user(db, ctx, "host")
    await add_user(db, ctx, "viewer", credits=100)
    await add_stream(db, ctx, goal=None, scheduled=False, price=price)
    await start(db, ctx)
    if viewer_joined:
        await rest_join(db, ctx, "viewer")
        ctx.extra["viewer_paid_before"] = bool(price)
    return ctx


# --- mini crowd-fundings -------------------------------------------------------------------------------


async def create_mini(db: Any, ctx: Ctx, title: str = "one more goal") -> str:
    """POST /{id}/mini-crowd-fundings; "refused" when the stream's slots are all taken."""
    assert ctx.stream is not None
    service = MiniCrowdFundingService(db)
    try:
        await service.create(ctx.stream, ctx.id("host"), title, 100, 30)
    except AppError as exc:
        if "at most" not in str(exc.detail):
            raise
        return "refused"
    return "created"


async def creates(db: Any, ctx: Ctx, n: int) -> list[str]:
    return [await create_mini(db, ctx, f"goal {i}") for i in range(n)]


async def check_open_minis(db: Any, ctx: Ctx) -> None:
    """≤ 3 open per stream, each holding its own slot; the money invariants."""
    await invariants.check_all(db, ctx)
    open_ones = await db["mini_crowd_fundings"].find({"liveStreamId": ctx.stream, "status": "open"}).to_list()
    slots = [doc.get("openSlot") for doc in open_ones]
    assert len(open_ones) <= MAX_OPEN_PER_STREAM, f"{len(open_ones)} open mini crowd-fundings"
    assert None not in slots and len(set(slots)) == len(slots), f"open ones hold slots {slots}"
    held = await db["mini_crowd_fundings"].count_documents(
        {"liveStreamId": ctx.stream, "openSlot": {"$exists": True}}
    )
    assert held == len(open_ones), f"{held} slots held by {len(open_ones)} open ones"


# --- bans and joins -------------------------------------------------------------------------------------


async def rest_join(db: Any, ctx: Ctx, role: str = "viewer") -> dict[str, Any]:
    """POST /join as the app wires it: with the join hooks (bans, audience peaks) that `world.join`
    leaves out."""
    assert ctx.stream is not None
    audience = AudienceService(
        db, AgoraTokenIssuer(SETTINGS), presenter(db), flows.viewer_log(db), flows.join_hooks(db)
    )
    return await audience.join(JoinIn(liveStreamId=ctx.stream, deviceType="iOS"), ctx.caller(role))


async def ban(db: Any, ctx: Ctx, action: BanAction = BanAction.block) -> dict[str, Any]:
    """POST /live-stream-ban by the host, its `stream.user_banned` event delivered to the sockets."""
    assert ctx.stream is not None
    body = BanIn(targetUserId=ctx.id("viewer"), liveStreamId=ctx.stream, actionType=action, reason=None)
    emitted: list[Any] = []
    unsubscribe = events.hub.subscribe(events.STREAM_USER_BANNED, emitted.append)
    try:
        result, _ = await BanService(db).create(body, ctx.caller("host"))
    finally:
        unsubscribe()
    sockets = ctx.extra.get("sockets")
    for payload in emitted:
        if sockets is not None:
            await sockets.deliver(events.STREAM_USER_BANNED, payload)
    return result


class Sockets:
    """The app's Socket.IO layer of one schedule, and one `/stream-chat` socket of the viewer."""

    def __init__(self) -> None:
        app = FastAPI()
        state = app.state
        state.settings, state.shared_services, state.agora = SETTINGS, {}, AgoraTokenIssuer(SETTINGS)
        state.make_presenter, state.make_viewer_log = flows.stream_presenter, flows.viewer_log
        state.make_join_hooks, state.db = flows.join_hooks, None
        self.app = app
        self.rt = Realtime(app, SETTINGS)
        self.rt.viewer_counts.mark = lambda stream_id: None  # type: ignore[method-assign]  # not the rule
        self.ns = self.rt.namespaces[CHAT_NS]
        self.sid: str | None = None

    async def connect(self, ctx: Ctx) -> str:
        if self.sid is None:
            self.sid = await self.rt.manager.connect(f"eio-{ObjectId()}", CHAT_NS)
            self.ns.sockets[self.sid] = SocketState(ctx.caller("viewer"), SocketLimiter(self.rt.limits))
        return self.sid

    async def deliver(self, name: str, payload: Any) -> None:
        await self.rt._dispatch(name, payload)

    def in_rooms(self, stream_id: ObjectId, user_id: ObjectId) -> list[str]:
        """The stream's rooms (and the socket state) that still hold the socket."""
        if self.sid is None:
            return []
        rooms = [
            room
            for room in (stream_room(stream_id), member_room(stream_id, user_id))
            if self.sid in {sid for sid, _ in self.rt.manager.get_participants(CHAT_NS, room)}
        ]
        state = self.ns.sockets.get(self.sid)
        if state is not None and stream_id in state.streams:
            rooms.append("socket state")
        if self.rt.presence.is_open(user_id, stream_id):
            rooms.append("presence")
        return rooms


def sockets_of(ctx: Ctx) -> Sockets:
    if "sockets" not in ctx.extra:
        ctx.extra["sockets"] = Sockets()
    sockets: Sockets = ctx.extra["sockets"]
    return sockets


async def socket_join(db: Any, ctx: Ctx) -> dict[str, Any]:
    """`joinStream` on the viewer's `/stream-chat` socket; the ack (an error ack is an answer too)."""
    sockets = sockets_of(ctx)
    sockets.app.state.db = db
    sid = await sockets.connect(ctx)
    ack: dict[str, Any] = await sockets.ns.on_joinStream(sid, {"streamId": str(ctx.stream)})
    return ack


async def recover_after_checking(db: Any, ctx: Ctx, after: timedelta) -> None:
    """Without a crash the ban rule holds as soon as both finished, before any recovery pass (the
    check asserts what is seen here); then the app's recovery as usual."""
    if after == RECOVERY_PHASES[0][1] and ctx.outcome.flow != "crashed":
        ctx.extra["before recovery"] = await blocked_presence(db, ctx)
    await recover(db, after)


async def check_no_blocked_presence(db: Any, ctx: Ctx) -> None:
    """Once both finished: a BLOCK-banned user holds no present participation, no room, no presence; a
    join refused with 403 charged nothing; the money invariants."""
    await invariants.check_all(db, ctx)
    early = ctx.extra.get("before recovery")
    assert not early, f"before any recovery pass: {early}"
    late = await blocked_presence(db, ctx)
    assert not late, late
    viewer = ctx.id("viewer")
    # A REST join refused with 403 charged nothing. (A socket join whose REST join went through and was
    # then overtaken by the ban answers 403 too, having paid: joined, then banned - like a ban after it.)
    refused = "Forbidden" in (ctx.outcome.flow, ctx.outcome.competitor)
    if refused and not ctx.extra.get("viewer_paid_before"):
        entries = await db["stream_entries"].count_documents({"userId": viewer, "status": "completed"})
        credits = (await db["users"].find_one({"_id": viewer}))["credits"]
        assert (entries, credits) == (0, 100), f"a refused join left {entries} entries, {credits} credits"


async def blocked_presence(db: Any, ctx: Ctx) -> list[str]:
    """What a BLOCK-banned viewer still holds in the stream: a present participation, rooms, presence."""
    viewer = ctx.id("viewer")
    blocked = await db["live_stream_bans"].find_one(
        {"liveStreamId": ctx.stream, "targetUserId": viewer, "isActive": True, "actionType": "BLOCK"}
    )
    if blocked is None:
        return []
    held = []
    if await db["participants"].count_documents(
        {"liveStreamId": ctx.stream, "userId": viewer, "isPresent": True}
    ):
        held.append("a present participation")
    sockets = ctx.extra.get("sockets")
    if sockets is not None and ctx.outcome.flow != "crashed":  # a crash takes its sockets with it
        held += sockets.in_rooms(ctx.stream, viewer)
    return [f"the blocked viewer still holds {', '.join(held)}"] if held else []
