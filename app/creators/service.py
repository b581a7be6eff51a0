"""Creators: the most-watched ranking, computed from the creator-viewer rollup."""

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from app.creators.ranking_repository import MOST_WATCHED, RankingSnapshotRepository
from app.creators.viewer_repository import CreatorViewerRepository

RANKING_WINDOW = timedelta(days=30)
RANKING_SIZE = 100  # the largest `limit` a caller may ask for


async def publish_most_watched(db: Any, now: datetime) -> list[tuple[ObjectId, int]]:
    """Recompute the most-watched ranking from the rollup and publish it for every replica."""
    ranked = await CreatorViewerRepository(db).top_creators(now - RANKING_WINDOW, RANKING_SIZE)
    await RankingSnapshotRepository(db).save(MOST_WATCHED, ranked, now)
    return ranked


class RankingService:
    def __init__(self, db: Any) -> None:
        self.viewers = CreatorViewerRepository(db)
        self.rankings = RankingSnapshotRepository(db)

    async def forget_stream(self, stream_id: ObjectId) -> None:
        """A deleted stream leaves the rollup, and the published ranking is recomputed on next read."""
        await self.viewers.forget_stream(stream_id)
        await self.rankings.invalidate(MOST_WATCHED)
