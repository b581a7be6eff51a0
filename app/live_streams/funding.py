"""Crowd-funding: debit the funder and count the credits on the stream exactly once per funding.

A funding is a state machine (pending → completed | rejected | refunded) driven by idempotent steps
(docs/money.md):

1. insert the funding `pending` under a unique (userId, idempotencyKey);
2. debit the funder through the credit ledger (one movement per funding);
3. decide it on the stream's document with `app.core.once`: *applied* (`collectedFunding` grows in the
   same write, only while the stream is `scheduled` and not deleted) or *rejected*;
4. mark it `completed`, or - rejected - give the debit back and mark it `refunded`.

Whoever runs a funding - the request, a retry with the same Idempotency-Key, the recovery pass, the
refund/payout follow-up of the stream - runs these same steps, so all of them end with one outcome.
Because step 3 is atomic with the stream's status, a cancel/delete/expiry/end that flips the status
sees every funding that was counted, and a funding decided after it can only be rejected.

What a stream's state change makes due - refunding every counted funding, or paying the collected
credits out when it ends - is recorded in that same write as a follow-up (`follow_ups.py`) and done by
`refund_all` / `pay_out`, which are idempotent and resumable.
"""

import contextlib
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from bson import ObjectId

from app.core.errors import Conflict, Forbidden, NotFound
from app.core.once import PRUNE_AFTER, Rule
from app.core.timeutils import utcnow
from app.live_streams.funding_repository import FINAL, FundingRepository, FundingStatus
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import LiveStreamStatus, LiveStreamType
from app.users.credits import CreditLedger, Direction, InsufficientCredits, TxType

log = structlog.get_logger("app.funding")

NOT_FUNDABLE = "this stream is not open for funding"
APPLIED, REJECTED = "applied", "rejected"
# Collected funding is shared like replay revenue: solo 80 % creator; duo 40 % creator + 40 % guest;
# the platform keeps the rest (20 % plus the rounding of whole credits).
PAYOUT_PERCENT = {
    LiveStreamType.solo: (80, 0),
    LiveStreamType.duocrowd: (40, 40),
    LiveStreamType.duoself: (40, 40),
}
STREAM_FIELDS = ("status", "deletedAt", "fundingGoal", "collectedFunding")

Present = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def is_fundable(stream: dict[str, Any]) -> bool:
    return (
        stream["status"] == LiveStreamStatus.scheduled
        and stream.get("deletedAt") is None
        and (stream.get("fundingGoal") or 0) > 0
    )


def payout_shares(amount: int, stream_type: str, has_guest: bool) -> dict[str, int]:
    creator_pct, guest_pct = PAYOUT_PERCENT[LiveStreamType(stream_type)]
    creator = amount * creator_pct // 100
    guest = amount * guest_pct // 100 if has_guest else 0
    return {"creator": creator, "guest": guest, "platform": amount - creator - guest}


def _debit_key(funding: dict[str, Any]) -> str:
    return f"funding:{funding['_id']}"


def _refund_key(funding: dict[str, Any]) -> str:
    return f"funding-refund:{funding['_id']}"


class FundingService:
    def __init__(self, db: Any) -> None:
        self.fundings = FundingRepository(db)
        self.streams = LiveStreamRepository(db)
        self.ledger = CreditLedger(db)

    async def fund(
        self,
        stream_id: ObjectId,
        funder_id: ObjectId,
        amount: int,
        idempotency_key: str | None,
        present: Present,
    ) -> dict[str, Any]:
        """Fund a stream; the answer is the presented stream. A retry with the same Idempotency-Key
        gets the stored first answer (or the same error)."""
        stream = await self.streams.get_or_404(stream_id)
        if stream["creatorId"] == funder_id:
            raise Forbidden("you cannot fund your own stream")
        request_hash = hashlib.sha256(f"{stream_id}:{amount}".encode()).hexdigest()
        existing = await self.fundings.of_key(funder_id, idempotency_key) if idempotency_key else None
        if existing is None:
            # Refusals that need no movement are answered before anything is written, so a failed
            # attempt leaves no funding and no ledger row behind.
            if not is_fundable(stream):
                raise Conflict(NOT_FUNDABLE)
            if await self.ledger.balance(funder_id) < amount:
                raise InsufficientCredits()
        funding = existing or await self._start(stream_id, funder_id, amount, idempotency_key, request_hash)
        if funding["requestHash"] != request_hash:
            raise Conflict("Idempotency-Key was already used with a different request")
        funding, counted = await self._run(funding)
        if funding.get("response") is not None:
            return funding["response"]  # a retry: the first answer, even if the stream changed since
        if funding["status"] != FundingStatus.completed:
            raise _failure(funding)
        # The stream as this funding left it (its own increment), like a synchronous write would show.
        answer = await present({**stream, **counted} if counted else stream)
        return await self.fundings.store_answer(funding["_id"], answer)

    async def _start(
        self, stream_id: ObjectId, funder_id: ObjectId, amount: int, key: str | None, request_hash: str
    ) -> dict[str, Any]:
        now = utcnow()
        funding, _ = await self.fundings.start(
            {
                "liveStreamId": stream_id,
                "userId": funder_id,
                "amount": amount,
                "idempotencyKey": key or f"auto:{uuid.uuid4().hex}",
                "requestHash": request_hash,
                "status": FundingStatus.pending.value,
                "response": None,
                "failure": None,
                "createdAt": now,
                "updatedAt": now,
            }
        )
        return funding

    async def drive(self, funding: dict[str, Any]) -> dict[str, Any]:
        """Run (or resume) the steps of one funding; returns it final. Safe to run concurrently."""
        return (await self._run(funding))[0]

    async def _run(self, funding: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """`drive`, also returning the stream's funding fields right after this funding was counted."""
        if funding["status"] in FINAL:
            return funding, None
        try:
            await self.ledger.apply(
                funding["userId"],
                amount=funding["amount"],
                direction=Direction.debit,
                type=TxType.live_stream_funding,
                idempotency_key=_debit_key(funding),
                reference={"kind": "liveStream", "id": str(funding["liveStreamId"])},
            )
        except InsufficientCredits:
            await self.fundings.finish(
                funding["_id"],
                (FundingStatus.pending,),
                FundingStatus.rejected,
                {"failure": "insufficient_credits"},
            )
            return await self._reload(funding), None
        amount = funding["amount"]

        def rule(stream: dict[str, Any]) -> Rule:
            if not is_fundable(stream):
                return Rule(REJECTED)
            return Rule(
                APPLIED,
                condition={"status": LiveStreamStatus.scheduled.value, "deletedAt": None},
                effect={"$inc": {"collectedFunding": amount}},
            )

        try:
            decided = await self.streams.decide_once(
                funding["liveStreamId"],
                funding["_id"],
                op_is_final=lambda: self.fundings.is_final(funding["_id"]),
                rule=rule,
                final_among=self.fundings.final_among,
                projection=STREAM_FIELDS,
            )
            outcome, counted = decided.outcome, decided.holder
        except NotFound:  # the stream document is gone altogether (never happens: deletes are soft)
            outcome, counted = REJECTED, None
        if outcome == APPLIED:
            await self.fundings.finish(funding["_id"], (FundingStatus.pending,), FundingStatus.completed)
        elif outcome == REJECTED:
            await self._give_back(funding, failure="not_fundable", voided=True)
        if outcome is not None:
            await self.streams.forget(funding["liveStreamId"], funding["_id"])
        return await self._reload(funding), (counted if outcome == APPLIED else None)

    async def _give_back(self, funding: dict[str, Any], failure: str | None, voided: bool = False) -> None:
        """Refund a debited funding once (the ledger key makes a second call a no-op)."""
        await self.ledger.apply(
            funding["userId"],
            amount=funding["amount"],
            direction=Direction.credit,
            type=TxType.live_stream_funding_refund,
            idempotency_key=_refund_key(funding),
            reference={"kind": "liveStream", "id": str(funding["liveStreamId"])},
        )
        if voided:  # never counted: for the funder this attempt did not happen
            await self.ledger.void(funding["userId"], [_debit_key(funding), _refund_key(funding)])
        extra = {"refundedAt": utcnow(), **({"failure": failure} if failure else {})}
        await self.fundings.finish(
            funding["_id"], (FundingStatus.pending, FundingStatus.completed), FundingStatus.refunded, extra
        )

    async def _reload(self, funding: dict[str, Any]) -> dict[str, Any]:
        current = await self.fundings.get(funding["_id"])
        assert current is not None
        return current

    # --- follow-ups of a stream's state change --------------------------------------------------------

    async def refund_all(self, stream: dict[str, Any]) -> int:
        """Refund every funding counted on a cancelled, deleted, expired (or goal-missed) stream.

        Fundings still in flight are first driven to their outcome: those counted before the status
        changed complete and are refunded here, the others reject (and refund) themselves."""
        refunded = 0
        for funding in await self.fundings.open_of_stream(stream["_id"]):
            funding = await self.drive(funding)
            if funding["status"] == FundingStatus.completed:
                await self._give_back(funding, failure=None)
                refunded += 1
        if refunded:
            log.info("fundings_refunded", stream_id=str(stream["_id"]), count=refunded)
        return refunded

    async def pay_out(self, stream: dict[str, Any]) -> None:
        """An ended stream: pay the collected credits to the creator (and guest) when the goal was
        reached, else refund the funders (all or nothing). Idempotent per payee."""
        for funding in await self.fundings.open_of_stream(stream["_id"]):
            await self.drive(funding)  # settle in-flight ones: collectedFunding is final afterwards
        current = await self.streams.get(stream["_id"], include_deleted=True)
        assert current is not None
        collected = int(current.get("collectedFunding") or 0)
        goal = int(current.get("fundingGoal") or 0)
        if collected <= 0:
            return
        if collected < goal:
            await self.refund_all(current)
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
                    type=TxType.live_stream_funding_payout,
                    idempotency_key=f"funding-payout:{stream['_id']}:{payee}",
                    reference={"kind": "liveStream", "id": str(stream["_id"])},
                )
        await self.streams.record_payout(stream["_id"], {**shares, "paidAt": utcnow()})
        log.info("funding_paid_out", stream_id=str(stream["_id"]), **shares)

    # --- reading and recovery -------------------------------------------------------------------------

    async def funded_stream_ids(self, user_id: ObjectId, limit: int) -> list[ObjectId]:
        return await self.fundings.funded_stream_ids(user_id, limit)

    async def resume_stale(self, older_than: datetime, limit: int = 100) -> int:
        """Roll forward fundings whose request died midway (called by the reconcile loop)."""
        stale = await self.fundings.stale_pending(older_than, limit)
        for funding in stale:
            await self.drive(funding)
        await self.streams.sweep(older_than - PRUNE_AFTER, self.fundings.final_among, limit)
        return len(stale)


def _failure(funding: dict[str, Any]) -> Exception:
    if funding.get("failure") == "insufficient_credits":
        return InsufficientCredits()
    return Conflict(NOT_FUNDABLE)
