"""Queries on reminders: one document per (user, stream), armed until fired or cancelled."""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.errors import Conflict
from app.core.repository import Repository
from app.core.timeutils import utcnow
from app.reminders.schemas import ARMED, ReminderStatus

_ARMED = [status.value for status in ARMED]


class ReminderRepository(Repository):
    collection_name = "reminders"
    shard_key = (("userId", 1),)
    indexes = [
        IndexModel([("userId", ASCENDING), ("liveStreamId", ASCENDING)], unique=True, name="reminder_unique"),
        IndexModel([("userId", ASCENDING), ("updatedAt", DESCENDING), ("_id", DESCENDING)], name="by_user"),
        IndexModel([("status", ASCENDING), ("scheduledFor", ASCENDING)], name="due_before_start"),
        # settleReminders of one stream (app.reminders.scheduler): its armed reminders.
        IndexModel([("status", ASCENDING), ("liveStreamId", ASCENDING)], name="armed_by_stream"),
    ]

    async def upsert(self, user_id: ObjectId, stream_id: ObjectId, fields: dict[str, Any]) -> dict[str, Any]:
        """Create or replace the caller's reminder for a stream. A fired reminder stays fired: the upsert
        skips it (its insert then clashes with the unique key) and the fired one is returned as it is."""
        key = {"userId": user_id, "liveStreamId": stream_id}
        now = utcnow()
        update = {
            "$set": {**fields, "firedAt": None, "cancelledAt": None, "updatedAt": now},
            "$setOnInsert": {"createdAt": now},
        }
        async with self.causal():  # the read after the clash sees the reminder that caused it
            armed = await self.upsert_returning(
                {**key, "status": {"$ne": ReminderStatus.fired.value}}, update
            )
            if armed is not None:
                return armed
            fired = await self.collection.find_one(key)
        if fired is None:  # the clash was with a fired reminder, removed since by a concurrent DELETE
            raise Conflict("the reminder was changed by another request; retry")
        return fired

    async def remove(self, user_id: ObjectId, stream_id: ObjectId) -> dict[str, Any] | None:
        return await self.collection.find_one_and_delete({"userId": user_id, "liveStreamId": stream_id})

    async def armed_among(self, user_id: ObjectId, stream_ids: list[ObjectId]) -> set[ObjectId]:
        if not stream_ids:
            return set()
        docs = await self.collection.find(
            {"userId": user_id, "liveStreamId": {"$in": stream_ids}, "status": {"$in": _ARMED}},
            {"liveStreamId": 1},
        ).to_list()
        return {doc["liveStreamId"] for doc in docs}

    async def of_user(
        self, user_id: ObjectId, status: ReminderStatus | None, limit: int
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"userId": user_id}
        if status is not None:
            query["status"] = status.value
        cursor = self.collection.find(query).sort([("updatedAt", DESCENDING), ("_id", DESCENDING)])
        return await cursor.limit(limit).to_list()

    # The three transitions below are conditional on the reminder still being armed, so a reminder is
    # fired (or cancelled) exactly once even when several passes run at the same time.

    async def fire_for_streams(self, stream_ids: list[ObjectId], now: datetime) -> int:
        if not stream_ids:
            return 0
        result = await self.collection.update_many(
            {"liveStreamId": {"$in": stream_ids}, "status": {"$in": _ARMED}},
            {"$set": {"status": ReminderStatus.fired.value, "firedAt": now, "updatedAt": now}},
        )
        return result.modified_count

    async def fire_due_before_start(self, now: datetime) -> int:
        result = await self.collection.update_many(
            {"status": ReminderStatus.armed_before_start.value, "scheduledFor": {"$lte": now}},
            {"$set": {"status": ReminderStatus.fired.value, "firedAt": now, "updatedAt": now}},
        )
        return result.modified_count

    async def cancel_for_streams(self, stream_ids: list[ObjectId], now: datetime) -> int:
        if not stream_ids:
            return 0
        result = await self.collection.update_many(
            {"liveStreamId": {"$in": stream_ids}, "status": {"$in": _ARMED}},
            {"$set": {"status": ReminderStatus.cancelled.value, "cancelledAt": now, "updatedAt": now}},
        )
        return result.modified_count
