"""Queries on fundings: the contributions of a stream's crowd-funding pot."""

from bson import ObjectId

from app.live_streams.pots import ContributionRepository, ContributionStatus


class FundingRepository(ContributionRepository):
    collection_name = "fundings"

    # pragma: no mutate block (not money: listing)
    async def funded_stream_ids(self, user_id: ObjectId, limit: int) -> list[ObjectId]:
        """Streams the user funded, newest funding first, each once."""
        cursor = await self.collection.aggregate(
            [
                {"$match": {"userId": user_id, "status": ContributionStatus.completed.value}},
                {"$sort": {"createdAt": -1, "_id": -1}},
                {"$group": {"_id": "$liveStreamId", "last": {"$first": "$createdAt"}}},
                {"$sort": {"last": -1, "_id": -1}},
                {"$limit": limit},
            ]
        )
        return [row["_id"] async for row in cursor]
