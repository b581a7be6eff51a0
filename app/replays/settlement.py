"""Money of replay rentals (docs/contract.md, replays; docs/money.md): charge, refund, revenue split. Every step is idempotent.

Without multi-document transactions, a rental period moves credits through ledger movements keyed by
(rental id, rental number), so running a step twice never moves credits twice:

* charge  `replay-rental:{rentalId}:{n}`  (renter, debit)
* refund  `rental-refund:{rentalId}:{n}`  (renter, credit; also used by the stream delete)
* revenue `rental-revenue:{rentalId}:{n}:{creator|guest}` once the 24 h window has closed:
  solo 80 % creator; duocrowd/duoself 40 % creator + 40 % guest; the platform keeps the rest
  (20 % plus the rounding of whole credits) and is credited to no account.

`RentalSettlement.run_once(now)` is the leased background pass: it pays out closed windows and
finishes periods a crashed process left half-way (stale `pending` charges, unsettled claims).
"""

from datetime import datetime, timedelta
from typing import Any

import structlog

from app.core.db import Database
from app.core.errors import AppError, Conflict, InsufficientCredits, NotFound
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import LiveStreamType
from app.replays.repository import RentalState, ReplayRentalRepository, Settlement
from app.users.credits import CreditLedger, Direction, TxType

log = structlog.get_logger("app.replays")

LEASE = "replay-settlement"
RENTAL_WINDOW = timedelta(hours=24)
STALE_AFTER = timedelta(minutes=1)  # a request that has not finished its steps by then has died
BATCH = 200
PERCENT = {  # (creator, guest) shares of the price; the remainder is the platform's
    LiveStreamType.solo: (80, 0),
    LiveStreamType.duocrowd: (40, 40),
    LiveStreamType.duoself: (40, 40),
}


def revenue_shares(price: int, stream_type: str, has_guest: bool) -> dict[str, int]:
    creator_pct, guest_pct = PERCENT[LiveStreamType(stream_type)]
    creator = price * creator_pct // 100
    guest = price * guest_pct // 100 if has_guest else 0
    return {"creator": creator, "guest": guest, "platform": price - creator - guest}


def _period(rental: dict[str, Any]) -> str:
    return f"{rental['_id']}:{rental['rentalNumber']}"


class RentalSettlement:
    def __init__(self, db: Database) -> None:
        self.rentals = ReplayRentalRepository(db)
        self.streams = LiveStreamRepository(db)
        self.ledger = CreditLedger(db)

    async def complete(self, rental: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Charge a pending period and open its 24 h window (also resumes a half-done one).

        The stream admits the rental first: a rental admitted before a delete is refunded by the delete's
        follow-up, one that comes after it is abandoned here without a charge."""
        async with self.rentals.causal():  # the read after a lost activation sees our own writes
            return await self._complete(rental, now)

    async def _complete(self, rental: dict[str, Any], now: datetime) -> dict[str, Any]:
        if not await self.streams.admit_rental(rental["liveStreamId"]):
            claimed = await self.rentals.claim_refund(rental, now)
            if claimed is not None:  # settle it like the delete's own follow-up would
                await self.refund(claimed, now)
            raise NotFound()
        try:
            await self._charge(rental)
        except InsufficientCredits:
            await self.rentals.abandon(rental)
            raise
        active = await self.rentals.activate(rental, now, now + RENTAL_WINDOW)
        if active is not None:
            return active
        current = await self.rentals.get(rental["_id"])
        if current is None or current["rentalNumber"] != rental["rentalNumber"]:
            raise Conflict("the rental changed meanwhile; try again")
        if current["status"] == RentalState.active:
            return current  # an identical concurrent request activated it
        if current.get("settlement") == Settlement.refund:
            await self.refund(current, now)  # the stream was deleted while we were charging
            raise NotFound()
        raise Conflict("the rental changed meanwhile; try again")

    async def refund(self, rental: dict[str, Any], now: datetime) -> None:
        """Give the period's price back once. The charge step runs first (it is a no-op when already
        done), so a refund never pays back credits that were not taken."""
        try:
            await self._charge(rental)
        except InsufficientCredits:
            pass  # the renter was never charged: nothing to give back
        else:
            await self.ledger.apply(
                rental["userId"],
                amount=rental["price"],
                direction=Direction.credit,
                type=TxType.replay_rental_refund,
                idempotency_key=f"rental-refund:{_period(rental)}",
                reference={"kind": "liveStream", "id": str(rental["liveStreamId"])},
            )
        await self.rentals.mark_settled(rental, now, {})

    async def distribute(self, rental: dict[str, Any], now: datetime) -> None:
        shares = revenue_shares(rental["price"], rental["liveStreamType"], rental.get("guestId") is not None)
        for payee, user_id in (("creator", rental["creatorId"]), ("guest", rental.get("guestId"))):
            if user_id is None or shares[payee] <= 0:
                continue
            await self.ledger.apply(
                user_id,
                amount=shares[payee],
                direction=Direction.credit,
                type=TxType.replay_rental_revenue,
                idempotency_key=f"rental-revenue:{_period(rental)}:{payee}",
                reference={"kind": "liveStream", "id": str(rental["liveStreamId"])},
            )
        await self.rentals.mark_settled(rental, now, {"revenueShares": shares})

    async def settle_expired(self, rental: dict[str, Any], now: datetime) -> bool:
        """Pay out a period whose window has closed; False when it was not due or already claimed."""
        claimed = await self.rentals.claim_revenue(rental, now)
        if claimed is None:
            return False
        await self.distribute(claimed, now)
        return True

    async def refund_deleted_stream(self, stream: LiveStreamDocument, now: datetime) -> int:
        """Refund every pending rental and every active one still inside its window, once each."""
        await self.rentals.mark_stream_deleted(stream["_id"], now)
        refunded = 0
        for rental in await self.rentals.open_of_stream(stream["_id"]):
            claimed = await self.rentals.claim_refund(rental, now)
            if claimed is not None:  # None: the window had closed (revenue's) or another pass won
                await self.refund(claimed, now)
                refunded += 1
        if refunded:
            log.info("rentals_refunded", stream_id=str(stream["_id"]), count=refunded)
        return refunded

    async def run_once(self, now: datetime) -> int:
        """One background pass; returns how many closed windows it paid out."""
        paid = 0
        for rental in await self.rentals.due_for_revenue(now, BATCH):
            paid += await self.settle_expired(rental, now)
        stale = now - STALE_AFTER
        for rental in await self.rentals.unsettled(stale, BATCH):
            if rental["settlement"] == Settlement.revenue:
                await self.distribute(rental, now)
            else:
                await self.refund(rental, now)
        for rental in await self.rentals.stale_pending(stale, BATCH):
            try:
                await self.complete(rental, now)
            except AppError as exc:  # insufficient credits, stream deleted, changed meanwhile: handled
                log.warning(
                    "stale_rental_not_completed",
                    rental_id=str(rental["_id"]),
                    user_id=str(rental["userId"]),
                    stream_id=str(rental["liveStreamId"]),
                    reason=exc.detail or type(exc).__name__,
                )
        if paid:
            log.info("rental_revenue_distributed", count=paid)
        return paid

    async def _charge(self, rental: dict[str, Any]) -> None:
        await self.ledger.apply(
            rental["userId"],
            amount=rental["price"],
            direction=Direction.debit,
            type=TxType.replay_rental,
            idempotency_key=f"replay-rental:{_period(rental)}",
            reference={"kind": "liveStream", "id": str(rental["liveStreamId"])},
        )
