"""Queries on live streams, participants, the viewer rollup and fundings."""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from app.core.once import OnceHolder
from app.core.repository import Repository
from app.core.timeutils import utcnow
from app.live_streams.schemas import LiveStreamStatus, Role


class LiveStreamRepository(OnceHolder, Repository):
    """Live streams; a stream is the holder of its fundings' `collectedFunding` (`app.core.once`)."""

    collection_name = "live_streams"
    soft_delete = True
    indexes = [
        IndexModel([("channelName", ASCENDING)], unique=True, name="channel_unique"),
        # At most one stream per creator holds the live slot (starting or active): the hard guarantee
        # behind "one active stream per creator", race-free across replicas. `liveSlotOwner` exists only
        # while the slot is held, so a sparse unique index does it (a partial index would too on mongod,
        # but mongomock-ng checks partial filters on stored documents only, not on the new one).
        IndexModel(
            [("liveSlotOwner", ASCENDING)], unique=True, sparse=True, name="one_live_slot_per_creator"
        ),
        IndexModel(
            [("creatorId", ASCENDING), ("status", ASCENDING), ("startedAt", DESCENDING)],
            name="creator_status",
        ),
        IndexModel([("guestIds", ASCENDING), ("status", ASCENDING)], name="guest_status"),
        IndexModel([("status", ASCENDING), ("startedAt", DESCENDING)], name="status_started"),
        IndexModel([("status", ASCENDING), ("plannedStartDate", ASCENDING)], name="status_planned"),
        IndexModel([("deletedAt", ASCENDING), ("createdAt", DESCENDING)], name="all_by_created"),
        IndexModel([("aioz.reconcileAt", ASCENDING)], sparse=True, name="aioz_reconcile"),
        IndexModel([("followUpAt", ASCENDING)], sparse=True, name="follow_ups"),
        IndexModel([("opInFlightAt", ASCENDING)], sparse=True, name="funding_sweep"),
    ]

    async def count_by_creator(self, creator_id: ObjectId) -> int:
        return await self.collection.count_documents(self.scoped({"creatorId": creator_id}))

    async def list_all(self, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find(self.scoped({})).sort([("createdAt", DESCENDING), ("_id", DESCENDING)])
        return await cursor.limit(limit).to_list()

    async def active_of_creator(self, creator_id: ObjectId) -> list[dict[str, Any]]:
        cursor = self.collection.find(
            self.scoped({"creatorId": creator_id, "status": LiveStreamStatus.active.value})
        ).sort([("startedAt", DESCENDING), ("_id", DESCENDING)])
        return await cursor.limit(5).to_list()

    async def guest_streams(
        self, guest_id: ObjectId, status: LiveStreamStatus | None, sort_by: str, descending: bool
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"guestIds": guest_id}
        if status is not None:
            query["status"] = status.value
        order = DESCENDING if descending else ASCENDING
        cursor = self.collection.find(self.scoped(query)).sort([(sort_by, order), ("_id", order)])
        return await cursor.limit(500).to_list()

    async def transition(
        self,
        _id: ObjectId,
        from_statuses: tuple[LiveStreamStatus, ...],
        update: dict[str, Any],
        extra_query: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Conditional status change: applies only while the stream is in one of `from_statuses`."""
        query = {"_id": _id, "status": {"$in": [s.value for s in from_statuses]}, **(extra_query or {})}
        return await self.update(query, update)

    async def overdue_scheduled(self, planned_before: datetime, limit: int) -> list[dict[str, Any]]:
        """Scheduled streams whose planned end (or, without one, planned start) is before the cutoff."""
        query = self.scoped(
            {
                "status": LiveStreamStatus.scheduled.value,
                "$or": [
                    {"plannedEndDate": {"$lt": planned_before}},
                    {"plannedEndDate": None, "plannedStartDate": {"$lt": planned_before}},
                ],
            }
        )
        return await self.collection.find(query).sort("plannedStartDate", ASCENDING).limit(limit).to_list()

    # --- follow-ups and money bookkeeping (follow_ups.py, funding.py) ---------------------------------

    async def due_follow_ups(self, before: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find({"followUpAt": {"$lte": before}}).sort("followUpAt", ASCENDING)
        return await cursor.limit(limit).to_list()

    async def complete_follow_up(self, _id: ObjectId, kind: str) -> None:
        await self.collection.update_one({"_id": _id}, {"$unset": {f"followUps.{kind}": ""}})
        await self.collection.update_one({"_id": _id, "followUps": {}}, {"$unset": {"followUpAt": ""}})

    async def postpone_follow_ups(self, _id: ObjectId, at: datetime) -> None:
        await self.collection.update_one(
            {"_id": _id, "followUpAt": {"$exists": True}}, {"$set": {"followUpAt": at}}
        )

    async def record_payout(self, _id: ObjectId, payout: dict[str, Any]) -> None:
        await self.collection.update_one(
            {"_id": _id, "fundingPayout": None}, {"$set": {"fundingPayout": payout}}
        )

    async def admit_rental(self, _id: ObjectId) -> bool:
        """A rental may only start on a stream that is not deleted; this write orders it before any
        delete, so the delete's refund follow-up sees every rental admitted before it."""
        result = await self.collection.update_one(
            {"_id": _id, "deletedAt": None}, {"$set": {"lastRentalAdmittedAt": utcnow()}}
        )
        return result.matched_count == 1

    async def due_for_reconcile(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find({"aioz.reconcileAt": {"$lte": now}}).sort("aioz.reconcileAt", ASCENDING)
        return await cursor.limit(limit).to_list()


class ParticipantRepository(Repository):
    """One document per (stream, user, role); repeated joins update it, never duplicate it."""

    collection_name = "participants"
    indexes = [
        IndexModel(
            [("liveStreamId", ASCENDING), ("userId", ASCENDING), ("role", ASCENDING)],
            unique=True,
            name="participant_unique",
        ),
        IndexModel(
            [
                ("liveStreamId", ASCENDING),
                ("role", ASCENDING),
                ("isPresent", ASCENDING),
                ("joinedAt", DESCENDING),
            ],
            name="stream_presence",
        ),
        IndexModel(
            [("userId", ASCENDING), ("role", ASCENDING), ("joinedAt", DESCENDING)], name="user_history"
        ),
    ]

    async def record_join(
        self, stream: dict[str, Any], user_id: ObjectId, role: Role, device: dict[str, Any]
    ) -> dict[str, Any]:
        now = utcnow()
        key = {"liveStreamId": stream["_id"], "userId": user_id, "role": role.value}
        update = {
            "$set": {"isPresent": True, "joinedAt": now, "leftAt": None, "device": device},
            "$inc": {"joinCount": 1},
            "$setOnInsert": {"creatorId": stream["creatorId"], "firstJoinedAt": now, "watchSeconds": 0},
        }
        return await self.upsert_returning(key, update)

    async def record_leave(self, stream_id: ObjectId, user_id: ObjectId) -> list[dict[str, Any]]:
        """Close every present participation of the user in the stream; returns the closed ones."""
        now = utcnow()
        closed = []
        present = await self.collection.find(
            {"liveStreamId": stream_id, "userId": user_id, "isPresent": True}
        ).to_list()
        for doc in present:
            seconds = max(0, int((now - doc["joinedAt"]).total_seconds()))
            updated = await self.collection.find_one_and_update(
                {"_id": doc["_id"], "isPresent": True, "joinedAt": doc["joinedAt"]},
                {"$set": {"isPresent": False, "leftAt": now}, "$inc": {"watchSeconds": seconds}},
                return_document=ReturnDocument.AFTER,
            )
            if updated is not None:
                closed.append(updated)
        return closed

    async def close_all(self, stream_id: ObjectId) -> None:
        await self.collection.update_many(
            {"liveStreamId": stream_id, "isPresent": True}, {"$set": {"isPresent": False, "leftAt": utcnow()}}
        )

    async def count_present(self, stream_id: ObjectId) -> int:
        return await self.collection.count_documents(
            {"liveStreamId": stream_id, "role": Role.audience.value, "isPresent": True}
        )

    async def count_audience(self, stream_id: ObjectId) -> int:
        return await self.collection.count_documents({"liveStreamId": stream_id, "role": Role.audience.value})

    async def present_viewers(
        self, stream_id: ObjectId, user_ids: list[ObjectId] | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        query: dict[str, Any] = {"liveStreamId": stream_id, "role": Role.audience.value, "isPresent": True}
        if user_ids is not None:
            query["userId"] = {"$in": user_ids}
        cursor = self.collection.find(query).sort([("joinedAt", DESCENDING), ("_id", DESCENDING)])
        docs = await cursor.skip(skip).limit(limit).to_list()
        return docs, await self.collection.count_documents(query)

    async def present_user_ids(self, stream_id: ObjectId) -> list[ObjectId]:
        docs = await self.collection.find(
            {"liveStreamId": stream_id, "role": Role.audience.value, "isPresent": True}, {"userId": 1}
        ).to_list()
        return [doc["userId"] for doc in docs]

    async def watched_stream_ids(self, user_id: ObjectId) -> list[ObjectId]:
        """Streams the user joined as audience, each once however often they joined."""
        return await self.collection.distinct(
            "liveStreamId", {"userId": user_id, "role": Role.audience.value}
        )

    async def present_audience_counts(self, stream_ids: list[ObjectId]) -> dict[ObjectId, int]:
        if not stream_ids:
            return {}
        cursor = await self.collection.aggregate(
            [
                {
                    "$match": {
                        "liveStreamId": {"$in": stream_ids},
                        "role": Role.audience.value,
                        "isPresent": True,
                    }
                },
                {"$group": {"_id": "$liveStreamId", "viewers": {"$sum": 1}}},
            ]
        )
        return {row["_id"]: row["viewers"] async for row in cursor}

    async def roles_of(self, user_id: ObjectId, stream_ids: list[ObjectId]) -> dict[ObjectId, set[str]]:
        if not stream_ids:
            return {}
        docs = await self.collection.find(
            {"userId": user_id, "liveStreamId": {"$in": stream_ids}}, {"liveStreamId": 1, "role": 1}
        ).to_list()
        roles: dict[ObjectId, set[str]] = {}
        for doc in docs:
            roles.setdefault(doc["liveStreamId"], set()).add(doc["role"])
        return roles


class ViewerRollupRepository(Repository):
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
        await RankingSnapshotRepository(self.db).invalidate(MOST_WATCHED)

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
