"""Queries on `live_stream_bans`: at most one active ban per (stream, target user)."""

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.repository import Repository
from app.core.timeutils import utcnow
from app.users.repository import UserRepository

ALREADY_BANNED = "this user already has an active ban on this stream"
# A BLOCK ban closes the user's participations at once and once more this long after (recovery pass):
# longer than a join request lives, so a join that read "no ban" and died before re-checking (or a ban
# request that died before closing anything) leaves no present participation behind.
CLOSE_JOINS_AFTER = timedelta(minutes=1)


class BanRepository(Repository):
    """Soft-deleted on lift. `isActive: true` marks the live ban; a partial unique index on it makes
    "one active ban per (stream, target)" a database rule instead of a read-then-write check."""

    collection_name = "live_stream_bans"
    soft_delete = True
    indexes = [
        IndexModel(
            [("liveStreamId", ASCENDING), ("targetUserId", ASCENDING)],
            unique=True,
            partialFilterExpression={"isActive": True},
            name="one_active_ban",
        ),
        IndexModel(
            [
                ("createdBy", ASCENDING),
                ("deletedAt", ASCENDING),
                ("createdAt", DESCENDING),
                ("_id", DESCENDING),
            ],
            name="bans_of_creator_id",
        ),
        IndexModel([("closeJoinsAt", ASCENDING)], sparse=True, name="close_joins_due"),
    ]
    duplicate_messages = {"liveStreamId": ALREADY_BANNED, "targetUserId": ALREADY_BANNED}

    async def active(self, stream_id: ObjectId, user_id: ObjectId) -> dict[str, Any] | None:
        return await self.collection.find_one(
            {"liveStreamId": stream_id, "targetUserId": user_id, "isActive": True}
        )

    async def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        doc = {
            **fields,
            **({"closeJoinsAt": now + CLOSE_JOINS_AFTER} if fields["actionType"] == "BLOCK" else {}),
            "isActive": True,
            "deletedAt": None,
            "deletedBy": None,
            "createdAt": now,
            "updatedAt": now,
        }
        return await self.insert(doc)

    async def upgrade_to_block(self, _id: ObjectId, reason: str | None) -> dict[str, Any] | None:
        """CHAT_ONLY → BLOCK in place; None when the ban is no longer an active CHAT_ONLY one."""
        fields: dict[str, Any] = {"actionType": "BLOCK", "closeJoinsAt": utcnow() + CLOSE_JOINS_AFTER}
        if reason is not None:
            fields["reason"] = reason
        return await self._update({"_id": _id, "isActive": True, "actionType": "CHAT_ONLY"}, {"$set": fields})

    async def lift(self, _id: ObjectId, by: ObjectId) -> dict[str, Any] | None:
        return await self._update(
            {"_id": _id, "isActive": True},
            {
                "$set": {"deletedAt": utcnow(), "deletedBy": by},
                "$unset": {"isActive": "", "closeJoinsAt": ""},
            },
        )

    async def closing_joins_due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """BLOCK bans whose second closing of participations is due (`close_joins_due`)."""
        cursor = self.collection.find({"closeJoinsAt": {"$lte": now}})
        return await cursor.sort("closeJoinsAt", ASCENDING).limit(limit).to_list()

    async def joins_closed(self, _id: ObjectId, at: datetime) -> None:
        await self.collection.update_one({"_id": _id, "closeJoinsAt": at}, {"$unset": {"closeJoinsAt": ""}})

    async def page_of_creator(
        self,
        creator_id: ObjectId,
        filters: dict[str, Any],
        created_from: datetime | None,
        created_to: datetime | None,
        skip: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int]:
        query = self.scoped({"createdBy": creator_id, **filters})
        if created_from or created_to:
            query["createdAt"] = {
                **({"$gte": created_from} if created_from else {}),
                **({"$lte": created_to} if created_to else {}),
            }
        cursor = self.collection.find(query).sort([("createdAt", DESCENDING), ("_id", DESCENDING)])
        docs = await cursor.skip(skip).limit(limit).to_list()
        return docs, await self.page_total(query, skip, limit)


class BanTargetLookup(UserRepository):
    """Resolves the `targetUser` filter (an ObjectId or a username) on the users collection.

    A subclass without its own `collection_name`: it shares UserRepository's registration and indexes
    (`username_unique` backs this query) instead of declaring the collection twice.
    """

    async def id_of_username(self, username: str) -> ObjectId | None:
        doc = await self.collection.find_one(
            self.scoped({"usernameLower": username.lower()}, include_deleted=True), {"_id": 1}
        )
        return doc["_id"] if doc else None
