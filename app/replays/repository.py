"""Queries on replay rentals: exactly one document per (user, stream), reactivated on re-rent.

A rental row describes its current period (`rentalNumber`): `pending` while the renter is being
charged, `active` for the 24 h window, then `expired` (revenue distributed) or `refunded` (stream
deleted inside the window). `settlement` records which of the two claimed the period and `settledAt`
when its credits were fully moved, so a crashed settlement can be finished later and a period is
never both refunded and paid out.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from app.core.repository import Repository


class RentalState(StrEnum):
    pending = "pending"
    active = "active"
    expired = "expired"
    refunded = "refunded"


class Settlement(StrEnum):
    revenue = "revenue"
    refund = "refund"


REUSABLE = [RentalState.expired.value, RentalState.refunded.value]


class ReplayRentalRepository(Repository):
    collection_name = "replay_rentals"
    durable = True  # money: w:"majority", majority reads, primary (docs/decisions.md)
    required_indexes = ("rental_unique",)  # one rental per viewer and stream: charged once
    shard_key = (("userId", 1),)
    indexes = [
        IndexModel([("userId", ASCENDING), ("liveStreamId", ASCENDING)], unique=True, name="rental_unique"),
        IndexModel(
            [("userId", ASCENDING), ("rentedAt", DESCENDING), ("_id", DESCENDING)], name="by_user_rented"
        ),
        IndexModel([("liveStreamId", ASCENDING), ("status", ASCENDING)], name="by_stream"),
        IndexModel(
            [("status", ASCENDING), ("expiresAt", ASCENDING), ("_id", ASCENDING)], name="by_expiry_id"
        ),
        # stale_pending sorts (updatedAt, _id): the tie-breaker in the index, or mongod sorts in memory.
        IndexModel(
            [("status", ASCENDING), ("updatedAt", ASCENDING), ("_id", ASCENDING)], name="stale_pending_id"
        ),
        IndexModel(
            [
                ("settlement", ASCENDING),
                ("settledAt", ASCENDING),
                ("updatedAt", ASCENDING),
                ("_id", ASCENDING),
            ],
            name="unsettled_id",
        ),
    ]

    # pragma: no mutate start (not money: replay access)
    async def of_user_for(
        self, user_id: ObjectId, stream_ids: list[ObjectId]
    ) -> dict[ObjectId, dict[str, Any]]:
        if not stream_ids:
            return {}
        docs = await self.collection.find({"userId": user_id, "liveStreamId": {"$in": stream_ids}}).to_list()
        return {doc["liveStreamId"]: doc for doc in docs}

    # pragma: no mutate end

    async def find_of(self, user_id: ObjectId, stream_id: ObjectId) -> dict[str, Any] | None:
        return await self.collection.find_one({"userId": user_id, "liveStreamId": stream_id})

    # pragma: no mutate start (not money: listing)
    async def page_of_user(
        self, user_id: ObjectId, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Rentals that were ever active, newest first; rentals of deleted streams are left out."""
        query = {"userId": user_id, "rentedAt": {"$ne": None}, "streamDeletedAt": None}
        cursor = self.collection.find(query).sort([("rentedAt", DESCENDING), ("_id", DESCENDING)])
        return await cursor.skip(skip).limit(limit).to_list(), await self.page_total(query, skip, limit)

    # pragma: no mutate end

    # --- one period: claim → charge → activate ---------------------------------------------------------

    async def open(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """Insert the first period; None when a concurrent request inserted the row first."""
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            return None
        return doc

    async def store_answer(self, rental: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        """Keep the period's first answer; returns the one kept (ours or a concurrent twin's)."""
        period = {"userId": rental["userId"], "_id": rental["_id"], "rentalNumber": rental["rentalNumber"]}
        await self.collection.update_one({**period, "response": None}, {"$set": {"response": answer}})
        doc = await self.collection.find_one(period, {"response": 1})
        return doc["response"] if doc and doc.get("response") is not None else answer

    async def reopen(self, rental: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any] | None:
        """Start the next period on a settled expired/refunded row; None when another request won."""
        return await self._update(
            {
                "userId": rental["userId"],
                "_id": rental["_id"],
                "rentalNumber": rental["rentalNumber"],
                "status": {"$in": REUSABLE},
                "settledAt": {"$ne": None},
            },
            {"$set": {**fields, "previous": _settled_state(rental)}, "$inc": {"rentalNumber": 1}},
        )

    async def activate(
        self, rental: dict[str, Any], rented_at: datetime, expires_at: datetime
    ) -> dict[str, Any] | None:
        return await self._update(
            _pending(rental),
            {"$set": {"status": RentalState.active.value, "rentedAt": rented_at, "expiresAt": expires_at}},
        )

    async def abandon(self, rental: dict[str, Any]) -> None:
        """Undo a claim whose charge failed: a new row disappears, a reused row gets its old state back."""
        if rental.get("previous") is None:
            await self.collection.delete_one(_pending(rental))
        else:
            await self._update(_pending(rental), {"$set": {**rental["previous"], "idempotencyKey": None}})

    # --- settlement claims: whichever comes first owns the period ------------------------------------

    async def claim_revenue(self, rental: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        return await self._update(
            {
                "userId": rental["userId"],
                "_id": rental["_id"],
                "rentalNumber": rental["rentalNumber"],
                "status": RentalState.active.value,
                "settlement": None,
                "expiresAt": {"$lte": now},
            },
            {"$set": {"status": RentalState.expired.value, "settlement": Settlement.revenue.value}},
        )

    async def claim_refund(self, rental: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """Pending rentals, and active ones whose window is still open, can be refunded."""
        return await self._update(
            {
                "userId": rental["userId"],
                "_id": rental["_id"],
                "rentalNumber": rental["rentalNumber"],
                "settlement": None,
                "$or": [
                    {"status": RentalState.pending.value},
                    {"status": RentalState.active.value, "expiresAt": {"$gt": now}},
                ],
            },
            {
                "$set": {
                    "status": RentalState.refunded.value,
                    "settlement": Settlement.refund.value,
                    "refundedAt": now,
                }
            },
        )

    async def mark_settled(self, rental: dict[str, Any], now: datetime, extra: dict[str, Any]) -> None:
        await self._update(
            {
                "userId": rental["userId"],
                "_id": rental["_id"],
                "rentalNumber": rental["rentalNumber"],
                "settledAt": None,
            },
            {"$set": {"settledAt": now, **extra}},
        )

    async def mark_stream_deleted(self, stream_id: ObjectId, now: datetime) -> None:
        await self.collection.update_many(
            {"liveStreamId": stream_id, "streamDeletedAt": None}, {"$set": {"streamDeletedAt": now}}
        )

    # --- work lists of the settlement loop -------------------------------------------------------------

    async def open_of_stream(self, stream_id: ObjectId) -> list[dict[str, Any]]:
        return await self.collection.find(
            {
                "liveStreamId": stream_id,
                "status": {"$in": [RentalState.active.value, RentalState.pending.value]},
            }
        ).to_list()

    async def due_for_revenue(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find({"status": RentalState.active.value, "expiresAt": {"$lte": now}})
        return await cursor.sort([("expiresAt", ASCENDING), ("_id", ASCENDING)]).limit(limit).to_list()

    async def unsettled(self, older_than: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find(
            {
                "settlement": {"$in": [s.value for s in Settlement]},
                "settledAt": None,
                "updatedAt": {"$lte": older_than},
            }
        )
        return await cursor.sort([("updatedAt", ASCENDING), ("_id", ASCENDING)]).limit(limit).to_list()

    async def stale_pending(self, older_than: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find(
            {"status": RentalState.pending.value, "updatedAt": {"$lte": older_than}}
        )
        return await cursor.sort([("updatedAt", ASCENDING), ("_id", ASCENDING)]).limit(limit).to_list()


def _settled_state(rental: dict[str, Any]) -> dict[str, Any]:
    return {key: rental.get(key) for key in ("status", "settlement", "settledAt")}


def _pending(rental: dict[str, Any]) -> dict[str, Any]:
    return {
        "userId": rental["userId"],
        "_id": rental["_id"],
        "rentalNumber": rental["rentalNumber"],
        "status": RentalState.pending.value,
    }


def rental_is_active(rental: dict[str, Any] | None, now: datetime) -> bool:
    return bool(rental and rental.get("status") == RentalState.active and rental["expiresAt"] > now)
