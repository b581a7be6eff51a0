"""Queries on participants: one document per (stream, user, role)."""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from app.core.repository import Repository
from app.core.timeutils import utcnow
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.schemas import Role


class ParticipantRepository(Repository):
    """One document per (stream, user, role); repeated joins update it, never duplicate it."""

    collection_name = "participants"
    shard_key = (("liveStreamId", 1), ("userId", 1))
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
                ("_id", DESCENDING),
            ],
            name="stream_presence_joined",
        ),
        IndexModel(
            [("userId", ASCENDING), ("role", ASCENDING), ("joinedAt", DESCENDING)], name="user_history"
        ),
    ]

    async def record_join(
        self, stream: LiveStreamDocument, user_id: ObjectId, role: Role, device: dict[str, Any]
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
                {
                    "liveStreamId": stream_id,  # the shard key (docs/decisions.md, "Sharding plan")
                    "userId": user_id,
                    "_id": doc["_id"],
                    "isPresent": True,
                    "joinedAt": doc["joinedAt"],
                },
                {"$set": {"isPresent": False, "leftAt": now}, "$inc": {"watchSeconds": seconds}},
                return_document=ReturnDocument.AFTER,
            )
            if updated is not None:
                closed.append(updated)
        return closed

    async def close_all(self, stream_id: ObjectId) -> None:
        """Close every open participation, counting its last session into `watchSeconds` like a leave
        (one pipeline update; the statistics read `watchSeconds` of closed participations)."""
        now = utcnow()
        await self.collection.update_many(
            {"liveStreamId": stream_id, "isPresent": True},
            [
                {
                    "$set": {
                        "isPresent": False,
                        "leftAt": now,
                        "watchSeconds": {"$add": ["$watchSeconds", _seconds_since("$joinedAt", now)]},
                    }
                }
            ],
        )

    async def count_present(self, stream_id: ObjectId) -> int:
        """Audience present now (`viewerCount`, the peak), bounded like page totals (docs/contract.md)."""
        return await self.bounded_count(
            {"liveStreamId": stream_id, "role": Role.audience.value, "isPresent": True}
        )

    async def count_audience(self, stream_id: ObjectId) -> int:
        """Every audience participant (`participantAudienceTotal`), bounded like page totals."""
        return await self.bounded_count({"liveStreamId": stream_id, "role": Role.audience.value})

    async def present_viewers(
        self, stream_id: ObjectId, user_ids: list[ObjectId] | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        query: dict[str, Any] = {"liveStreamId": stream_id, "role": Role.audience.value, "isPresent": True}
        if user_ids is not None:
            query["userId"] = {"$in": user_ids}
        cursor = self.collection.find(query).sort([("joinedAt", DESCENDING), ("_id", DESCENDING)])
        docs = await cursor.skip(skip).limit(limit).to_list()
        return docs, await self.page_total(query, skip, limit)

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

    async def audience_watch_totals(self, stream_id: ObjectId, until: datetime) -> dict[str, int]:
        """`{viewers, watchSeconds}` of the stream's audience (participant statistics): one document per
        viewer; closed sessions from `watchSeconds`, an open one counted up to `until`."""
        cursor = await self.collection.aggregate(
            [
                {"$match": {"liveStreamId": stream_id, "role": Role.audience.value}},
                {
                    "$project": {
                        "seconds": {
                            "$add": [
                                "$watchSeconds",
                                {
                                    "$cond": [
                                        {"$eq": ["$isPresent", True]},
                                        _seconds_since("$joinedAt", until),
                                        0,
                                    ]
                                },
                            ]
                        }
                    }
                },
                {"$group": {"_id": None, "viewers": {"$sum": 1}, "watchSeconds": {"$sum": "$seconds"}}},
            ]
        )
        rows = await cursor.to_list()
        if not rows:
            return {"viewers": 0, "watchSeconds": 0}
        return {"viewers": rows[0]["viewers"], "watchSeconds": int(rows[0]["watchSeconds"])}

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


def _seconds_since(field: str, until: datetime) -> dict[str, Any]:
    """Whole seconds from the date in `field` to `until`, never negative (aggregation expression).

    An integer on mongod too: `$divide` always answers a double there, and `$floor` keeps the type, so
    without `$toLong` `watchSeconds` would be stored as a double (and `$inc` keeps it one)."""
    return {"$toLong": {"$max": [0, {"$floor": {"$divide": [{"$subtract": [until, field]}, 1000]}}]}}
