"""Demo data for the playground: users with follows and credits, and streams in every state."""

from datetime import timedelta
from functools import partial
from typing import Any

import structlog
from bson import ObjectId
from fastapi import FastAPI

from app import flows
from app.bans.schemas import BanAction, BanIn
from app.bans.service import BanService
from app.chat.service import ChatService
from app.core.config import AppEnv, Settings
from app.core.security import AuthenticatedUser, create_access_token
from app.core.timeutils import utcnow
from app.dev.demo import DEMO_BAN_ID, DEMO_MINI_CROWD_FUNDING_IDS, DEMO_STREAM_IDS, DEMO_USER_IDS
from app.live_streams.audience import AudienceService
from app.live_streams.funding import FundingService
from app.live_streams.lifecycle import StreamLifecycle
from app.live_streams.mini_crowd_fundings import MiniCrowdFundingService
from app.live_streams.schemas import JoinIn, LiveStreamType
from app.live_streams.service import LiveStreamService, NewLiveStream
from app.live_streams.streaming import StreamingGateway
from app.superlikes.service import SuperlikeService
from app.users.documents import UserDocument
from app.users.repository import FollowRepository, UserRepository

log = structlog.get_logger("app.seed")

DEMO_USERS: list[dict[str, Any]] = [
    {"username": "ayse", "name": "Ayşe", "surname": "Yılmaz", "expertise": "Musician",
     "interests": ["music", "art"], "credits": 5000},
    {"username": "john", "name": "John", "surname": "Doe", "expertise": "Photography",
     "interests": ["photography", "travel", "music"], "credits": 3000},
    {"username": "mehmet", "name": "Mehmet", "surname": "Kaya", "expertise": "Chef",
     "interests": ["cooking", "music"], "credits": 2000},
    {"username": "lena", "name": "Lena", "surname": "Schmidt", "expertise": "Designer",
     "interests": ["art", "design"], "credits": 1500},
    {"username": "viewer", "name": "Vera", "surname": "Viewer", "expertise": None,
     "interests": ["music", "cooking", "art", "photography"], "credits": 10000},
]  # fmt: skip


DEMO_BAN_REASON = "Demo: off-topic messages"
# The documents that get a fixed id (`app.dev.demo`), by collection: the field that names them.
_FIXED_IDS: dict[str, tuple[str, dict[str, ObjectId]]] = {
    "users": ("username", DEMO_USER_IDS),
    "live_streams": ("title", DEMO_STREAM_IDS),
    "live_stream_bans": ("reason", {DEMO_BAN_REASON: DEMO_BAN_ID}),
    "mini_crowd_fundings": ("title", DEMO_MINI_CROWD_FUNDING_IDS),
}


class _FixedIdCollection:
    """A collection whose `insert_one` gives the demo documents their fixed id; all else delegated."""

    def __init__(self, collection: Any, field: str, ids: dict[str, ObjectId]) -> None:
        self._collection, self._field, self._ids = collection, field, ids

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def insert_one(self, document: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        fixed = self._ids.get(document.get(self._field, ""))
        if fixed is not None and "_id" not in document:
            document["_id"] = fixed
        return await self._collection.insert_one(document, *args, **kwargs)


class _FixedIdDatabase:
    """The database as the seed's services see it: the services insert, the seed picks the ids, so
    the playground's examples (`app.openapi_docs`) can use them on every run."""

    def __init__(self, db: Any) -> None:
        self._db = db

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def __getitem__(self, name: str) -> Any:
        return self._fixed(name, self._db[name])

    def get_collection(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._fixed(name, self._db.get_collection(name, *args, **kwargs))

    @staticmethod
    def _fixed(name: str, collection: Any) -> Any:
        if name not in _FIXED_IDS:
            return collection
        field, ids = _FIXED_IDS[name]
        return _FixedIdCollection(collection, field, ids)


async def seed_demo_if_wanted(app: FastAPI, settings: Settings) -> None:
    wanted = settings.seed_demo if settings.seed_demo is not None else settings.app_env is AppEnv.development
    if not wanted or settings.is_production:
        return
    db = app.state.db
    users = UserRepository(db)
    if not await users.any_exist():
        created = await seed_demo(db)
        await seed_demo_streams(app, settings, created)
    demo = await users.by_usernames([u["username"] for u in DEMO_USERS])
    tokens = {doc["username"]: create_access_token(settings, doc["_id"]) for doc in demo}
    print_demo_tokens(tokens, settings)


async def seed_demo(db: Any) -> dict[str, UserDocument]:
    db = _FixedIdDatabase(db)
    users = UserRepository(db)
    follows = FollowRepository(db)
    created = {spec["username"]: await users.create(spec) for spec in DEMO_USERS}
    fans = ["john", "mehmet", "lena", "viewer"]
    for fan in fans:
        await follows.follow(created[fan]["_id"], created["ayse"]["_id"])
    await follows.follow(created["ayse"]["_id"], created["john"]["_id"])
    await follows.follow(created["viewer"]["_id"], created["john"]["_id"])
    log.info("demo_seeded", users=len(created))
    return created


async def seed_demo_streams(app: FastAPI, settings: Settings, users: dict[str, UserDocument]) -> None:
    """Streams in every state, made through the same services the API uses."""
    db = _FixedIdDatabase(app.state.db)
    who = {name: AuthenticatedUser(id=doc["_id"], doc=doc) for name, doc in users.items()}
    service = LiveStreamService(db, flows.stream_presenter(db, settings), flows.follow_up_runner(db))
    funding = FundingService(db)
    now = utcnow()

    def new(title: str, **fields: Any) -> NewLiveStream:
        defaults: dict[str, Any] = {
            "guests": [], "price": None, "liveStreamType": LiveStreamType.solo, "interest": "music",
            "durationGoal": 60, "motivation": None, "plannedStartDate": None, "fundingGoal": None,
            "recording": False, "thumbnailUrl": None,
        }  # fmt: skip
        return NewLiveStream(title=title, **{**defaults, **fields})

    crowd = await service.create(
        who["ayse"],
        new(
            "Akustik gece: yeni şarkılar",
            liveStreamType=LiveStreamType.duocrowd,
            guests=[str(users["john"]["_id"])],
            plannedStartDate=now + timedelta(hours=20),
            fundingGoal=2000,
            motivation="Help us rent a studio for a duo session.",
        ),
    )
    for fan, amount in (("viewer", 500), ("mehmet", 250)):
        await funding.fund(
            ObjectId(crowd["id"]),
            who[fan].id,
            amount,
            f"demo-{fan}",
            partial(service.presenter.one, caller=who[fan]),
        )
    await service.create(
        who["lena"], new("Design critique hour", interest="design", plannedStartDate=now + timedelta(hours=3))
    )
    cancelled = await service.create(
        who["lena"], new("Cancelled sketching", interest="art", plannedStartDate=now + timedelta(days=2))
    )
    await service.cancel(ObjectId(cancelled["id"]), who["lena"])
    deleted = await service.create(
        who["lena"], new("Deleted draft", interest="art", plannedStartDate=now + timedelta(days=3))
    )
    await service.delete(ObjectId(deleted["id"]), who["lena"])

    fake = app.state.aioz_fake
    if fake is None:
        log.info("demo_streams_seeded", note="no live/ended demo streams: a real AIOZ account is configured")
        return
    gateway = StreamingGateway(db, app.state.aioz, settings.aioz_qualities)
    lifecycle = StreamLifecycle(db, gateway, service.presenter, service.follow_ups)
    audience = AudienceService(
        db, app.state.agora, service.presenter, flows.viewer_log(db), flows.join_hooks(db)
    )
    chat = ChatService(db)

    ended = await service.create(
        who["mehmet"], new("Turkish breakfast, live", interest="cooking", recording=True)
    )
    ended_doc = await lifecycle.start(await service.get(ObjectId(ended["id"])), who["mehmet"])
    fake.go_live(ended_doc["aioz"]["streamingId"])
    for fan in ("viewer", "ayse"):
        await audience.join(JoinIn(liveStreamId=ended_doc["_id"], deviceType="iOS"), who[fan])
    await chat.post_message(ended_doc["_id"], who["viewer"], "That menemen looks perfect!")
    ended_doc = await lifecycle.end(ended_doc)
    fake.end_stream(ended_doc["aioz"]["streamingId"])
    fake.produce_recording(ended_doc["aioz"]["streamingId"])
    await flows.reconciler(db, gateway).reconcile_one(ended_doc)
    await service.streams.set_replay_settings(
        ended_doc["_id"], {"isActiveReplayOnCreatorProfile": True, "replayCreditPrice": 50}
    )

    live = await service.create(who["john"], new("Istanbul street photography walk", interest="photography"))
    live_doc = await lifecycle.start(await service.get(ObjectId(live["id"])), who["john"])
    fake.go_live(live_doc["aioz"]["streamingId"])
    for fan in ("viewer", "mehmet", "lena"):
        await audience.join(JoinIn(liveStreamId=live_doc["_id"], deviceType="Android"), who[fan])
    # Inside the live stream: chat, a chat-only ban, a superlike and a mini crowd-funding on its way.
    for fan, text in (("john", "Welcome! We start at Galata Tower."), ("viewer", "Hello from Izmir 👋"),
                      ("mehmet", "Can you show the ferry?")):  # fmt: skip
        await chat.post_message(live_doc["_id"], who[fan], text)
    ban = BanIn(targetUserId=who["mehmet"].id, liveStreamId=live_doc["_id"], actionType=BanAction.chat_only)
    await BanService(db).create(ban.model_copy(update={"reason": DEMO_BAN_REASON}), who["john"])
    await SuperlikeService(db).send(live_doc["_id"], who["viewer"].id, "demo-superlike")
    minis = MiniCrowdFundingService(db)
    mini = await minis.create(live_doc["_id"], who["john"].id, "30 more minutes on the Bosphorus", 500, 120)
    await minis.fund(live_doc["_id"], mini["_id"], who["viewer"].id, 150, "demo-mini")

    # A paid stream: the entry price is charged once, on the first join.
    paid = await service.create(who["lena"], new("Portfolio reviews (paid)", interest="design", price=40))
    paid_doc = await lifecycle.start(await service.get(ObjectId(paid["id"])), who["lena"])
    fake.go_live(paid_doc["aioz"]["streamingId"])
    await audience.join(JoinIn(liveStreamId=paid_doc["_id"], deviceType="Web"), who["viewer"])
    log.info("demo_streams_seeded")


def print_demo_tokens(tokens: dict[str, str], settings: Settings) -> None:
    # Printed (not logged) on purpose: these are development tokens meant for a human to copy.
    lines = [
        "",
        "Demo users (development only). Paste a token into Authorize at",
        f"  {settings.public_base_url}/docs",
        "",
    ]
    lines += [f"  {name:<8} {token}" for name, token in sorted(tokens.items())]
    lines += [
        "",
        'More tokens: POST /api/v1/dev/users {"username": "you", "credits": 1000} or POST /api/v1/dev/token'
        ' {"userId": "..."}',
        "Every request example in /docs works as is on this demo data (each says whom to authorize as).",
        "",
    ]
    print("\n".join(lines), flush=True)
