"""Paid entry: the entry price of a paid stream, charged once per (viewer, stream) on the first
audience join, held in the stream's entry pot (`pots.py`) and paid out like replay revenue when the
stream ends.

Entries are only taken while the stream is `active` (joining needs it), so a stream cancelled or
deleted before it started never holds one; an entry decided after the stream ended is refunded at once.
Re-joins are free; the creator, guests and broadcasters never pay.
"""

import hashlib
import math
from collections.abc import Mapping
from typing import Any

from bson import ObjectId

from app.core.errors import Conflict, ErrorCode, InsufficientCredits
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.pots import ContributionRepository, ContributionStatus, Pot, PotKind
from app.live_streams.schemas import AccessType, LiveStreamStatus
from app.users.credits import CreditLedger, TxType


def is_admitting(stream: Mapping[str, Any]) -> bool:
    return stream["status"] == LiveStreamStatus.active and stream.get("deletedAt") is None


def entry_price(stream: LiveStreamDocument) -> int:
    """Whole credits: a price with decimals (Allmine's `9.99`) is charged rounded up (10)."""
    price = stream.get("price")
    if stream.get("accessType") != AccessType.paid or not price:
        return 0
    return math.ceil(price)


PAID_ENTRY = PotKind(
    name="entry",
    counter="entryRevenue",
    payout_field="entryPayout",
    debit=TxType.live_stream_entry,
    refund=TxType.live_stream_entry_refund,
    payout=TxType.live_stream_entry_revenue,
    is_open=is_admitting,
    open_condition=lambda: {"status": LiveStreamStatus.active.value},
)


class EntryRepository(ContributionRepository):
    collection_name = "stream_entries"

    async def paid(self, user_id: ObjectId, stream_id: ObjectId) -> bool:
        doc = await self.collection.find_one(
            {"userId": user_id, "liveStreamId": stream_id, "status": ContributionStatus.completed.value},
            {"_id": 1},
        )
        return doc is not None

    async def paid_or_paying(self, user_id: ObjectId, stream_id: ObjectId) -> bool:
        """Paid, or an entry in flight (a concurrent first join is charging it)."""
        statuses = [ContributionStatus.completed.value, ContributionStatus.pending.value]
        doc = await self.collection.find_one(
            {"userId": user_id, "liveStreamId": stream_id, "status": {"$in": statuses}}, {"_id": 1}
        )
        return doc is not None

    async def failed_attempts(self, user_id: ObjectId, stream_id: ObjectId) -> int:
        statuses = [ContributionStatus.rejected.value, ContributionStatus.refunded.value]
        return await self.collection.count_documents(
            {"userId": user_id, "liveStreamId": stream_id, "status": {"$in": statuses}}
        )


class EntryService:
    def __init__(self, db: Any) -> None:
        self.entries = EntryRepository(db)
        self.ledger = CreditLedger(db)
        self.pot = Pot(db, PAID_ENTRY, self.entries)

    async def precheck(self, stream: LiveStreamDocument, viewer_id: ObjectId) -> None:
        """Refuse a viewer who could not pay the entry, before the join writes anything."""
        price = entry_price(stream)
        if price <= 0 or await self.entries.paid(viewer_id, stream["_id"]):
            return
        # Too few credits for a second entry, but a concurrent first join paid or is paying this one:
        # not a refusal (`admit` shares that join's entry).
        if await self.ledger.balance(viewer_id) < price and not await self.entries.paid_or_paying(
            viewer_id, stream["_id"]
        ):
            raise InsufficientCredits()

    async def admit(self, stream: LiveStreamDocument, viewer_id: ObjectId) -> None:
        """Charge the entry price unless this viewer already paid for this stream.

        Concurrent first joins share one key (`entry:{streamId}:{attempt}`), so they drive one entry and
        the viewer pays once; after a refused attempt the next join is a new attempt."""
        price = entry_price(stream)
        if price <= 0 or await self.entries.paid(viewer_id, stream["_id"]):
            return
        attempt = await self.entries.failed_attempts(viewer_id, stream["_id"])
        key = f"entry:{stream['_id']}:{attempt}"
        entry = await self.entries.of_key(viewer_id, key)
        if entry is None and await self.ledger.balance(viewer_id) < price:
            # Too few credits for an entry of our own; a concurrent first join may have taken this
            # attempt's entry since our first read (it is what took the credits): share it.
            entry = await self.entries.of_key(viewer_id, key)
            if entry is None:
                raise InsufficientCredits()  # answered before the movement is written
        if entry is None:
            request_hash = hashlib.sha256(f"{stream['_id']}:{price}".encode()).hexdigest()
            entry = await self.pot.start(stream["_id"], viewer_id, price, key, request_hash)
        entry = await self.pot.drive(entry)
        if entry["status"] == ContributionStatus.completed:
            return
        if entry.get("failure") == "insufficient_credits":
            raise InsufficientCredits()
        raise Conflict(
            f"the stream is {LiveStreamStatus.ended.value} and cannot be joined",
            code=ErrorCode.INVALID_STREAM_STATE,
        )

    async def pay_out(self, stream: LiveStreamDocument) -> None:
        await self.pot.pay_out(stream)

    async def resume_stale(self, older_than: Any, limit: int = 100) -> int:
        return await self.pot.resume_stale(older_than, limit)
