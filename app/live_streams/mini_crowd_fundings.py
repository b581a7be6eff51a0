"""Mini crowd-fundings: small goals a creator opens during an active stream ("30 more minutes at 500
credits"), funded by viewers with the funding rules and paid out or refunded when they close.

Each mini crowd-funding is its own pot holder (`pots.py`): contributions are decided on its document
while it is `open` and before its deadline. It closes at its deadline (reconcile loop) or when the
stream ends (follow-up), whichever comes first - one conditional write, `open → closed` - and is then
settled: goal reached → paid out like the stream's funding (80 % / 40 + 40 %), else every contribution
refunded (all or nothing) → `paid` | `refunded`. Settling is idempotent and resumable.
"""

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from app.core.errors import STALE_READ, Conflict, DatabaseUnavailable, ErrorCode, Forbidden, NotFound
from app.core.once import OnceHolder
from app.core.repository import Repository
from app.core.sessions import causal
from app.core.timeutils import utcnow
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.pots import ContributionRepository, Pot, PotKind
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import LiveStreamStatus
from app.users.credits import TxType

MAX_OPEN_PER_STREAM = 3
NOT_OPEN = "this mini crowd-funding is closed"


MINI_FIELDS = dict.fromkeys(("liveStreamId", "title", "goal", "collected", "status", "deadline"), 1)
NEWEST_PER_STREAM = [("liveStreamId", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)]


class MiniStatus(StrEnum):
    open = "open"
    closed = "closed"  # no more contributions; being settled
    paid = "paid"  # goal reached: paid out to the creator (and guest)
    refunded = "refunded"  # goal missed: every contribution given back


def is_open(mini: Mapping[str, Any]) -> bool:
    deadline: datetime = mini["deadline"]
    return mini["status"] == MiniStatus.open and deadline > utcnow()


MINI_CROWD_FUNDING = PotKind(
    name="mini-funding",
    counter="collected",
    payout_field="payout",
    debit=TxType.mini_crowd_funding,
    refund=TxType.mini_crowd_funding_refund,
    payout=TxType.mini_crowd_funding_payout,
    is_open=is_open,
    open_condition=lambda: {"status": MiniStatus.open.value, "deadline": {"$gt": utcnow()}},
    goal_field="goal",
    holder_fields=("status", "deadline", "goal"),
)


def mini_out(doc: dict[str, Any]) -> dict[str, Any]:
    goal, collected = doc["goal"], int(doc.get("collected") or 0)
    return {
        "_id": doc["_id"],
        "title": doc["title"],
        "goal": goal,
        "collected": collected,
        "percentage": round(collected * 100 / goal, 2) if goal else 0,
        "status": doc["status"],
        "deadline": doc["deadline"],
    }


class MiniCrowdFundingRepository(OnceHolder, Repository):
    collection_name = "mini_crowd_fundings"
    durable = True  # a pot holder: w:"majority", majority reads, primary (docs/decisions.md)
    indexes = [
        IndexModel(
            [("liveStreamId", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)], name="by_stream"
        ),
        IndexModel([("status", ASCENDING), ("deadline", ASCENDING)], name="due"),
        IndexModel([("opInFlightAt", ASCENDING)], sparse=True, name="contribution_sweep"),
        # "At most 3 open" as a database rule (issue 26 item 1): an open one holds one of the stream's
        # slots 0..2, released in the same write that closes it.
        IndexModel(
            [("liveStreamId", ASCENDING), ("openSlot", ASCENDING)],
            unique=True,
            partialFilterExpression={"openSlot": {"$exists": True}},
            name="open_slot",
        ),
    ]

    # pragma: no mutate start (not money: listing)
    async def of_streams(
        self, stream_ids: list[ObjectId], per_stream: int = 20
    ) -> dict[ObjectId, list[dict[str, Any]]]:
        if not stream_ids:
            return {}
        # What `mini_out` presents and the grouping needs, not the pot's bookkeeping (opInFlight, …).
        cursor = self.collection.find({"liveStreamId": {"$in": stream_ids}}, MINI_FIELDS).sort(
            NEWEST_PER_STREAM
        )
        if len(stream_ids) == 1:
            cursor = cursor.limit(per_stream)
        grouped: dict[ObjectId, list[dict[str, Any]]] = {}
        for doc in await cursor.to_list():
            items = grouped.setdefault(doc["liveStreamId"], [])
            if len(items) < per_stream:
                items.append(doc)
        return grouped

    # pragma: no mutate end

    async def insert_in_free_slot(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """Insert an open one in the first free slot of its stream; None when all are taken.

        One insert per slot tried, each atomic with the unique `open_slot` index: two concurrent
        creates never share a slot, and nothing is left to undo when a request dies midway."""
        for slot in range(MAX_OPEN_PER_STREAM):
            stored = {**doc, "openSlot": slot}  # the driver adds `_id` to the dict it inserts
            try:
                await self.collection.insert_one(stored)
            except DuplicateKeyError:
                continue
            return stored
        return None

    async def overdue_open(self, stream_id: ObjectId, now: datetime) -> list[dict[str, Any]]:
        """Open ones of the stream past their deadline that the reconcile loop has not closed yet."""
        return await self.collection.find(
            {"liveStreamId": stream_id, "status": MiniStatus.open.value, "deadline": {"$lte": now}}
        ).to_list()

    async def close(self, _id: ObjectId, now: datetime) -> None:
        """open → closed, giving its slot back in the same write."""
        await self.collection.update_one(
            {"_id": _id, "status": MiniStatus.open.value},
            {"$set": {"status": MiniStatus.closed.value, "closedAt": now}, "$unset": {"openSlot": ""}},
        )

    async def settled(self, _id: ObjectId, status: MiniStatus) -> None:
        await self.collection.update_one(
            {"_id": _id, "status": MiniStatus.closed.value}, {"$set": {"status": status.value}}
        )

    async def unsettled_of_stream(self, stream_id: ObjectId) -> list[dict[str, Any]]:
        statuses = [MiniStatus.open.value, MiniStatus.closed.value]
        return await self.collection.find({"liveStreamId": stream_id, "status": {"$in": statuses}}).to_list()

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Open ones past their deadline, and closed ones a crash left unsettled."""
        statuses = [MiniStatus.open.value, MiniStatus.closed.value]
        cursor = self.collection.find({"status": {"$in": statuses}, "deadline": {"$lte": now}})
        return await cursor.limit(limit).to_list()

    async def record_payout(self, _id: ObjectId, field: str, payout: dict[str, Any]) -> None:
        await self.collection.update_one({"_id": _id, field: None}, {"$set": {field: payout}})


class MiniContributionRepository(ContributionRepository):
    collection_name = "mini_crowd_funding_contributions"
    holder_field = "miniCrowdFundingId"
    indexes = [
        *ContributionRepository.indexes,
        IndexModel([("miniCrowdFundingId", ASCENDING), ("status", ASCENDING)], name="by_holder"),
    ]


class MiniCrowdFundingService:
    def __init__(self, db: Any) -> None:
        self.db = db
        self.minis = MiniCrowdFundingRepository(db)
        self.contributions = MiniContributionRepository(db)
        self.streams = LiveStreamRepository(db)
        self.pot = Pot(db, MINI_CROWD_FUNDING, self.contributions, holders=self.minis)

    async def create(
        self, stream_id: ObjectId, creator_id: ObjectId, title: str, goal: int, minutes: int
    ) -> dict[str, Any]:
        stream = await self.streams.get_or_404(stream_id)
        if stream["creatorId"] != creator_id:
            raise Forbidden("only the creator can open a mini crowd-funding")
        if stream["status"] != LiveStreamStatus.active:
            raise Conflict(
                "a mini crowd-funding can only be opened during an active stream",
                code=ErrorCode.INVALID_STREAM_STATE,
            )
        now = utcnow()
        doc = {
            "liveStreamId": stream_id,
            "creatorId": stream["creatorId"],
            "guestIds": stream.get("guestIds") or [],
            "liveStreamType": stream["liveStreamType"],
            "title": title,
            "goal": goal,
            "collected": 0,
            "status": MiniStatus.open.value,
            "deadline": now + timedelta(minutes=minutes),
            "payout": None,
            "opVersion": 0,
            "opInFlight": {},
            "createdAt": now,
            "updatedAt": now,
        }
        created = await self.minis.insert_in_free_slot(doc)
        if created is None:
            # Ones past their deadline still hold their slots until the reconcile loop closes them:
            # close them now (it settles closed ones) and try once more.
            overdue = await self.minis.overdue_open(stream_id, now)
            for mini in overdue:
                await self.minis.close(mini["_id"], now)
            created = await self.minis.insert_in_free_slot(doc) if overdue else None
        if created is None:
            raise Conflict(f"at most {MAX_OPEN_PER_STREAM} mini crowd-fundings can be open at once")
        return mini_out(created)

    # pragma: no mutate start (not money: listing)
    async def list_of(self, stream_id: ObjectId, limit: int = 20) -> list[dict[str, Any]]:
        await self.streams.get_or_404(stream_id)
        minis = await self.minis.of_streams([stream_id], per_stream=limit)
        return [mini_out(doc) for doc in minis.get(stream_id, [])]

    # pragma: no mutate end

    async def fund(
        self, stream_id: ObjectId, mini_id: ObjectId, funder_id: ObjectId, amount: int, key: str | None
    ) -> dict[str, Any]:
        mini = await self.minis.get(mini_id)
        if mini is None or mini["liveStreamId"] != stream_id:
            raise NotFound()
        if mini["creatorId"] == funder_id:
            raise Forbidden("you cannot fund your own stream")
        request_hash = hashlib.sha256(f"{mini_id}:{amount}".encode()).hexdigest()

        async def present(counted: dict[str, Any] | None) -> dict[str, Any]:
            return mini_out({**mini, **counted} if counted else mini)

        return await self.pot.contribute(
            stream_id=stream_id,
            user_id=funder_id,
            amount=amount,
            key=key,
            request_hash=request_hash,
            is_open=is_open(mini),
            not_open=NOT_OPEN,
            present=present,
            extra={"miniCrowdFundingId": mini_id},
        )

    # --- closing and settling -------------------------------------------------------------------------

    async def settle(self, mini: dict[str, Any], now: datetime) -> None:
        """Close, pay out or refund, and record which: one causally consistent session, so the last read
        sees the payout this pass recorded (a stale one would call a paid funding refunded)."""
        async with causal(self.db):
            await self._settle(mini, now)

    async def _settle(self, mini: dict[str, Any], now: datetime) -> None:
        await self.minis.close(mini["_id"], now)  # from here on every new contribution is rejected
        await self.pot.pay_out(mini)
        current = await self.minis.get(mini["_id"])
        if current is None or current["status"] == MiniStatus.open:  # older than our own close
            raise DatabaseUnavailable(STALE_READ)
        paid = bool((current.get("payout") or {}).get("paidAt"))
        await self.minis.settled(mini["_id"], MiniStatus.paid if paid else MiniStatus.refunded)

    async def settle_stream(self, stream: LiveStreamDocument) -> None:
        """The stream ended: every mini crowd-funding still open closes now (follow-up)."""
        for mini in await self.minis.unsettled_of_stream(stream["_id"]):
            await self.settle(mini, utcnow())

    async def settle_due(self, now: datetime, limit: int = 100) -> int:
        """Deadlines passed (and settlements a crash interrupted); called by the reconcile loop."""
        due = await self.minis.due(now, limit)
        for mini in due:
            await self.settle(mini, now)
        return len(due)

    async def resume_stale(self, older_than: datetime, limit: int = 100) -> int:
        return await self.pot.resume_stale(older_than, limit)
