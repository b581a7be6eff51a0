"""Minimal set-ups and the app's money operations, called through the services (not HTTP) so that a
schedule costs milliseconds. Set-ups run on the raw database; flows get the stepped one."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from bson import ObjectId

from app import flows
from app.agora.tokens import AgoraTokenIssuer
from app.core.errors import AppError
from app.core.security import AuthenticatedUser, create_access_token
from app.core.timeutils import utcnow
from app.live_streams.audience import AudienceService
from app.live_streams.follow_ups import FollowUpRunner
from app.live_streams.funding import FundingService
from app.live_streams.lifecycle import StreamLifecycle
from app.live_streams.mini_crowd_fundings import MiniCrowdFundingService
from app.live_streams.presenter import LiveStreamPresenter
from app.live_streams.reconcile import Reconciler
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import JoinIn, LiveStreamType
from app.live_streams.service import LiveStreamService, NewLiveStream
from app.replays.repository import ReplayRentalRepository
from app.replays.service import ReplayService
from app.replays.settlement import RentalSettlement
from app.superlikes.service import SuperlikeService
from app.users.credits import CreditLedger, Direction, TxType
from app.users.repository import UserRepository
from tests.conftest import make_settings
from tests.money.harness import Crash, SteppedDatabase, Stepper, aioz_gateway

SETTINGS = make_settings()
RECORDING = "https://cdn.example.com/stream/archive.mp4"


class Ctx:
    """What a set-up made: users by role name, the stream, anything a scenario needs, and the outcome
    of the schedule (set by the harness)."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.stream: ObjectId | None = None
        self.outcome: Any = None
        self.extra: dict[str, Any] = {}

    def id(self, role: str) -> ObjectId:
        return self.users[role]["_id"]

    def caller(self, role: str) -> AuthenticatedUser:
        return AuthenticatedUser(self.users[role]["_id"], self.users[role])


def presenter(db: Any) -> LiveStreamPresenter:
    return flows.stream_presenter(db, SETTINGS)


# --- wiring: the app's composition (app/flows.py) ----------------------------------------------------


def stream_service(db: Any) -> LiveStreamService:
    return LiveStreamService(db, presenter(db), flows.follow_up_runner(db))


def lifecycle(db: Any) -> StreamLifecycle:
    return StreamLifecycle(db, aioz_gateway(db), presenter(db), flows.follow_up_runner(db))


def reconciler(db: Any) -> Reconciler:
    """The reconcile pass as the app wires it (with every recovery step it registers)."""
    return flows.reconciler(db, aioz_gateway(db))


async def add_user(db: Any, ctx: Ctx, role: str, credits: int = 0) -> ObjectId:
    doc = await UserRepository(db).create({"username": f"{role}_{uuid.uuid4().hex[:8]}", "credits": credits})
    ctx.users[role] = doc
    return doc["_id"]


async def add_stream(
    db: Any,
    ctx: Ctx,
    *,
    creator: str = "host",
    guest: str | None = None,
    goal: int | None = 1000,
    scheduled: bool = True,
    price: int | None = None,
) -> ObjectId:
    """A stream created by the service: scheduled 5 h ahead (fundable) or, unscheduled, preparing."""
    kind = LiveStreamType.duocrowd if guest else LiveStreamType.solo
    new = NewLiveStream(
        title="Money harness",
        guests=[str(ctx.id(guest))] if guest else [],
        price=price,
        liveStreamType=kind,
        interest=None,
        durationGoal=60,
        motivation=None,
        plannedStartDate=utcnow() + timedelta(hours=5) if scheduled else None,
        fundingGoal=goal,
        recording=False,
        thumbnailUrl=None,
    )
    created = await stream_service(db).create(ctx.caller(creator), new)
    ctx.stream = ObjectId(created["id"])
    return ctx.stream


async def credits_of(db: Any, ctx: Ctx, role: str) -> int:
    """The balance of `role` as stored (the oracles compute what it should be)."""
    user = await db["users"].find_one({"_id": ctx.id(role)})
    assert user is not None
    return int(user["credits"])


async def stream_doc(db: Any, stream_id: ObjectId) -> dict[str, Any]:
    doc = await db["live_streams"].find_one({"_id": stream_id})
    assert doc is not None
    return doc


async def make_overdue(db: Any, stream_id: ObjectId) -> None:
    """Time passes: the scheduled stream's planned start and end are hours behind us."""
    past = utcnow() - timedelta(hours=3)
    await db["live_streams"].update_one(
        {"_id": stream_id}, {"$set": {"plannedStartDate": past, "plannedEndDate": past + timedelta(hours=1)}}
    )


async def make_rentable(db: Any, stream_id: ObjectId, price: int = 50) -> None:
    """Stand-in for start → end on AIOZ → recording collected → replay settings (as tests/streams.py
    `set_fields` does for the recording): the stream is ended with a recording, rentable at `price`."""
    now = utcnow()
    await db["live_streams"].update_one(
        {"_id": stream_id},
        {
            "$set": {
                "status": "ended",
                "startedAt": now - timedelta(hours=1),
                "endedAt": now - timedelta(minutes=5),
                "recordingUrl": RECORDING,
                "isActiveReplayOnCreatorProfile": True,
                "replayCreditPrice": price,
            }
        },
    )


# --- the operations (flows and competitors) -------------------------------------------------------------


async def fund(db: Any, ctx: Ctx, role: str, amount: int, key: str | None) -> dict[str, Any]:
    """POST /{id}/fund with a minimal presentation of the stream as the answer."""
    service = FundingService(db)
    assert ctx.stream is not None

    async def present(stream: dict[str, Any]) -> dict[str, Any]:
        return {"id": str(stream["_id"]), "collectedFunding": stream.get("collectedFunding")}

    return await service.fund(ctx.stream, ctx.id(role), amount, key, present)


async def cancel(db: Any, ctx: Ctx, role: str = "host") -> Any:
    assert ctx.stream is not None
    return await stream_service(db).cancel(ctx.stream, ctx.caller(role))


async def delete(db: Any, ctx: Ctx) -> Any:
    assert ctx.stream is not None
    return await stream_service(db).delete(ctx.stream, ctx.caller("host"))


async def expire(db: Any, ctx: Ctx) -> int:
    """The reconcile loop's expiry of overdue scheduled streams."""
    return await reconciler(db).expire_overdue(utcnow())


async def overdue_then_expire(db: Any, ctx: Ctx) -> int:
    assert ctx.stream is not None
    await make_overdue(db, ctx.stream)
    return await expire(db, ctx)


async def rent(db: Any, ctx: Ctx, role: str = "renter", key: str | None = "rent-1") -> dict[str, Any]:
    assert ctx.stream is not None
    return await ReplayService(db, presenter(db)).rent(ctx.stream, ctx.caller(role), key, utcnow())


async def settlement_pass(db: Any, ctx: Ctx) -> int:
    """The settlement loop two minutes later: an in-flight rental looks stale to it."""
    return await RentalSettlement(db).run_once(utcnow() + timedelta(minutes=2))


async def end(db: Any, ctx: Ctx) -> dict[str, Any]:
    """POST /{id}/end without the presentation: end, then the best-effort reconcile of the session."""
    assert ctx.stream is not None
    stream = await stream_service(db).get_owned(ctx.stream, ctx.caller("host"))
    ended = await lifecycle(db).end(stream)
    await reconciler(db).reconcile_one(ended)
    return ended


async def join(db: Any, ctx: Ctx, role: str = "viewer") -> dict[str, Any]:
    """POST /join as audience (a paid stream charges its entry on the first join)."""
    assert ctx.stream is not None
    audience = AudienceService(db, AgoraTokenIssuer(SETTINGS), presenter(db), flows.viewer_log(db))
    return await audience.join(JoinIn(liveStreamId=ctx.stream, deviceType="iOS"), ctx.caller(role))


async def superlike(db: Any, ctx: Ctx, role: str = "fan1", key: str | None = "tap-1") -> dict[str, Any]:
    assert ctx.stream is not None
    return await SuperlikeService(db).send(ctx.stream, ctx.id(role), key)


async def open_mini(db: Any, ctx: Ctx, goal: int) -> None:
    assert ctx.stream is not None
    mini = await MiniCrowdFundingService(db).create(ctx.stream, ctx.id("host"), "30 more minutes", goal, 30)
    ctx.extra["mini"] = mini["_id"]


async def fund_mini(db: Any, ctx: Ctx, role: str, amount: int, key: str | None) -> dict[str, Any]:
    assert ctx.stream is not None
    return await MiniCrowdFundingService(db).fund(ctx.stream, ctx.extra["mini"], ctx.id(role), amount, key)


async def start(db: Any, ctx: Ctx, creator: str = "host") -> dict[str, Any]:
    assert ctx.stream is not None
    stream = await stream_doc(db, ctx.stream)
    return await lifecycle(db).start(stream, ctx.caller(creator))


async def apply(
    db: Any, user_id: ObjectId, amount: int, direction: Direction, key: str, type: TxType = TxType.grant
) -> dict[str, Any]:
    return await CreditLedger(db).apply(
        user_id, amount=amount, direction=direction, type=type, idempotency_key=key
    )


async def crash_after(db: Any, operation: Any, collection: str, op: str, occurrence: int = 1) -> None:
    """Run `operation(stepped_db)` and kill it right after its `occurrence`-th `collection.op` step:
    leaves the half-done state a crashed request leaves behind."""
    seen = 0
    stop = False

    async def hook(step: int, coll: str, name: str) -> None:
        nonlocal seen, stop
        if stop:
            raise Crash(f"crash after {collection}.{op}")
        if (coll, name) == (collection, op):
            seen += 1
            stop = seen == occurrence

    try:
        await operation(SteppedDatabase(db, Stepper(hook)))
    except Crash:
        return
    raise AssertionError(f"{collection}.{op} #{occurrence} was never reached")


async def live_solo(db: Any) -> Ctx:
    """A live solo stream, its host, and two fans with credits for exactly one superlike each."""
    ctx = Ctx()
    await add_user(db, ctx, "host")
    await add_user(db, ctx, "fan1", credits=10)
    await add_user(db, ctx, "fan2", credits=10)
    await add_stream(db, ctx, goal=None, scheduled=False)
    await start(db, ctx)
    return ctx


def recording_follow_up_runner(db: Any, field: str) -> tuple[FollowUpRunner, list[Any]]:
    """The app's follow-up runner with its per-stream step replaced by a recorder: the loop's pass
    (`run_due`) runs as is, and the list gets `stream[field]` of each stream it hands on."""
    seen: list[Any] = []
    runner = flows.follow_up_runner(db)

    async def record(stream: Any) -> bool:
        seen.append(stream[field])
        return True

    runner.run = record  # type: ignore[method-assign]
    return runner, seen


async def with_before(db: Any, operation: Any, collection: str, op: str, before: Any) -> Any:
    """Run `operation(stepped_db)`, running `before()` (on the raw database) right before its first
    `collection.op` step: another request slipping in at that exact point."""
    return await before_nth(db, operation, collection, op, 1, before)


async def before_nth(
    db: Any,
    operation: Callable[[Any], Awaitable[Any]],
    collection: str,
    op: str,
    occurrence: int,
    before: Callable[[], Awaitable[Any]],
) -> Any:
    """Run `operation(stepped_db)`, running `before()` (on the raw database) right before its
    `occurrence`-th `collection.op` step: another request slipping in at that exact point."""
    seen = 0

    async def hook(step: int, coll: str, name: str) -> None:
        nonlocal seen
        if (coll, name) == (collection, op):
            seen += 1
            if seen == occurrence:
                await before()

    try:
        return await operation(SteppedDatabase(db, Stepper(hook)))
    finally:
        assert seen >= occurrence, f"{collection}.{op} #{occurrence} was never reached ({seen} seen)"


async def pending_rental(db: Any, ctx: Ctx, role: str) -> dict[str, Any]:
    """A rent that died right after claiming its rental (nothing charged yet)."""
    await crash_after(
        db, lambda sdb: rent(sdb, ctx, role, key=f"rent-{role}"), "replay_rentals", "insert_one"
    )
    assert ctx.stream is not None
    rental = await ReplayRentalRepository(db).find_of(ctx.id(role), ctx.stream)
    assert rental is not None and rental["status"] == "pending"
    return rental


async def stream_of(db: Any, ctx: Ctx) -> dict[str, Any]:
    assert ctx.stream is not None
    return await LiveStreamRepository(db).get_or_404(ctx.stream, include_deleted=True)


# --- the same operations through the ASGI app (routers, Idempotency-Key header, stored answers) -------

API = "/api/v1/live-stream"
_app: list[Any] = []  # the app of the running test (tests/money set it with `use_app`)
_refusals: dict[int, type[AppError]] = {}


def use_app(app: Any) -> None:
    _app[:] = [app]


def refusal(status: int) -> type[AppError]:
    """An AppError named after the HTTP status (the harness counts AppErrors as legitimate answers)."""
    if status not in _refusals:
        _refusals[status] = type(f"HTTP{status}", (AppError,), {"status_code": status})
    return _refusals[status]


async def http(
    db: Any, ctx: Ctx, role: str, method: str, path: str, body: Any = None, key: str | None = None
) -> Any:
    """One request to the app, served on `db` (the schedule's database, stepped for the flow): returns
    the envelope's `data`, raises `HTTP{status}` for a refusal and `Crash` when the process died."""
    app = _app[0]
    settings = app.state.settings
    headers = {"Authorization": f"Bearer {create_access_token(settings, ctx.id(role))}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    previous, app.state.db = app.state.db, db
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.request(method, path, json=body, headers=headers)
    except BaseExceptionGroup as group:  # a Crash raised inside a middleware's task group
        crash = group.subgroup(Crash)
        if crash is not None:
            raise crash.exceptions[0] from None
        raise
    finally:
        app.state.db = previous
    envelope = response.json()
    if response.status_code >= 400:
        raise refusal(response.status_code)(str(envelope.get("errors")))
    return envelope["data"]


async def http_fund(db: Any, ctx: Ctx, role: str, amount: int, key: str | None) -> Any:
    return await http(db, ctx, role, "POST", f"{API}/{ctx.stream}/fund", {"amount": amount}, key)


async def http_join(db: Any, ctx: Ctx, role: str) -> Any:
    return await http(db, ctx, role, "POST", f"{API}/join", {"liveStreamId": str(ctx.stream)})


async def http_superlike(
    db: Any, ctx: Ctx, role: str, key: str | None, stream: ObjectId | None = None
) -> Any:
    return await http(db, ctx, role, "POST", f"{API}/{stream or ctx.stream}/chat/superlike", None, key)


async def http_fund_mini(db: Any, ctx: Ctx, role: str, amount: int, key: str | None) -> Any:
    path = f"{API}/{ctx.stream}/mini-crowd-fundings/{ctx.extra['mini']}/fund"
    return await http(db, ctx, role, "POST", path, {"amount": amount}, key)


async def http_open_mini(db: Any, ctx: Ctx, goal: int) -> Any:
    body = {"title": "10 more minutes", "goal": goal, "durationMinutes": 30}
    mini = await http(db, ctx, "host", "POST", f"{API}/{ctx.stream}/mini-crowd-fundings", body)
    ctx.extra["mini"] = ObjectId(mini["_id"])
    return mini


async def http_rent(db: Any, ctx: Ctx, role: str, key: str | None) -> Any:
    return await http(db, ctx, role, "POST", f"{API}/{ctx.stream}/replay-rentals", None, key)


async def http_cancel(db: Any, ctx: Ctx) -> Any:
    return await http(db, ctx, "host", "POST", f"{API}/{ctx.stream}/cancel")


async def http_delete(db: Any, ctx: Ctx) -> Any:
    return await http(db, ctx, "host", "DELETE", f"{API}/{ctx.stream}")
