"""Queries on ranking snapshots: precomputed rankings shared by every replica."""

from datetime import datetime

from bson import ObjectId

from app.core.repository import Repository

MOST_WATCHED = "most_watched_creators_30d"


class RankingSnapshotRepository(Repository):
    """Precomputed rankings shared by every replica: `{_id: name, creators: [[id, viewers]…], computedAt}`."""

    collection_name = "ranking_snapshots"

    async def save(self, name: str, creators: list[tuple[ObjectId, int]], computed_at: datetime) -> None:
        await self.collection.update_one(
            {"_id": name},
            {"$set": {"creators": [[c, n] for c, n in creators], "computedAt": computed_at}},
            upsert=True,
        )

    async def invalidate(self, name: str) -> None:
        await self.collection.delete_one({"_id": name})
