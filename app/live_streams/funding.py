"""Crowd-funding: debit the funder and raise `collectedFunding` exactly once per funding.

A funding is a small state machine (pending → completed | rejected | refunded) driven by idempotent
steps, because the embedded engine has no transactions (docs/decisions.md, "money"):

1. insert the funding `pending` under a unique (userId, idempotencyKey);
2. debit the funder through the credit ledger (idempotent per funding);
3. `$inc` the stream's `collectedFunding` only if the stream is still fundable and this funding id is
   not yet in its bounded `appliedFundings` list;
4. mark it `completed` (storing the answer for idempotent replays). If step 3 finds the stream no
   longer fundable, the debit is refunded and the funding `refunded`.

A request that dies midway leaves a `pending` funding; `resume_stale()` (reconcile loop) rolls it
forward with the same steps. Cancel/delete refund every completed funding exactly once.
"""

import contextlib
import hashlib
import uuid
from datetime import timedelta
from typing import Any

import structlog
from bson import ObjectId

from app.core.errors import Conflict, Forbidden, ValidationFailed
from app.core.timeutils import utcnow
from app.live_streams.repository import APPLIED_MEMORY, FundingRepository, LiveStreamRepository
from app.live_streams.schemas import CANCELLED, LiveStreamStatus
from app.users.credits import CreditLedger, Direction, InsufficientCredits, TxType

log = structlog.get_logger("app.funding")

PENDING, COMPLETED, REJECTED, REFUNDED = "pending", "completed", "rejected", "refunded"
NOT_FUNDABLE = "this stream is not open for funding"


def is_fundable(stream: dict[str, Any]) -> bool:
    return (
        stream["status"] == LiveStreamStatus.scheduled
        and stream.get("deletedAt") is None
        and (stream.get("fundingGoal") or 0) > 0
    )


class FundingService:
    def __init__(self, db: Any) -> None:
        self.fundings = FundingRepository(db)
        self.streams = LiveStreamRepository(db)
        self.ledger = CreditLedger(db)

    async def fund(
        self, stream_id: ObjectId, funder_id: ObjectId, amount: int, idempotency_key: str | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Returns (stream after funding, stored answer of an earlier identical request or None)."""
        stream = await self.streams.get_or_404(stream_id)
        if stream["creatorId"] == funder_id:
            raise Forbidden("you cannot fund your own stream")
        request_hash = hashlib.sha256(f"{stream_id}:{amount}".encode()).hexdigest()
        now = utcnow()
        funding, created = await self.fundings.start(
            {
                "liveStreamId": stream_id,
                "userId": funder_id,
                "amount": amount,
                "idempotencyKey": idempotency_key or f"auto:{uuid.uuid4().hex}",
                "requestHash": request_hash,
                "status": PENDING,
                "response": None,
                "failure": None,
                "createdAt": now,
                "updatedAt": now,
            }
        )
        if not created:
            if funding["requestHash"] != request_hash:
                raise Conflict("Idempotency-Key was already used with a different request")
            if funding["status"] == COMPLETED and funding.get("response") is not None:
                return stream, funding["response"]
            if funding["status"] in (REJECTED, REFUNDED):
                raise _stored_failure(funding)
        elif not is_fundable(stream):
            await self.fundings.set_status(funding["_id"], (PENDING,), REJECTED, {"failure": "not_fundable"})
            raise Conflict(NOT_FUNDABLE)
        return await self._drive(funding), None

    async def _drive(self, funding: dict[str, Any]) -> dict[str, Any]:
        """Run (or resume) the steps of one funding; returns the stream after it was applied."""
        try:
            await self.ledger.apply(
                funding["userId"],
                amount=funding["amount"],
                direction=Direction.debit,
                type=TxType.live_stream_funding,
                idempotency_key=f"funding:{funding['_id']}",
                reference={"kind": "liveStream", "id": str(funding["liveStreamId"])},
            )
        except InsufficientCredits:
            await self.fundings.set_status(
                funding["_id"], (PENDING,), REJECTED, {"failure": "insufficient_credits"}
            )
            raise
        stream = await self.streams.update(
            {
                "_id": funding["liveStreamId"],
                "status": LiveStreamStatus.scheduled.value,
                "fundingGoal": {"$gt": 0},
                "appliedFundings": {"$ne": funding["_id"]},
            },
            {
                "$inc": {"collectedFunding": funding["amount"]},
                "$push": {"appliedFundings": {"$each": [funding["_id"]], "$slice": -APPLIED_MEMORY}},
            },
        )
        if stream is None:
            stream = await self.streams.get(funding["liveStreamId"], include_deleted=True)
            applied = stream is not None and funding["_id"] in stream.get("appliedFundings", [])
            if not applied:
                await self.refund(funding, failure="not_fundable")
                raise Conflict(NOT_FUNDABLE)
        assert stream is not None
        await self.fundings.set_status(funding["_id"], (PENDING,), COMPLETED)
        if stream["status"] in CANCELLED or stream.get("deletedAt") is not None:
            # Cancelled/deleted while this funding was in flight: its refund pass may have missed us.
            await self.refund(funding)
        return stream

    async def store_answer(
        self, funding_key: str | None, funder_id: ObjectId, answer: dict[str, Any]
    ) -> None:
        if funding_key:
            await self.fundings.collection.update_one(
                {"userId": funder_id, "idempotencyKey": funding_key}, {"$set": {"response": answer}}
            )

    async def refund(self, funding: dict[str, Any], failure: str | None = None) -> None:
        """Give a funding's credits back, once (the ledger key makes a second call a no-op)."""
        await self.ledger.apply(
            funding["userId"],
            amount=funding["amount"],
            direction=Direction.credit,
            type=TxType.live_stream_funding_refund,
            idempotency_key=f"funding-refund:{funding['_id']}",
            reference={"kind": "liveStream", "id": str(funding["liveStreamId"])},
        )
        extra = {"refundedAt": utcnow(), **({"failure": failure} if failure else {})}
        await self.fundings.set_status(funding["_id"], (PENDING, COMPLETED), REFUNDED, extra)

    async def refund_all(self, stream: dict[str, Any]) -> int:
        """Refund every completed funding of a cancelled or deleted stream; returns how many."""
        fundings = await self.fundings.of_stream(stream["_id"], (COMPLETED,))
        for funding in fundings:
            await self.refund(funding)
        if fundings:
            log.info("fundings_refunded", stream_id=str(stream["_id"]), count=len(fundings))
        return len(fundings)

    async def funded_stream_ids(self, user_id: ObjectId, limit: int) -> list[ObjectId]:
        return await self.fundings.funded_stream_ids(user_id, limit)

    async def resume_stale(self, older_than_seconds: float = 60, limit: int = 100) -> int:
        """Roll forward fundings whose request died midway (called by the reconcile loop)."""
        stale = await self.fundings.stale_pending(utcnow() - timedelta(seconds=older_than_seconds), limit)
        for funding in stale:
            with contextlib.suppress(Conflict, ValidationFailed):  # rejected/refunded by the steps
                await self._drive(funding)
        return len(stale)


def _stored_failure(funding: dict[str, Any]) -> Exception:
    if funding.get("failure") == "insufficient_credits":
        return InsufficientCredits()
    return Conflict(NOT_FUNDABLE)
