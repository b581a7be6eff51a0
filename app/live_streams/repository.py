"""Queries on live streams."""

from bson import ObjectId
from pymongo import ASCENDING, IndexModel

from app.core.repository import Repository


class LiveStreamRepository(Repository):
    collection_name = "live_streams"
    soft_delete = True
    indexes = [
        IndexModel([("channelName", ASCENDING)], unique=True, name="channel_unique"),
        IndexModel(
            [("creatorId", ASCENDING), ("deletedAt", ASCENDING), ("status", ASCENDING)], name="by_creator"
        ),
    ]

    async def count_by_creator(self, creator_id: ObjectId) -> int:
        return await self.collection.count_documents(self.scoped({"creatorId": creator_id}))
