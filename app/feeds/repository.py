"""Read-only feed queries on `live_streams` and `participants`.

Every query excludes soft-deleted streams and sorts with an `_id` tie-breaker, so pages are stable.
Indexes used but declared elsewhere: `status_started_id` (LiveStreamRepository: catch-streamers, featured
candidates), `creator_status_started` and `guest_status` (upcoming), and the participants' `user_history`
(ParticipantRepository). Each query shape and its index: tests/test_query_shapes.py. Lists load streams
without their bookkeeping (`LIST_PROJECTION`).
"""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.repository import Repository
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.repository import LIST_PROJECTION
from app.live_streams.schemas import LiveStreamStatus

Sort = list[tuple[str, int]]

NEWEST_STARTED: Sort = [("startedAt", DESCENDING), ("_id", DESCENDING)]
NEWEST_ENDED: Sort = [("endedAt", DESCENDING), ("_id", DESCENDING)]
SOONEST_PLANNED: Sort = [("plannedStartDate", ASCENDING), ("_id", ASCENDING)]
# Current streams of a member: "active" sorts before "preparing", then the newest first.
CURRENT_FIRST: Sort = [("status", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)]

ACTIVE = LiveStreamStatus.active.value
ENDED = LiveStreamStatus.ended.value
SCHEDULED = LiveStreamStatus.scheduled.value
CURRENT = [ACTIVE, LiveStreamStatus.preparing.value]


def _member(user_id: ObjectId) -> dict[str, Any]:
    """Creator, invited guest or broadcaster of the stream."""
    return {"$or": [{"creatorId": user_id}, {"guestIds": user_id}, {"broadcasters.user": user_id}]}


class FeedRepository(Repository[LiveStreamDocument]):
    collection_name = "live_streams"
    soft_delete = True
    indexes = [
        IndexModel(
            [("status", ASCENDING), ("interest", ASCENDING), ("startedAt", DESCENDING), ("_id", DESCENDING)],
            name="feed_interest_started",
        ),
        IndexModel(
            [
                ("status", ASCENDING),
                ("interest", ASCENDING),
                ("plannedStartDate", ASCENDING),
                ("_id", ASCENDING),
            ],
            name="feed_interest_planned",
        ),
        IndexModel(
            [("creatorId", ASCENDING), ("status", ASCENDING), ("endedAt", DESCENDING), ("_id", DESCENDING)],
            name="feed_creator_ended",
        ),
        IndexModel(
            [
                ("broadcasters.user", ASCENDING),
                ("status", ASCENDING),
                ("endedAt", DESCENDING),
                ("_id", DESCENDING),
            ],
            name="feed_broadcaster_ended_id",
        ),
    ]

    async def recently_started(self, limit: int) -> list[LiveStreamDocument]:
        return await self._find({"status": ACTIVE}, NEWEST_STARTED, limit)

    async def ended_of_creator(self, creator_id: ObjectId, limit: int) -> list[LiveStreamDocument]:
        return await self._find({"creatorId": creator_id, "status": ENDED}, NEWEST_ENDED, limit)

    async def upcoming_of_member(
        self, user_id: ObjectId, window_start: datetime, window_end: datetime, limit: int
    ) -> list[LiveStreamDocument]:
        """Current streams (never time-filtered) first, then scheduled ones planned inside the window."""
        current = await self._find({**_member(user_id), "status": {"$in": CURRENT}}, CURRENT_FIRST, limit)
        if len(current) >= limit:
            return current
        planned = {"$gte": window_start, "$lte": window_end}
        scheduled = await self._find(
            {**_member(user_id), "status": SCHEDULED, "plannedStartDate": planned},
            SOONEST_PLANNED,
            limit - len(current),
        )
        return current + scheduled

    async def live_by_interest(
        self, interests: list[str], skip: int, limit: int
    ) -> tuple[list[LiveStreamDocument], int]:
        return await self._page(
            {"status": ACTIVE, "interest": {"$in": interests}}, NEWEST_STARTED, skip, limit
        )

    async def scheduled_by_interest(
        self, interests: list[str], skip: int, limit: int, *, crowdfunding: bool
    ) -> tuple[list[LiveStreamDocument], int]:
        query: dict[str, Any] = {"status": SCHEDULED, "interest": {"$in": interests}}
        if crowdfunding:
            query["fundingGoal"] = {"$gt": 0}
        return await self._page(query, SOONEST_PLANNED, skip, limit)

    async def ended_broadcasted_by(
        self, user_id: ObjectId, skip: int, limit: int
    ) -> tuple[list[LiveStreamDocument], int]:
        """Ended streams the user hosted (creator) or broadcast in (joined as guest)."""
        query = {"$or": [{"creatorId": user_id}, {"broadcasters.user": user_id}], "status": ENDED}
        return await self._page(query, NEWEST_ENDED, skip, limit)

    async def ended_among(
        self, stream_ids: list[ObjectId], skip: int, limit: int
    ) -> tuple[list[LiveStreamDocument], int]:
        return await self._page({"_id": {"$in": stream_ids}, "status": ENDED}, NEWEST_ENDED, skip, limit)

    async def active_among(self, stream_ids: list[ObjectId]) -> dict[ObjectId, LiveStreamDocument]:
        """The streams among `stream_ids` that are still active (a snapshot's streams may have ended)."""
        query = self.scoped({"_id": {"$in": stream_ids}, "status": ACTIVE})
        return {doc["_id"]: doc for doc in await self._all(self.collection.find(query, LIST_PROJECTION))}

    async def _find(self, query: dict[str, Any], sort: Sort, limit: int) -> list[LiveStreamDocument]:
        return await self._all(
            self.collection.find(self.scoped(query), LIST_PROJECTION).sort(sort).limit(limit)
        )

    async def _page(
        self, query: dict[str, Any], sort: Sort, skip: int, limit: int
    ) -> tuple[list[LiveStreamDocument], int]:
        query = self.scoped(query)
        docs = await self._all(
            self.collection.find(query, LIST_PROJECTION).sort(sort).skip(skip).limit(limit)
        )
        return docs, await self.page_total(query, skip, limit)


class FeedSnapshotRepository(Repository):
    """Precomputed feeds shared by every replica: `{_id: name, streams: [[id, viewers]…], computedAt}`."""

    collection_name = "feed_snapshots"

    async def read(self, name: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": name})

    async def save(self, name: str, streams: list[tuple[ObjectId, int]], computed_at: datetime) -> None:
        await self.collection.update_one(
            {"_id": name},
            {"$set": {"streams": [[s, n] for s, n in streams], "computedAt": computed_at}},
            upsert=True,
        )
