"""Queries on live streams."""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.once import OnceHolder
from app.core.pagination import SortOrder
from app.core.repository import Repository
from app.core.timeutils import utcnow
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.schemas import STARTABLE, LiveStreamStatus

UNCLAIM = {"liveSlotOwner": "", "startingAt": "", "aioz": ""}  # what a start's live-slot claim added
# Streams read for lists are only presented: their money and follow-up bookkeeping stays in the database
# (the presenter and the replay access policy read none of these; `appliedFundings` is the funding list
# documents written by earlier versions may still carry, up to 64 ids: the embedded engine copies each
# field it returns).
LIST_PROJECTION = {
    "opInFlight": 0,
    "opInFlightAt": 0,
    "opVersion": 0,
    "followUps": 0,
    "aioz": 0,
    "fundingPayout": 0,
    "entryPayout": 0,
    "miniCrowdFundings": 0,
    "appliedFundings": 0,
}


class LiveStreamRepository(OnceHolder, Repository[LiveStreamDocument]):
    """Live streams; a stream holds the pots of its fundings and paid entries (`app.core.once`)."""

    collection_name = "live_streams"
    soft_delete = True
    # Pots are money: a decision acknowledged by w:1 could roll back on failover (docs/decisions.md).
    durable = True
    # Every query shape below is listed with the index that backs it in tests/test_query_shapes.py
    # (equality keys, then the sort with its `_id` tie-breaker, then ranges). `deletedAt: null` (the
    # soft-delete scope) is a residual filter except in `all_by_created_id`, where it is the only equality.
    indexes = [
        IndexModel([("channelName", ASCENDING)], unique=True, name="channel_unique"),
        # At most one stream per creator holds the live slot (starting or active): the hard guarantee
        # behind "one active stream per creator", race-free across replicas. A partial index on ObjectId
        # values only: documents without the field, or with `liveSlotOwner: null`, are not indexed (a
        # sparse index would index explicit nulls on mongod, and a second `null` would collide). The
        # embedded engine applies a partial filter to the stored documents only, which for a filter on
        # the indexed field itself gives the same answers (tests/test_live_slot_index.py).
        IndexModel(
            [("liveSlotOwner", ASCENDING)],
            unique=True,
            partialFilterExpression={"liveSlotOwner": {"$type": "objectId"}},
            name="one_live_slot_per_creator",
        ),
        IndexModel(
            [("creatorId", ASCENDING), ("status", ASCENDING), ("startedAt", DESCENDING), ("_id", DESCENDING)],
            name="creator_status_started",
        ),
        IndexModel([("guestIds", ASCENDING), ("status", ASCENDING)], name="guest_status"),
        IndexModel(
            [("status", ASCENDING), ("startedAt", DESCENDING), ("_id", DESCENDING)], name="status_started_id"
        ),
        # Overdue scheduled streams: `{status, plannedEndDate < t}` and `{status, plannedEndDate: null,
        # plannedStartDate < t}` are both bounded ranges of this one index (reconcile's expiry pass).
        IndexModel(
            [("status", ASCENDING), ("plannedEndDate", ASCENDING), ("plannedStartDate", ASCENDING)],
            name="scheduled_due",
        ),
        IndexModel(
            [("deletedAt", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)],
            name="all_by_created_id",
        ),
        IndexModel([("aioz.reconcileAt", ASCENDING)], sparse=True, name="aioz_reconcile"),
        IndexModel([("followUpAt", ASCENDING)], sparse=True, name="follow_ups"),
        IndexModel([("opInFlightAt", ASCENDING)], sparse=True, name="funding_sweep"),
    ]

    # pragma: no mutate start (not money: listings)
    async def count_by_creator(self, creator_id: ObjectId) -> int:
        return await self.collection.count_documents(self.scoped({"creatorId": creator_id}))

    async def list_all(self, limit: int) -> list[LiveStreamDocument]:
        cursor = self.collection.find(self.scoped({}), LIST_PROJECTION)
        return await self._all(cursor.sort([("createdAt", DESCENDING), ("_id", DESCENDING)]).limit(limit))

    async def active_of_creator(self, creator_id: ObjectId) -> list[LiveStreamDocument]:
        cursor = self.collection.find(
            self.scoped({"creatorId": creator_id, "status": LiveStreamStatus.active.value})
        ).sort([("startedAt", DESCENDING), ("_id", DESCENDING)])
        return await self._all(cursor.limit(5))

    async def guest_streams(
        self,
        guest_id: ObjectId,
        status: LiveStreamStatus | None,
        sort_by: str,
        order: SortOrder,
        limit: int = 500,
    ) -> list[LiveStreamDocument]:
        query: dict[str, Any] = {"guestIds": guest_id}
        if status is not None:
            query["status"] = status.value
        direction = order.direction
        cursor = self.collection.find(self.scoped(query), LIST_PROJECTION)
        return await self._all(cursor.sort([(sort_by, direction), ("_id", direction)]).limit(limit))

    async def scheduled_among(self, ids: list[ObjectId]) -> dict[bytes, LiveStreamDocument]:
        """The scheduled, alive ones of these streams, read for a list, keyed by their ids' bytes (a
        look-up on an ObjectId key runs bson's Python `__hash__`)."""
        if not ids:
            return {}
        query = self.scoped({"_id": {"$in": ids}, "status": LiveStreamStatus.scheduled.value})
        docs = await self._all(self.collection.find(query, LIST_PROJECTION))
        return {doc["_id"].binary: doc for doc in docs}

    # pragma: no mutate end

    async def close_before_start(
        self,
        _id: ObjectId,
        from_statuses: tuple[LiveStreamStatus, ...],
        status: LiveStreamStatus,
        fields: dict[str, Any],
    ) -> LiveStreamDocument | None:
        """Cancel or expire a stream that never started (one of `from_statuses`, holding no live slot),
        setting `fields` (its time stamp and follow-ups) in the same write; None when it changed."""
        return await self._transition(
            _id,
            from_statuses,
            {"$set": {"status": status.value, **fields}},
            extra_query={"liveSlotOwner": None},
        )

    async def _transition(
        self,
        _id: ObjectId,
        from_statuses: tuple[LiveStreamStatus, ...],
        update: dict[str, Any],
        extra_query: dict[str, Any] | None = None,
    ) -> LiveStreamDocument | None:
        """Conditional status change: applies only while the stream is in one of `from_statuses`."""
        query = {"_id": _id, "status": {"$in": [s.value for s in from_statuses]}, **(extra_query or {})}
        return await self._update(query, update)

    # --- the live slot and the lifecycle (lifecycle.py) -----------------------------------------------

    # pragma: no mutate start (not money: the live slot)
    async def claim_live_slot(
        self, _id: ObjectId, creator_id: ObjectId, now: datetime, reconcile_at: datetime
    ) -> LiveStreamDocument | None:
        """Take the creator's live slot for a startable stream; None when the stream is not startable or
        already claimed. The unique live-slot index raises Conflict when another stream holds it."""
        return await self._transition(
            _id,
            STARTABLE,
            {"$set": {"liveSlotOwner": creator_id, "startingAt": now, "aioz.reconcileAt": reconcile_at}},
            extra_query={"liveSlotOwner": None},
        )

    # pragma: no mutate end

    async def activate(
        self, _id: ObjectId, creator_id: ObjectId, fields: dict[str, Any]
    ) -> LiveStreamDocument | None:
        """Flip a claimed startable stream to `active` while `creator_id` still holds its live slot."""
        return await self._transition(
            _id,
            STARTABLE,
            {"$set": {"status": LiveStreamStatus.active.value, **fields}},
            extra_query={"liveSlotOwner": creator_id},
        )

    # pragma: no mutate start (not money: the live slot)
    async def release_live_slot(self, before: LiveStreamDocument) -> None:
        """Undo a claim that did not become a start: the claim's fields go, `updatedAt` is restored."""
        await self.collection.update_one(
            {
                "_id": before["_id"],
                "liveSlotOwner": {"$exists": True},
                "status": {"$ne": LiveStreamStatus.active.value},
            },
            {"$set": {"updatedAt": before["updatedAt"]}, "$unset": UNCLAIM},
        )

    async def release_stale_live_slot(self, _id: ObjectId) -> None:
        """Free the live slot a start that died left on a startable stream (deleted or not): the claim's
        fields go, as in `release_live_slot`, and `updatedAt` records the repair (reconcile.py)."""
        await self._update(
            {"_id": _id, "liveSlotOwner": {"$exists": True}, "status": {"$in": [s.value for s in STARTABLE]}},
            {"$unset": UNCLAIM},
            include_deleted=True,
        )

    # pragma: no mutate end

    async def mark_ended(self, _id: ObjectId, fields: dict[str, Any]) -> LiveStreamDocument | None:
        """End an active stream and free its live slot; None when it is not active."""
        return await self._transition(
            _id,
            (LiveStreamStatus.active,),
            {"$set": {"status": LiveStreamStatus.ended.value, **fields}, "$unset": {"liveSlotOwner": ""}},
        )

    # pragma: no mutate start (not money: broadcasters)
    async def add_broadcaster(self, _id: ObjectId, broadcaster: dict[str, Any]) -> LiveStreamDocument | None:
        """Add a broadcaster once; None when this user already broadcasts (or the stream is gone)."""
        return await self._update(
            {"_id": _id, "broadcasters.user": {"$ne": broadcaster["user"]}},
            {"$push": {"broadcasters": broadcaster}},
        )

    # pragma: no mutate end

    async def overdue_scheduled(self, planned_before: datetime, limit: int) -> list[LiveStreamDocument]:
        """Scheduled streams whose planned end (or, without one, planned start) is before the cutoff.

        Two bounded ranges of `scheduled_due`, each read in index order: a pass reads only what is due,
        however many streams are scheduled for later.
        """
        scheduled = LiveStreamStatus.scheduled.value
        by_end = await self._all(
            self.collection.find(
                self.scoped({"status": scheduled, "plannedEndDate": {"$lt": planned_before}})
            )
            .sort("plannedEndDate", ASCENDING)
            .limit(limit)
        )
        if len(by_end) >= limit:
            return by_end
        by_start = self.collection.find(
            self.scoped(
                {"status": scheduled, "plannedEndDate": None, "plannedStartDate": {"$lt": planned_before}}
            )
        ).sort("plannedStartDate", ASCENDING)
        return by_end + await self._all(by_start.limit(limit - len(by_end)))

    async def delete_with_follow_ups(
        self, _id: ObjectId, status: str, fields: dict[str, Any]
    ) -> LiveStreamDocument | None:
        """Soft delete a stream still in `status` and holding no live slot, setting `fields` (`deletedAt`
        and its follow-ups) in the same write; None when it changed meanwhile or was already deleted."""
        return await self._update({"_id": _id, "status": status, "liveSlotOwner": None}, {"$set": fields})

    # pragma: no mutate start (not money: replay settings, set by tests/replays)
    async def set_replay_settings(self, _id: ObjectId, changes: dict[str, Any]) -> LiveStreamDocument | None:
        """`isActiveReplayOnCreatorProfile` / `replayCreditPrice`; None when the stream is deleted."""
        return await self._update({"_id": _id}, {"$set": changes})

    # pragma: no mutate end

    # --- follow-ups and money bookkeeping (follow_ups.py, funding.py) ---------------------------------

    async def due_follow_ups(self, before: datetime, limit: int) -> list[LiveStreamDocument]:
        cursor = self.collection.find({"followUpAt": {"$lte": before}}).sort("followUpAt", ASCENDING)
        return await self._all(cursor.limit(limit))

    async def complete_follow_up(self, _id: ObjectId, kind: str) -> None:
        await self.collection.update_one({"_id": _id}, {"$unset": {f"followUps.{kind}": ""}})
        await self.collection.update_one({"_id": _id, "followUps": {}}, {"$unset": {"followUpAt": ""}})

    async def postpone_follow_ups(self, _id: ObjectId, at: datetime) -> None:
        await self.collection.update_one(
            {"_id": _id, "followUpAt": {"$exists": True}}, {"$set": {"followUpAt": at}}
        )

    async def record_payout(self, _id: ObjectId, field: str, payout: dict[str, Any]) -> None:
        await self.collection.update_one({"_id": _id, field: None}, {"$set": {field: payout}})

    async def admit_rental(self, _id: ObjectId) -> bool:
        """A rental may only start on a stream that is not deleted; this write orders it before any
        delete, so the delete's refund follow-up sees every rental admitted before it."""
        result = await self.collection.update_one(
            {"_id": _id, "deletedAt": None}, {"$set": {"lastRentalAdmittedAt": utcnow()}}
        )
        return result.matched_count == 1

    # pragma: no mutate block (not money: the AIOZ session)
    async def due_for_reconcile(self, now: datetime, limit: int) -> list[LiveStreamDocument]:
        cursor = self.collection.find({"aioz.reconcileAt": {"$lte": now}}).sort("aioz.reconcileAt", ASCENDING)
        return await self._all(cursor.limit(limit))

    async def reconcile_done(
        self, _id: ObjectId, *, state: str | None = None, recording_url: str | None = None
    ) -> None:
        """Nothing left to do on AIOZ for now: clear `aioz.reconcileAt`, recording the session's final
        `aioz.state` (closed, recorded, failed) and the recording's URL when given."""
        fields: dict[str, Any] = {}
        if recording_url is not None:
            fields["recordingUrl"] = recording_url
        if state is not None:
            fields["aioz.state"] = state
        fields["aioz.reconcileAt"] = None
        await self.collection.update_one({"_id": _id}, {"$set": fields})

    async def reconcile_later(self, _id: ObjectId, attempts: int, at: datetime) -> None:
        """Try again at `at`: the `attempts`-th failure backs off (reconcile.py)."""
        await self.collection.update_one(
            {"_id": _id}, {"$set": {"aioz.attempts": attempts, "aioz.reconcileAt": at}}
        )
