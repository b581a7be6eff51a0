"""Replay rentals (spec §4.3)."""

from typing import Any

import structlog

from app.core.timeutils import utcnow
from app.replays.repository import ReplayRentalRepository
from app.users.credits import CreditLedger, Direction, TxType

log = structlog.get_logger("app.replays")


async def refund_rentals_of_deleted_stream(db: Any, stream: dict[str, Any]) -> int:
    """A stream deleted inside a rental window refunds its active/pending rentals in full, once each."""
    rentals = ReplayRentalRepository(db)
    ledger = CreditLedger(db)
    now = utcnow()
    refunded = 0
    candidates = await rentals.collection.find(
        {"liveStreamId": stream["_id"], "status": {"$in": ["active", "pending"]}}
    ).to_list()
    for rental in candidates:
        if rental["status"] == "active" and rental["expiresAt"] <= now:
            continue  # the window closed before the delete: the renter got what they paid for
        await ledger.apply(
            rental["userId"],
            amount=rental["price"],
            direction=Direction.credit,
            type=TxType.replay_rental_refund,
            idempotency_key=f"rental-refund:{rental['_id']}:{rental['rentalNumber']}",
            reference={"kind": "liveStream", "id": str(stream["_id"])},
        )
        await rentals.collection.update_one(
            {"_id": rental["_id"], "rentalNumber": rental["rentalNumber"]},
            {"$set": {"status": "refunded", "refundedAt": now, "updatedAt": now}},
        )
        refunded += 1
    if refunded:
        log.info("rentals_refunded", stream_id=str(stream["_id"]), count=refunded)
    return refunded
