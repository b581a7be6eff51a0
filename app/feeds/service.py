"""Discovery feeds, schedules, history and For You: which streams, in which order, for whom.

Every list is presented in one batch (`LiveStreamPresenter.many`), so a page costs a fixed number of
queries whatever its size. Sort orders are written down in docs/live-streams-part2.md.
"""

import asyncio
from datetime import datetime, timedelta
from typing import Any, Protocol

from bson import ObjectId

from app.core.db import Database
from app.core.pagination import PageParams
from app.core.security import AuthenticatedUser
from app.core.timeutils import utcnow
from app.feeds.repository import FeedRepository, FeedSnapshotRepository
from app.feeds.schemas import ForYouSection
from app.live_streams.participant_repository import ParticipantRepository
from app.live_streams.presenter import LiveStreamPresenter
from app.live_streams.schemas import Role
from app.reminders.repository import ReminderRepository

FEATURED_SIZE = 10
FEATURED_CANDIDATES = 200  # the most recently started active streams compete for a featured place
FEATURED_KEPT = 30  # kept in the snapshot, so streams that ended since still leave FEATURED_SIZE to show
FEATURED = "featured_streams"


class ViewerCounts(Protocol):
    """Current viewers per stream; an Agora channel-user count can implement it later."""

    async def counts(self, stream_ids: list[ObjectId]) -> dict[ObjectId, int]: ...


class ParticipantViewerCounts:
    """Viewers present according to our participant records (audience joined and not left)."""

    def __init__(self, db: Database) -> None:
        self.participation = ParticipantRepository(db)

    async def counts(self, stream_ids: list[ObjectId]) -> dict[ObjectId, int]:
        return await self.participation.present_audience_counts(stream_ids)


async def rank_featured(
    feeds: FeedRepository, viewer_counts: ViewerCounts, snapshots: FeedSnapshotRepository, now: datetime
) -> list[tuple[ObjectId, int]]:
    """Rank the featured candidates by current viewers and publish the result for every replica."""
    candidates = await feeds.recently_started(FEATURED_CANDIDATES)
    viewers = await viewer_counts.counts([s["_id"] for s in candidates])
    # A stable sort: equal counts keep the candidates' order (newest started, then _id, first).
    ranked = sorted(candidates, key=lambda s: viewers.get(s["_id"], 0), reverse=True)[:FEATURED_KEPT]
    result = [(s["_id"], viewers.get(s["_id"], 0)) for s in ranked]
    await snapshots.save(FEATURED, result, now)
    return result


async def publish_featured(db: Database, now: datetime) -> list[tuple[ObjectId, int]]:
    """The background job: refresh the featured snapshot (counted from participant records)."""
    return await rank_featured(
        FeedRepository(db), ParticipantViewerCounts(db), FeedSnapshotRepository(db), now
    )


class FeedService:
    def __init__(
        self,
        db: Database,
        presenter: LiveStreamPresenter,
        viewer_counts: ViewerCounts,
        *,
        max_age_seconds: float = 0,
        refresh_lock: asyncio.Lock | None = None,
    ) -> None:
        self.feeds = FeedRepository(db)
        self.snapshots = FeedSnapshotRepository(db)
        self.max_age_seconds = max_age_seconds
        self.refresh_lock = refresh_lock or asyncio.Lock()
        self.participation = ParticipantRepository(db)
        self.reminders = ReminderRepository(db)
        self.presenter = presenter
        self.viewer_counts = viewer_counts

    async def catch_streamers(self, limit: int) -> list[dict[str, Any]]:
        streams, creators = [], set()
        for stream in await self.feeds.recently_started(limit):
            if stream["creatorId"] not in creators:  # one active stream per creator; guard old data
                creators.add(stream["creatorId"])
                streams.append(stream)
        items = await self.presenter.many(streams, None)
        return [{"creator": item["creator"], "activeLiveStream": item} for item in items]

    async def _fresh_featured(self) -> tuple[list[ObjectId], datetime] | None:
        """The snapshot's ranking and when it was taken, unless it is older than `max_age_seconds`."""
        snapshot = await self.snapshots.read(FEATURED)
        if snapshot is None or (utcnow() - snapshot["computedAt"]).total_seconds() >= self.max_age_seconds:
            return None
        return [stream_id for stream_id, _ in snapshot["streams"]], snapshot["computedAt"]

    async def _recomputed_featured(self, stale: datetime | None) -> list[ObjectId]:
        """A new ranking, unless another request made one meanwhile (newer than the `stale` one)."""
        async with self.refresh_lock:  # one recomputation per process; the others read its result
            fresh = await self._fresh_featured()
            if fresh is not None and (stale is None or fresh[1] > stale):
                return fresh[0]
            published = await rank_featured(self.feeds, self.viewer_counts, self.snapshots, utcnow())
            return [stream_id for stream_id, _ in published]

    async def _live(self, ranked: list[ObjectId]) -> list[Any]:
        streams = await self.feeds.active_among(ranked)
        return [streams[stream_id] for stream_id in ranked if stream_id in streams][:FEATURED_SIZE]

    async def featured(self) -> list[dict[str, Any]]:
        """The most watched of the recently started streams, read from a snapshot at most
        `max_age_seconds` old (refreshed in the background); recomputed here when it is older, or when
        fewer than `FEATURED_SIZE` of its streams are still live (they ended since it was taken)."""
        fresh = await self._fresh_featured()
        ranked = fresh[0] if fresh is not None else await self._recomputed_featured(None)
        shown = await self._live(ranked)
        if fresh is not None and len(shown) < min(FEATURED_SIZE, len(ranked)):
            shown = await self._live(await self._recomputed_featured(stale=fresh[1]))
        return await self.presenter.many(shown, None)

    async def past_streams(
        self, creator_id: ObjectId, caller: AuthenticatedUser | None, limit: int
    ) -> list[dict[str, Any]]:
        return await self.presenter.many(await self.feeds.ended_of_creator(creator_id, limit), caller)

    async def upcoming(
        self,
        member_id: ObjectId,
        caller: AuthenticatedUser | None,
        *,
        limit: int,
        before: timedelta,
        after: timedelta,
        now: datetime,
    ) -> list[dict[str, Any]]:
        streams = await self.feeds.upcoming_of_member(member_id, now - before, now + after, limit)
        items = await self.presenter.many(streams, caller)
        if caller is None:
            return [{**item, "isReminderActive": None} for item in items]
        armed = await self.reminders.armed_among(caller.id, [s["_id"] for s in streams])
        return [
            {**item, "isReminderActive": stream["_id"] in armed}
            for stream, item in zip(streams, items, strict=True)
        ]

    async def broadcasted(self, caller: AuthenticatedUser, page: PageParams) -> dict[str, Any]:
        streams, total = await self.feeds.ended_broadcasted_by(caller.id, page.skip, page.limit)
        return page.page_of(await self.presenter.many(streams, caller), total)

    async def watched(self, caller: AuthenticatedUser, page: PageParams) -> dict[str, Any]:
        stream_ids = await self.participation.watched_stream_ids(caller.id)
        if not stream_ids:
            return page.page_of([], 0)
        streams, total = await self.feeds.ended_among(stream_ids, page.skip, page.limit)
        items = await self.presenter.many(streams, caller)
        # History of watched streams: the caller's role is the one they watched with (docs/contract.md).
        return page.page_of([{**item, "role": Role.audience} for item in items], total)

    async def for_you(
        self, caller: AuthenticatedUser, section: ForYouSection, page: PageParams
    ) -> dict[str, Any]:
        interests = sorted(set(caller.interests))
        if not interests:
            return page.page_of([], 0)
        if section is ForYouSection.live:
            streams, total = await self.feeds.live_by_interest(interests, page.skip, page.limit)
        else:
            streams, total = await self.feeds.scheduled_by_interest(
                interests, page.skip, page.limit, crowdfunding=section is ForYouSection.crowdfunding
            )
        return page.page_of(await self.presenter.many(streams, caller), total)
