"""Queries on chat messages and on the chat rate-limit windows."""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.repository import Repository


class ChatMessageRepository(Repository):
    """One document per message; soft delete leaves room for moderation (deleted messages vanish)."""

    collection_name = "chat_messages"
    soft_delete = True
    shard_key = (("streamId", "hashed"), ("_id", 1))  # hashed: new streams spread over chunks
    indexes = [
        IndexModel(
            [
                ("streamId", ASCENDING),
                ("deletedAt", ASCENDING),
                ("createdAt", DESCENDING),
                ("_id", DESCENDING),
            ],
            name="messages_of_stream",
        ),
        # Supports the shard key; a ranged {streamId, _id} would send every new stream's chat to the
        # top chunk (ObjectIds grow), hashed spreads them (docs/decisions.md, "Sharding plan").
        IndexModel([("streamId", "hashed"), ("_id", ASCENDING)], name="shard_key"),
    ]

    async def create(
        self, stream_id: ObjectId, sender_id: ObjectId, content: str, now: datetime
    ) -> dict[str, Any]:
        doc = {
            "streamId": stream_id,
            "senderId": sender_id,
            "content": content,
            "createdAt": now,
            "updatedAt": now,
            "deletedAt": None,
        }
        return await self.insert(doc)

    async def page_of_stream(
        self, stream_id: ObjectId, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Newest first; `_id` breaks ties between messages of the same millisecond."""
        query = self.scoped({"streamId": stream_id})
        cursor = self.collection.find(query).sort([("createdAt", DESCENDING), ("_id", DESCENDING)])
        docs = await cursor.skip(skip).limit(limit).to_list()
        return docs, await self.page_total(query, skip, limit)


class ChatRateWindowRepository(Repository):
    """One counter document per (user, stream, fixed window); `_id` is the key, so a hit is one upsert
    on the `_id` index. The TTL index lets MongoDB drop windows once they are over (the embedded
    engine ignores TTLs, which is harmless: an old window's key is never hit again)."""

    collection_name = "chat_rate_windows"
    indexes = [IndexModel([("expiresAt", ASCENDING)], expireAfterSeconds=0, name="window_ttl")]

    async def hit(self, key: str, expires_at: datetime) -> int:
        """Count one message in the window `key`; returns the window's count including it."""
        doc = await self.upsert_returning(
            {"_id": key}, {"$inc": {"count": 1}, "$setOnInsert": {"expiresAt": expires_at}}
        )
        return int(doc["count"])
