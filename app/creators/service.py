"""Creators: a user's stats (follows and streams) and the most-watched ranking, computed from the
creator-viewer rollup that joins feed (`RankingService.viewer_joined`, wired in `app.flows`)."""

import asyncio
import time
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError

from app.core.db import Database
from app.core.security import AuthenticatedUser
from app.core.timeutils import utcnow
from app.creators.ranking_repository import MOST_WATCHED, RankingSnapshotRepository
from app.creators.viewer_repository import (
    RANKING_WINDOW,
    CreatorViewerCountRepository,
    CreatorViewerRepository,
)
from app.live_streams.repository import LiveStreamRepository
from app.users.repository import FollowRepository, UserRepository

RANKING_SIZE = 100  # the largest `limit` a caller may ask for
RECOUNTS_PER_PASS = 1000  # creators recounted per pass at most; the rest stay due for the next one
RECOUNT_BATCH = 500  # creators whose windows one query reads at most (a batch's rows are read once)
# A batch query must end well inside the operation budget (MONGODB_TIMEOUT_MS, 8 s by default): a batch of
# busy creators holds millions of rows. The batch halves when one times out (down to one creator) or took
# more than this share of the budget, and grows back (doubling) after quick ones.
RECOUNT_SLOW_SHARE = 0.25
BACKFILL_PER_PASS = 500  # creators the backfill marks per pass (one index seek each); resumed next pass


async def recount_viewers(db: Database, now: datetime, budget_seconds: float = 8.0) -> int:
    """Recount the creators whose window changed (a new viewer, a deleted stream, a viewer aging out).

    Each recount reads one creator's rows; the result is stored only if no join marked the creator
    meanwhile, so it is correct with overlapping passes and resumes after a crash (marks stay due).
    """
    rollup, counts = CreatorViewerRepository(db), CreatorViewerCountRepository(db)
    await _backfill(rollup, counts, now)
    recounted, batch = 0, RECOUNT_BATCH
    while recounted < RECOUNTS_PER_PASS:
        asked = min(batch, RECOUNTS_PER_PASS - recounted)
        due = await counts.due(now, asked)
        if not due:
            break
        started = time.monotonic()
        try:
            windows = await rollup.windows_of([seen["_id"] for seen in due], now - RANKING_WINDOW)
        except PyMongoError as exc:
            if not exc.timeout or len(due) == 1:
                raise
            batch = max(1, len(due) // 2)  # too many rows for one query's budget: fewer creators
            continue
        batch = _next_batch(batch, len(due), time.monotonic() - started, budget_seconds)
        for seen in due:
            viewers, earliest = windows.get(seen["_id"], (0, None))
            refresh_at = earliest + RANKING_WINDOW if earliest is not None else None
            if not await counts.store(seen, viewers, refresh_at, now):
                continue  # marked again meanwhile: still due, recounted by a later pass
        recounted += len(due)
        if len(due) < asked:
            break
    return recounted


def _next_batch(batch: int, used: int, took: float, budget_seconds: float) -> int:
    if took > budget_seconds * RECOUNT_SLOW_SHARE:
        return max(1, used // 2)
    if took < budget_seconds * RECOUNT_SLOW_SHARE / 4:
        return min(RECOUNT_BATCH, batch * 2)
    return batch


async def _backfill(
    rollup: CreatorViewerRepository, counts: CreatorViewerCountRepository, now: datetime
) -> None:
    """Rows written before the counts existed: mark every creator once, `BACKFILL_PER_PASS` per pass,
    resuming after the last one marked (a crash marks some twice: a mark is idempotent)."""
    done, after = await counts.backfill_state()
    if done:
        return
    creators = await rollup.creators_after(after, BACKFILL_PER_PASS)
    for creator_id in creators:
        await counts.mark(creator_id, now)
    if len(creators) < BACKFILL_PER_PASS:
        await counts.mark_backfilled(now)
    else:
        await counts.backfill_progress(creators[-1], now)


async def publish_most_watched(
    db: Database, now: datetime, budget_seconds: float = 8.0
) -> list[tuple[ObjectId, int]]:
    """Bring the per-creator viewer counts up to date and publish the ranking for every replica.
    `budget_seconds`: one database operation's budget (MONGODB_TIMEOUT_MS), which sizes the batches."""
    await recount_viewers(db, now, budget_seconds)
    ranked = await CreatorViewerCountRepository(db).top(RANKING_SIZE)
    await RankingSnapshotRepository(db).save(MOST_WATCHED, ranked, now)
    return ranked


class CreatorService:
    def __init__(self, db: Database) -> None:
        self.users = UserRepository(db)
        self.follows = FollowRepository(db)
        self.streams = LiveStreamRepository(db)

    async def stats(self, user_id: ObjectId) -> dict[str, int]:
        await self.users.get_or_404(user_id)
        return {
            "followers": await self.follows.count_followers(user_id),
            "following": await self.follows.count_following(user_id),
            "totalLiveStreams": await self.streams.count_by_creator(user_id),
        }


class RankingService:
    """Most-watched creators over the last 30 days, served from a snapshot shared by every replica."""

    def __init__(
        self, db: Database, max_age_seconds: float = 0, refresh_lock: asyncio.Lock | None = None
    ) -> None:
        self.db = db
        self.viewers = CreatorViewerRepository(db)
        self.counts = CreatorViewerCountRepository(db)
        self.rankings = RankingSnapshotRepository(db)
        self.users = UserRepository(db)
        self.follows = FollowRepository(db)
        self.max_age_seconds = max_age_seconds
        self.refresh_lock = refresh_lock or asyncio.Lock()

    async def viewer_joined(self, creator_id: ObjectId, viewer_id: ObjectId, stream_id: ObjectId) -> None:
        """An audience join feeds the rollup (the live-stream domain's `ViewerLog`)."""
        if await self.viewers.touch(creator_id, viewer_id, stream_id):
            await self.counts.mark(creator_id, utcnow())

    async def forget_stream(self, stream_id: ObjectId) -> None:
        """A deleted stream leaves the rollup, and the published ranking is recomputed on next read."""
        now = utcnow()
        for creator_id in await self.viewers.forget_stream(stream_id):
            await self.counts.mark(creator_id, now)
        await self.rankings.invalidate(MOST_WATCHED)

    async def _fresh_ranking(self, limit: int) -> list[ObjectId] | None:
        """The top `limit` creators of the published ranking, unless it is older than `max_age_seconds`."""
        snapshot = await self.rankings.get(MOST_WATCHED)
        if snapshot is None or (utcnow() - snapshot["computedAt"]).total_seconds() >= self.max_age_seconds:
            return None
        return [creator_id for creator_id, _ in snapshot["creators"][:limit]]

    async def most_watched_creators(
        self, caller: AuthenticatedUser | None, limit: int
    ) -> list[dict[str, Any]]:
        """Read the published ranking; recompute it here only when it is missing or too old.

        A background job refreshes it every `max_age_seconds / 2`, so requests read one small document
        instead of aggregating the 30-day rollup (docs/live-streams.md, "Audience").
        """
        ids = await self._fresh_ranking(limit)
        if ids is None:
            async with self.refresh_lock:  # one recomputation per process; the others then read its result
                ids = await self._fresh_ranking(limit)
                if ids is None:
                    ranked = await publish_most_watched(self.db, utcnow())
                    ids = [creator_id for creator_id, _ in ranked[:limit]]
        users = await self.users.summary_docs(ids, extra=("expertise",))
        # Keyed by the ids' bytes: bson's `ObjectId.__hash__`/`__eq__` are Python, ~4 look-ups per creator.
        by_key = {user["_id"].binary: user for user in users}
        followed = (
            {user_id.binary for user_id in await self.follows.followed_among(caller.id, ids)}
            if caller
            else None
        )
        result = []
        for creator_id in ids:
            key = creator_id.binary
            user = by_key.get(key)
            if user is None:
                continue  # deleted accounts drop out of the ranking
            get = user.get
            result.append(
                {
                    "_id": key.hex(),  # the id's text, as the encoder writes an ObjectId (same bytes)
                    "username": user["username"],
                    "name": get("name", ""),
                    "surname": get("surname", ""),
                    "availabilityStatus": get("availabilityStatus", "available"),
                    "profilePhoto": get("profilePhoto"),
                    "expertise": get("expertise"),
                    "isFollowing": None if followed is None else key in followed,
                }
            )
        return result
