"""Queries on the creator-viewer rollup and the per-creator viewer counts built from it.

`creator_viewers` holds (creator, viewer, stream) rows with the last time seen, written at join time and
removed by a TTL index 31 days after the last visit (the ranking looks back 30). `creator_viewer_counts`
holds, per creator, the number of distinct viewers in the window and when that number next needs a
recount: at once after a join that brought a viewer into the window (or a deleted stream), otherwise when
the earliest counted viewer leaves the window. The ranking job recounts only those creators, from their own
rows (in batches), so a pass costs what changed, not 30 days of rows (docs/decisions.md, "Most-watched rollup").
"""

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.core.repository import Repository
from app.core.timeutils import utcnow

RANKING_WINDOW = timedelta(days=30)
ROLLUP_TTL = timedelta(days=31)  # a day more than the window: a row is never removed while it counts
BACKFILL_MARKER = "backfill"


class CreatorViewerRepository(Repository):
    """(creator, viewer, stream) rows with the last time seen; the truth behind the viewer counts."""

    collection_name = "creator_viewers"
    shard_key = (("creatorId", 1), ("viewerId", 1))
    indexes = [
        IndexModel(
            [("creatorId", ASCENDING), ("viewerId", ASCENDING), ("liveStreamId", ASCENDING)],
            unique=True,
            name="rollup_unique",
        ),
        IndexModel(
            [("lastSeenAt", ASCENDING)], expireAfterSeconds=int(ROLLUP_TTL.total_seconds()), name="seen_ttl"
        ),
        IndexModel([("liveStreamId", ASCENDING)], name="by_stream"),
    ]

    async def touch(self, creator_id: ObjectId, viewer_id: ObjectId, stream_id: ObjectId) -> bool:
        """Record a visit; True when it may have brought a new viewer into the creator's window."""
        now = utcnow()
        key = {"creatorId": creator_id, "viewerId": viewer_id, "liveStreamId": stream_id}
        update = {"$set": {"lastSeenAt": now}}
        try:
            before = await self.collection.find_one_and_update(
                key, update, upsert=True, return_document=ReturnDocument.BEFORE
            )
        except DuplicateKeyError:  # a concurrent first visit inserted it: this one is a repeat
            await self.collection.update_one(key, update)
            return False
        return before is None or before["lastSeenAt"] < now - RANKING_WINDOW

    async def forget_stream(self, stream_id: ObjectId) -> list[ObjectId]:
        """Drop a deleted stream's rows; returns the creators whose counts it touched."""
        creators = await self.collection.distinct("creatorId", {"liveStreamId": stream_id})
        await self.collection.delete_many({"liveStreamId": stream_id})
        return creators

    async def creators_after(self, after: ObjectId | None, limit: int) -> list[ObjectId]:
        """The next `limit` creators with rows, in id order after `after`: one index seek each on the
        `rollup_unique` prefix (no `distinct`, whose single answer document is capped at 16 MB, and a
        bounded amount of work per call, whatever the number of creators)."""
        found: list[ObjectId] = []
        while len(found) < limit:
            query = {"creatorId": {"$gt": after}} if after is not None else {}
            row = await self.collection.find_one(query, {"creatorId": 1}, sort=[("creatorId", ASCENDING)])
            if row is None:
                break
            after = row["creatorId"]
            found.append(row["creatorId"])
        return found

    async def windows_of(
        self, creator_ids: list[ObjectId], since: datetime
    ) -> dict[ObjectId, tuple[int, datetime]]:
        """Per creator with viewers seen since `since`: (distinct viewers, the earliest of their latest
        visits). One query for a batch of creators: a recount pass reads the rows once, not once per
        creator (the embedded engine has no index to narrow each read with)."""
        cursor = await self.collection.aggregate(
            [
                {"$match": {"creatorId": {"$in": creator_ids}, "lastSeenAt": {"$gte": since}}},
                {
                    "$group": {
                        # A string key: the embedded engine sorts group keys, and compares documents slowly.
                        "_id": {"$concat": [{"$toString": "$creatorId"}, ":", {"$toString": "$viewerId"}]},
                        "creator": {"$first": "$creatorId"},
                        "latest": {"$max": "$lastSeenAt"},
                    }
                },
                {"$group": {"_id": "$creator", "viewers": {"$sum": 1}, "earliest": {"$min": "$latest"}}},
            ]
        )
        return {
            row["_id"]: (row["viewers"], row["earliest"]) for row in await cursor.to_list() if row["viewers"]
        }


class CreatorViewerCountRepository(Repository):
    """`{_id: creatorId, viewers, refreshAt, changes}`: distinct viewers in the window, per creator.

    `changes` counts the marks a recount must have seen: a recount stores its result only if no join
    marked the creator meanwhile, so a concurrent join is never lost (it is recounted next pass).
    """

    collection_name = "creator_viewer_counts"
    indexes = [
        IndexModel([("refreshAt", ASCENDING)], sparse=True, name="refresh_due"),
        IndexModel([("viewers", DESCENDING), ("_id", ASCENDING)], name="ranking"),
    ]

    async def mark(self, creator_id: ObjectId, at: datetime) -> None:
        """The creator's count must be recounted from `at` on."""
        update = {"$min": {"refreshAt": at}, "$inc": {"changes": 1}}
        try:
            await self.collection.update_one({"_id": creator_id}, update, upsert=True)
        except DuplicateKeyError:
            await self.collection.update_one({"_id": creator_id}, update)

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find({"refreshAt": {"$lte": now}}).sort("refreshAt", ASCENDING)
        return await cursor.limit(limit).to_list()

    async def store(
        self, seen: dict[str, Any], viewers: int, refresh_at: datetime | None, now: datetime
    ) -> bool:
        """Store a recount unless the creator was marked again since `seen` was read."""
        query = {"_id": seen["_id"], "changes": seen.get("changes", 0)}
        if viewers == 0:
            deleted = await self.collection.delete_one(query)
            return deleted.deleted_count == 1
        update: dict[str, Any] = {"$set": {"viewers": viewers, "computedAt": now, "refreshAt": refresh_at}}
        updated = await self.collection.update_one(query, update)
        return updated.matched_count == 1

    async def top(self, limit: int) -> list[tuple[ObjectId, int]]:
        cursor = self.collection.find({"viewers": {"$gt": 0}}, {"viewers": 1})
        docs = await cursor.sort([("viewers", DESCENDING), ("_id", ASCENDING)]).limit(limit).to_list()
        return [(doc["_id"], doc["viewers"]) for doc in docs]

    async def backfill_state(self) -> tuple[bool, ObjectId | None]:
        """(done, the last creator marked so far): the backfill resumes where the last pass stopped."""
        marker = await self.collection.find_one({"_id": BACKFILL_MARKER}, {"doneAt": 1, "after": 1})
        if marker is None:
            return False, None
        return marker.get("doneAt") is not None, marker.get("after")

    async def backfill_progress(self, after: ObjectId, now: datetime) -> None:
        await self.collection.update_one(
            {"_id": BACKFILL_MARKER}, {"$set": {"after": after, "updatedAt": now}}, upsert=True
        )

    async def mark_backfilled(self, now: datetime) -> None:
        await self.collection.update_one({"_id": BACKFILL_MARKER}, {"$set": {"doneAt": now}}, upsert=True)
