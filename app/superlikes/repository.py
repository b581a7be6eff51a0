"""Queries on superlikes: one document per (sender, Idempotency-Key)."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.repository import Repository
from app.core.timeutils import utcnow


class SuperlikeStatus(StrEnum):
    pending = "pending"
    completed = "completed"  # the sender paid and the creator (and guest) got their shares
    rejected = "rejected"  # nothing moved (insufficient credits)


class SuperlikeRepository(Repository):
    collection_name = "superlikes"
    durable = True  # money: w:"majority", majority reads, primary (docs/decisions.md)
    required_indexes = ("idempotency",)
    shard_key = (("senderId", 1),)
    indexes = [
        IndexModel([("senderId", ASCENDING), ("idempotencyKey", ASCENDING)], unique=True, name="idempotency"),
        IndexModel([("liveStreamId", ASCENDING), ("createdAt", DESCENDING)], name="by_stream"),
        IndexModel([("status", ASCENDING), ("createdAt", ASCENDING)], name="pending_scan"),
    ]

    async def start(self, doc: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        return await self.insert_or_existing(doc, ("senderId", "idempotencyKey"))

    async def of_key(self, sender_id: ObjectId, key: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"senderId": sender_id, "idempotencyKey": key})

    async def finish(self, _id: ObjectId, status: SuperlikeStatus) -> dict[str, Any] | None:
        await self.collection.update_one(
            {"_id": _id, "status": SuperlikeStatus.pending.value},
            {"$set": {"status": status.value, "updatedAt": utcnow()}},
        )
        return await self.collection.find_one({"_id": _id})

    async def stale_pending(self, older_than: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find(
            {"status": SuperlikeStatus.pending.value, "createdAt": {"$lte": older_than}}
        )
        return await cursor.sort("createdAt", ASCENDING).limit(limit).to_list()
