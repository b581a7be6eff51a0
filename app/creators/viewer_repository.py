"""Queries on the creator-viewer rollup: (creator, viewer, stream) rows with the last time seen."""

from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.repository import Repository
from app.core.timeutils import utcnow


class CreatorViewerRepository(Repository):
    """(creator, viewer, stream) rows with the last time seen, written at join time.

    Most-watched creators is computed from this rollup, so its cost grows with distinct
    viewer-stream pairs in the window, not with raw join events (docs/decisions.md).
    """

    collection_name = "creator_viewers"
    indexes = [
        IndexModel(
            [("creatorId", ASCENDING), ("viewerId", ASCENDING), ("liveStreamId", ASCENDING)],
            unique=True,
            name="rollup_unique",
        ),
        IndexModel(
            [("lastSeenAt", DESCENDING), ("creatorId", ASCENDING), ("viewerId", ASCENDING)], name="window"
        ),
        IndexModel([("liveStreamId", ASCENDING)], name="by_stream"),
    ]

    async def touch(self, creator_id: ObjectId, viewer_id: ObjectId, stream_id: ObjectId) -> None:
        key = {"creatorId": creator_id, "viewerId": viewer_id, "liveStreamId": stream_id}
        await self.upsert_returning(key, {"$set": {"lastSeenAt": utcnow()}})

    async def forget_stream(self, stream_id: ObjectId) -> None:
        await self.collection.delete_many({"liveStreamId": stream_id})

    async def top_creators(self, since: datetime, limit: int) -> list[tuple[ObjectId, int]]:
        cursor = await self.collection.aggregate(
            [
                {"$match": {"lastSeenAt": {"$gte": since}}},
                {"$group": {"_id": {"c": "$creatorId", "v": "$viewerId"}}},
                {"$group": {"_id": "$_id.c", "viewers": {"$sum": 1}}},
                {"$sort": {"viewers": -1, "_id": 1}},
                {"$limit": limit},
            ]
        )
        return [(row["_id"], row["viewers"]) async for row in cursor]
