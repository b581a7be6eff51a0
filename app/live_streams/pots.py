"""Pots: credits a stream holds for a while - crowd-fundings until it ends, paid entries until it ends.

A contribution (a funding, a paid entry) is a state machine, pending → completed | rejected | refunded,
driven by idempotent steps (docs/money.md):

1. insert the contribution `pending` under a unique (userId, idempotencyKey);
2. debit the contributor through the credit ledger (one movement per contribution);
3. decide it on the stream's document with `app.core.once`: *applied* (the pot's counter grows in the
   same write, only while the stream is in the pot's open state and not deleted) or *rejected*;
4. mark it `completed`, or - rejected - give the debit back (voided: for the user it did not happen)
   and mark it `refunded`.

Whoever runs a contribution - the request, a retry with the same Idempotency-Key, the recovery pass,
the stream's refund/payout follow-up - runs these same steps, so all of them end with one outcome.
Because step 3 is atomic with the stream's status, a state change (cancel, delete, expiry, end) sees
every contribution that was counted, and one decided after it can only be rejected. What the change
makes due - refunding every counted contribution, or paying the pot out - is recorded in that same
write as a follow-up (`follow_ups.py`) and done by `refund_all` / `pay_out`, idempotent and resumable.
"""

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import structlog
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.errors import (
    STALE_READ,
    Conflict,
    DatabaseUnavailable,
    ErrorCode,
    InsufficientCredits,
    NotFound,
)
from app.core.once import Decided, Rule
from app.core.repository import Repository
from app.core.sessions import causal
from app.core.timeutils import utcnow
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import LiveStreamType
from app.users.credits import CreditLedger, Direction, TxType

log = structlog.get_logger("app.pots")

APPLIED, REJECTED = "applied", "rejected"


class OnceHolderRepository(Protocol):  # pragma: no mutate block (a Protocol: no code runs)
    """A repository whose documents hold a pot: an `app.core.once.OnceHolder` that can also read a
    holder and record its payout."""

    # Read-only members (a repository's methods satisfy them; a plain attribute would have to be settable).
    @property
    def decide_once(self) -> Callable[..., Awaitable[Decided]]: ...

    @property
    def forget(self) -> Callable[[Any, Any], Awaitable[None]]: ...

    async def get(self, _id: Any, *, include_deleted: bool = False) -> Mapping[str, Any] | None: ...

    async def record_payout(self, _id: ObjectId, field: str, payout: dict[str, Any]) -> None: ...


# A pot is shared like replay revenue: solo 80 % creator; duo 40 % creator + 40 % guest; the platform
# keeps the rest (20 % plus the rounding of whole credits).
PAYOUT_PERCENT = {
    LiveStreamType.solo: (80, 0),
    LiveStreamType.duocrowd: (40, 40),
    LiveStreamType.duoself: (40, 40),
}


class ContributionStatus(StrEnum):
    pending = "pending"
    completed = "completed"  # debited and counted in the stream's pot
    rejected = "rejected"  # nothing moved (insufficient credits)
    refunded = "refunded"  # debited, then given back (the stream closed before it was counted, it was
    # cancelled/deleted/expired, or a funding goal was missed)


FINAL = (ContributionStatus.completed, ContributionStatus.rejected, ContributionStatus.refunded)


def payout_shares(amount: int, stream_type: str, has_guest: bool) -> dict[str, int]:
    creator_pct, guest_pct = PAYOUT_PERCENT[LiveStreamType(stream_type)]
    creator = amount * creator_pct // 100
    guest = amount * guest_pct // 100 if has_guest else 0
    return {"creator": creator, "guest": guest, "platform": amount - creator - guest}


class ContributionRepository(Repository):
    """Contributions of one pot kind: one document per (user, Idempotency-Key)."""

    holder_field: ClassVar[str] = "liveStreamId"  # the document holding the pot
    durable = True  # money: w:"majority", majority reads, primary (docs/decisions.md)
    required_indexes = ("idempotency",)
    shard_key = (("userId", 1),)  # fundings, stream entries, mini contributions
    indexes = [
        IndexModel([("userId", ASCENDING), ("idempotencyKey", ASCENDING)], unique=True, name="idempotency"),
        IndexModel(
            [("userId", ASCENDING), ("status", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)],
            name="by_user_created",
        ),
        IndexModel([("liveStreamId", ASCENDING), ("status", ASCENDING)], name="by_stream"),
        IndexModel([("status", ASCENDING), ("createdAt", ASCENDING)], name="pending_scan"),
    ]

    async def start(self, doc: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Insert a pending contribution; returns (it, created). An existing key returns the original."""
        return await self.insert_or_existing(doc, ("userId", "idempotencyKey"))

    async def of_key(self, user_id: ObjectId, key: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"userId": user_id, "idempotencyKey": key})

    async def finish(
        self,
        _id: ObjectId,
        from_statuses: tuple[ContributionStatus, ...],
        status: ContributionStatus,
        extra: dict[str, Any] | None = None,
    ) -> None:
        await self.collection.update_one(
            {"_id": _id, "status": {"$in": [s.value for s in from_statuses]}},
            {"$set": {"status": status.value, "updatedAt": utcnow(), **(extra or {})}},
        )

    async def store_answer(self, _id: ObjectId, answer: dict[str, Any]) -> dict[str, Any]:
        """Keep the first answer of a completed contribution; returns the one kept (ours or an earlier
        one), which every retry with the same key gets as-is."""
        await self.collection.update_one({"_id": _id, "response": None}, {"$set": {"response": answer}})
        doc = await self.collection.find_one({"_id": _id}, {"response": 1})
        return doc["response"] if doc and doc.get("response") is not None else answer

    async def is_final(self, _id: ObjectId) -> bool:
        doc = await self.collection.find_one({"_id": _id}, {"status": 1})
        return doc is None or doc["status"] != ContributionStatus.pending

    async def final_among(self, ids: list[str]) -> set[str]:
        docs = await self.collection.find(
            {"_id": {"$in": [ObjectId(i) for i in ids]}, "status": {"$ne": ContributionStatus.pending.value}},
            {"_id": 1},
        ).to_list()
        return {str(doc["_id"]) for doc in docs}

    async def open_of(self, holder_id: ObjectId) -> list[dict[str, Any]]:
        """Contributions to a pot that still hold (or may hold) the contributor's credits."""
        statuses = [ContributionStatus.pending.value, ContributionStatus.completed.value]
        return await self.collection.find(
            {self.holder_field: holder_id, "status": {"$in": statuses}}
        ).to_list()

    async def stale_pending(self, older_than: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find(
            {"status": ContributionStatus.pending.value, "createdAt": {"$lte": older_than}}
        )
        return await cursor.sort("createdAt", ASCENDING).limit(limit).to_list()


@dataclass(frozen=True, slots=True)
class PotKind:
    """What differs between pots: where contributions live, what the stream counts, ledger names."""

    name: str  # ledger key prefix: `{name}:{id}`, `{name}-refund:{id}`, `{name}-payout:{streamId}:{payee}`
    counter: str  # the stream's field holding the pot
    payout_field: str  # the stream's record of the payout
    debit: TxType
    refund: TxType
    payout: TxType
    is_open: Callable[[Mapping[str, Any]], bool]  # may the holder (as read) take a contribution now?
    open_condition: Callable[[], dict[str, Any]]  # the same rule as a query, re-checked by the write
    goal_field: str | None = None  # all or nothing: a pot below its goal is refunded when it closes
    holder_fields: tuple[str, ...] = ("status", "deletedAt", "fundingGoal")  # what is_open reads


class Pot:
    """A pot held by `holders` documents (streams by default; mini crowd-fundings hold their own)."""

    def __init__(
        self,
        db: Any,
        kind: PotKind,
        contributions: ContributionRepository,
        holders: OnceHolderRepository | None = None,
    ) -> None:
        self.db = db
        self.kind = kind
        self.contributions = contributions
        self.holders: OnceHolderRepository = holders or LiveStreamRepository(db)
        self.ledger = CreditLedger(db)

    def _key(self, contribution: dict[str, Any], suffix: str = "") -> str:
        return f"{self.kind.name}{suffix}:{contribution['_id']}"

    async def start(
        self,
        stream_id: ObjectId,
        user_id: ObjectId,
        amount: int,
        key: str | None,
        request_hash: str,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        now = utcnow()
        contribution, _ = await self.contributions.start(
            {
                **(extra or {}),
                "liveStreamId": stream_id,
                "userId": user_id,
                "amount": amount,
                "idempotencyKey": key or f"auto:{uuid.uuid4().hex}",
                "requestHash": request_hash,
                "status": ContributionStatus.pending.value,
                "response": None,
                "failure": None,
                "createdAt": now,
                "updatedAt": now,
            }
        )
        return contribution

    async def contribute(
        self,
        *,
        stream_id: ObjectId,
        user_id: ObjectId,
        amount: int,
        key: str | None,
        request_hash: str,
        is_open: bool,
        not_open: str,
        present: Callable[[dict[str, Any] | None], Awaitable[dict[str, Any]]],
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A contribution request (fund a stream, fund a mini crowd-funding): the answer is `present`ed
        from the holder's pot fields right after this contribution was counted; a retry with the same
        Idempotency-Key gets the stored first answer (or the same error).

        One causally consistent session (app.core.sessions): the answer is read after our own writes,
        also across an election."""
        async with causal(self.db):
            existing = await self.contributions.of_key(user_id, key) if key else None
            if existing is None:
                # Refusals that need no movement are answered before anything is written, so a failed
                # attempt leaves no contribution and no ledger row behind.
                if not is_open:
                    raise Conflict(not_open, code=ErrorCode.STREAM_NOT_OPEN_FOR_FUNDING)
                if await self.ledger.balance(user_id) < amount:
                    raise InsufficientCredits()
            contribution = existing or await self.start(stream_id, user_id, amount, key, request_hash, extra)
            if contribution["requestHash"] != request_hash:
                raise Conflict(
                    "Idempotency-Key was already used with a different request",
                    code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
                )
            contribution, counted = await self.run(contribution)
            if contribution.get("response") is not None:
                # a retry: the first answer, even if things changed since
                return dict(contribution["response"])
            if contribution["status"] != ContributionStatus.completed:
                if contribution.get("failure") == "insufficient_credits":
                    raise InsufficientCredits()
                raise Conflict(not_open, code=ErrorCode.STREAM_NOT_OPEN_FOR_FUNDING)
            return await self.contributions.store_answer(contribution["_id"], await present(counted))

    async def drive(self, contribution: dict[str, Any]) -> dict[str, Any]:
        """Run (or resume) the steps of one contribution; returns it final. Safe to run concurrently."""
        return (await self.run(contribution))[0]

    async def run(self, contribution: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """`drive`, also returning the stream's pot fields right after this contribution was counted."""
        if contribution["status"] in FINAL:
            return contribution, None
        async with causal(self.db):
            return await self._run(contribution)

    async def _run(self, contribution: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        try:
            await self.ledger.apply(
                contribution["userId"],
                amount=contribution["amount"],
                direction=Direction.debit,
                type=self.kind.debit,
                idempotency_key=self._key(contribution),
                reference={"kind": "liveStream", "id": str(contribution["liveStreamId"])},
            )
        except InsufficientCredits:
            await self.contributions.finish(
                contribution["_id"],
                (ContributionStatus.pending,),
                ContributionStatus.rejected,
                {"failure": "insufficient_credits"},
            )
            return await self._reload(contribution), None
        amount, kind = contribution["amount"], self.kind

        def rule(stream: Mapping[str, Any]) -> Rule:
            if not kind.is_open(stream):
                return Rule(REJECTED)
            return Rule(
                APPLIED,
                condition={**kind.open_condition(), "deletedAt": None},
                effect={"$inc": {kind.counter: amount}},
            )

        holder_id = contribution[self.contributions.holder_field]
        try:
            decided = await self.holders.decide_once(
                holder_id,
                contribution["_id"],
                op_is_final=lambda: self.contributions.is_final(contribution["_id"]),
                rule=rule,
                final_among=self.contributions.final_among,
                projection=(*kind.holder_fields, kind.counter),
            )
            outcome, counted = decided.outcome, decided.holder
        except NotFound:  # the stream document is gone altogether (never happens: deletes are soft)
            outcome, counted = REJECTED, None
        if outcome == APPLIED:
            await self.contributions.finish(
                contribution["_id"], (ContributionStatus.pending,), ContributionStatus.completed
            )
        elif outcome == REJECTED:
            await self._give_back(contribution, failure="not_open", voided=True)
        if outcome is not None:
            await self.holders.forget(holder_id, contribution["_id"])
        # Outcome None: another runner finished it first; if it was counted, the holder as read now
        # already holds it (a pot's counter never goes down), unlike what the request read before.
        return await self._reload(contribution), (counted if outcome != REJECTED else None)

    async def _give_back(
        self, contribution: dict[str, Any], failure: str | None, voided: bool = False
    ) -> None:
        """Refund a debited contribution once (the ledger key makes a second call a no-op)."""
        await self.ledger.apply(
            contribution["userId"],
            amount=contribution["amount"],
            direction=Direction.credit,
            type=self.kind.refund,
            idempotency_key=self._key(contribution, "-refund"),
            reference={"kind": "liveStream", "id": str(contribution["liveStreamId"])},
        )
        if voided:  # never counted: for the user this attempt did not happen
            await self.ledger.void(
                contribution["userId"], [self._key(contribution), self._key(contribution, "-refund")]
            )
        extra = {"refundedAt": utcnow(), **({"failure": failure} if failure else {})}
        await self.contributions.finish(
            contribution["_id"],
            (ContributionStatus.pending, ContributionStatus.completed),
            ContributionStatus.refunded,
            extra,
        )

    async def _reload(self, contribution: dict[str, Any]) -> dict[str, Any]:
        """The contribution after this runner made it final (every path of `_run` does). Missing or
        still pending means the read is older than our own writes: 503, the retry resumes it."""
        current = await self.contributions.get(contribution["_id"])
        if current is None or current["status"] not in FINAL:
            raise DatabaseUnavailable(STALE_READ)
        return current

    # --- follow-ups of a stream's state change --------------------------------------------------------

    async def refund_all(self, holder: Mapping[str, Any]) -> int:
        """Refund every contribution counted in a pot that will not be paid out.

        Contributions still in flight are first driven to their outcome: those counted before the
        pot closed complete and are refunded here, the others reject (and refund) themselves."""
        async with causal(self.db):
            return await self._refund_all(holder)

    async def _refund_all(self, holder: Mapping[str, Any]) -> int:
        refunded = 0
        for contribution in await self.contributions.open_of(holder["_id"]):
            contribution = await self.drive(contribution)
            if contribution["status"] == ContributionStatus.completed:
                await self._give_back(contribution, failure=None)
                refunded += 1
        if refunded:
            log.info("pot_refunded", pot=self.kind.name, holder_id=str(holder["_id"]), count=refunded)
        return refunded

    async def pay_out(self, holder: Mapping[str, Any]) -> None:
        """A closed pot: pay it to the creator (and guest); a pot below its goal (all or nothing) is
        refunded instead. Idempotent per payee. The holder carries creatorId, guestIds and the type.

        One causally consistent session: the total read is the one our own steps left, never an older
        one (a stale total would pay shares of the wrong amount, once and for all: payouts are keyed per
        payee). A read that cannot be ours raises 503 and the follow-up runs again later."""
        async with causal(self.db):
            await self._pay_out(holder)

    async def _pay_out(self, holder: Mapping[str, Any]) -> None:
        counted = 0  # what the contributions we see completed put in the pot: a lower total is stale
        for contribution in await self.contributions.open_of(holder["_id"]):
            contribution = await self.drive(contribution)  # settle in-flight ones: the counter is final
            if contribution["status"] == ContributionStatus.completed:
                counted += int(contribution["amount"])
        current = await self.holders.get(holder["_id"], include_deleted=True)
        if current is None or int(current.get(self.kind.counter) or 0) < counted:
            raise DatabaseUnavailable(STALE_READ)
        collected = int(current.get(self.kind.counter) or 0)
        if collected <= 0:
            return
        if self.kind.goal_field and collected < int(current.get(self.kind.goal_field) or 0):
            await self._refund_all(current)
            return
        guest_ids = current.get("guestIds") or []
        has_guest = current["liveStreamType"] != LiveStreamType.solo and bool(guest_ids)
        shares = payout_shares(collected, current["liveStreamType"], has_guest)
        payees = (("creator", current["creatorId"]), ("guest", guest_ids[0] if has_guest else None))
        for payee, user_id in payees:
            if user_id is None or shares[payee] <= 0:
                continue
            with contextlib.suppress(NotFound):  # a payee whose account is gone: the platform keeps it
                await self.ledger.apply(
                    user_id,
                    amount=shares[payee],
                    direction=Direction.credit,
                    type=self.kind.payout,
                    idempotency_key=f"{self.kind.name}-payout:{holder['_id']}:{payee}",
                    reference={"kind": "liveStream", "id": str(current.get("liveStreamId", holder["_id"]))},
                )
        await self.holders.record_payout(
            holder["_id"], self.kind.payout_field, {**shares, "paidAt": utcnow()}
        )
        log.info("pot_paid_out", pot=self.kind.name, holder_id=str(holder["_id"]), **shares)

    async def resume_stale(self, older_than: datetime, limit: int = 100) -> int:
        """Roll forward contributions whose request died midway (called by the reconcile loop)."""
        stale = await self.contributions.stale_pending(older_than, limit)
        for contribution in stale:
            await self.drive(contribution)  # each in its own causal session
        return len(stale)
