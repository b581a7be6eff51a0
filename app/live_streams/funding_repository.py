"""Queries on fundings: one document per (funder, Idempotency-Key)."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.repository import Repository
from app.core.timeutils import utcnow


class FundingStatus(StrEnum):
    pending = "pending"
    completed = "completed"  # debited and counted in the stream's collectedFunding
    rejected = "rejected"  # nothing moved (insufficient credits)
    refunded = "refunded"  # debited, then given back (stream cancelled/deleted/expired, goal missed, or
    # the stream closed before this funding was counted)


FINAL = (FundingStatus.completed, FundingStatus.rejected, FundingStatus.refunded)


class FundingRepository(Repository):
    collection_name = "fundings"
    indexes = [
        IndexModel([("userId", ASCENDING), ("idempotencyKey", ASCENDING)], unique=True, name="idempotency"),
        IndexModel(
            [("userId", ASCENDING), ("status", ASCENDING), ("createdAt", DESCENDING)], name="by_funder"
        ),
        IndexModel([("liveStreamId", ASCENDING), ("status", ASCENDING)], name="by_stream"),
        IndexModel([("status", ASCENDING), ("createdAt", ASCENDING)], name="pending_scan"),
    ]

    async def start(self, doc: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Insert a pending funding; returns (funding, created). An existing key returns the original."""
        return await self.insert_or_existing(doc, ("userId", "idempotencyKey"))

    async def of_key(self, user_id: ObjectId, key: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"userId": user_id, "idempotencyKey": key})

    async def finish(
        self,
        _id: ObjectId,
        from_statuses: tuple[FundingStatus, ...],
        status: FundingStatus,
        extra: dict[str, Any] | None = None,
    ) -> None:
        await self.collection.update_one(
            {"_id": _id, "status": {"$in": [s.value for s in from_statuses]}},
            {"$set": {"status": status.value, "updatedAt": utcnow(), **(extra or {})}},
        )

    async def store_answer(self, _id: ObjectId, answer: dict[str, Any]) -> dict[str, Any]:
        """Keep the first answer of a completed funding; returns the one kept (ours or an earlier one),
        which every retry with the same key gets as-is."""
        await self.collection.update_one({"_id": _id, "response": None}, {"$set": {"response": answer}})
        doc = await self.collection.find_one({"_id": _id}, {"response": 1})
        return doc["response"] if doc and doc.get("response") is not None else answer

    async def is_final(self, _id: ObjectId) -> bool:
        doc = await self.collection.find_one({"_id": _id}, {"status": 1})
        return doc is None or doc["status"] != FundingStatus.pending

    async def final_among(self, ids: list[str]) -> set[str]:
        docs = await self.collection.find(
            {"_id": {"$in": [ObjectId(i) for i in ids]}, "status": {"$ne": FundingStatus.pending.value}},
            {"_id": 1},
        ).to_list()
        return {str(doc["_id"]) for doc in docs}

    async def funded_stream_ids(self, user_id: ObjectId, limit: int) -> list[ObjectId]:
        """Streams the user funded, newest funding first, each once."""
        cursor = await self.collection.aggregate(
            [
                {"$match": {"userId": user_id, "status": FundingStatus.completed.value}},
                {"$sort": {"createdAt": -1, "_id": -1}},
                {"$group": {"_id": "$liveStreamId", "last": {"$first": "$createdAt"}}},
                {"$sort": {"last": -1, "_id": -1}},
                {"$limit": limit},
            ]
        )
        return [row["_id"] async for row in cursor]

    async def open_of_stream(self, stream_id: ObjectId) -> list[dict[str, Any]]:
        """Fundings of a stream that still hold (or may hold) the funder's credits."""
        statuses = [FundingStatus.pending.value, FundingStatus.completed.value]
        return await self.collection.find({"liveStreamId": stream_id, "status": {"$in": statuses}}).to_list()

    async def stale_pending(self, older_than: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find(
            {"status": FundingStatus.pending.value, "createdAt": {"$lte": older_than}}
        )
        return await cursor.sort("createdAt", ASCENDING).limit(limit).to_list()
