"""Work the embedded engine does grows with the data, not faster: n rows against 2n rows.

No timing: the stored documents the engine tests are counted (deterministic). Linear work doubles with the data; a step that reads the whole collection once per row
quadruples. Issue 25: the cold most-watched ranking (first request without a snapshot) went from
1.4 s at 1x to 445 s at 10x because every query on the TTL-indexed rollup first tested every stored
row for expiry, and the recount asks one query per creator.
"""

import asyncio
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from mongomock_ng import collection as mongomock_collection
from mongomock_ng.store import CollectionStore

from app.core import embedded_index
from app.core.embedded import EmbeddedAsyncClient
from app.core.migrations import migrate_indexes
from app.core.timeutils import utcnow
from app.creators.service import publish_most_watched
from app.creators.viewer_repository import CreatorViewerCountRepository, CreatorViewerRepository

VIEWERS_PER_CREATOR = 12
# Linear work doubles (plus planning noise); a quadratic step makes the ratio approach 4.
MAX_GROWTH = 2.6


class Visits:
    """Stored documents the engine tests: mongomock's scan and the indexes' candidate checks
    (`filter_applies`), and TTL expiry's test of a document (`_value_meets_expiry`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for module in (mongomock_collection, embedded_index):
            monkeypatch.setattr(module, "filter_applies", self.counted(module.filter_applies))
        monkeypatch.setattr(
            CollectionStore, "_value_meets_expiry", self.counted(CollectionStore._value_meets_expiry)
        )

    def counted(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def visit(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return function(*args, **kwargs)

        return visit


def cold_ranking_visits(creators: int, visits: Visits) -> int:
    """Documents the engine visits publishing the ranking from `creators` creators' rollup rows (no counts yet:
    the backfill marks every creator, then every one is recounted), as the first request pays it."""
    rng = random.Random(creators)
    now = utcnow()
    client = EmbeddedAsyncClient(tz_aware=True, inline=True)
    db: Any = client["growth"]
    rows = [
        {
            "creatorId": creator_id,
            "viewerId": ObjectId(),
            "liveStreamId": ObjectId(),
            "lastSeenAt": now - timedelta(minutes=rng.randrange(60 * 24 * 29)),
        }
        for creator_id in (ObjectId() for _ in range(creators))
        for _ in range(VIEWERS_PER_CREATOR)
    ]
    for row in rows[VIEWERS_PER_CREATOR::VIEWERS_PER_CREATOR]:
        row["lastSeenAt"] = now - timedelta(days=30, hours=1)  # outside the window, not yet expired

    async def load() -> None:
        await migrate_indexes(db, [CreatorViewerRepository, CreatorViewerCountRepository])
        await db["creator_viewers"].insert_many(rows)

    asyncio.run(load())
    visits.count = 0
    ranked = asyncio.run(publish_most_watched(db, now))
    visited = visits.count
    assert len(ranked) == min(creators, 100)
    asyncio.run(client.close())
    return visited


@pytest.mark.parametrize("creators", [25])
def test_the_cold_ranking_grows_linearly_with_the_rollup(
    creators: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    visits = Visits(monkeypatch)
    small, large = cold_ranking_visits(creators, visits), cold_ranking_visits(2 * creators, visits)
    assert large / small <= MAX_GROWTH, (small, large)
