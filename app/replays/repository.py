"""Queries on replay rentals: exactly one document per (user, stream), reactivated on re-rent."""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.repository import Repository


class ReplayRentalRepository(Repository):
    collection_name = "replay_rentals"
    indexes = [
        IndexModel([("userId", ASCENDING), ("liveStreamId", ASCENDING)], unique=True, name="rental_unique"),
        IndexModel([("userId", ASCENDING), ("rentedAt", DESCENDING)], name="by_user"),
        IndexModel([("liveStreamId", ASCENDING), ("status", ASCENDING)], name="by_stream"),
        IndexModel([("status", ASCENDING), ("expiresAt", ASCENDING)], name="by_expiry"),
    ]

    async def of_user_for(
        self, user_id: ObjectId, stream_ids: list[ObjectId]
    ) -> dict[ObjectId, dict[str, Any]]:
        if not stream_ids:
            return {}
        docs = await self.collection.find({"userId": user_id, "liveStreamId": {"$in": stream_ids}}).to_list()
        return {doc["liveStreamId"]: doc for doc in docs}


def rental_is_active(rental: dict[str, Any] | None, now: datetime) -> bool:
    return bool(rental and rental.get("status") == "active" and rental["expiresAt"] > now)
