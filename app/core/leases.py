"""Leases in MongoDB so that background loops run on one replica at a time.

`acquire(name, holder, ttl)` is one conditional upsert: it succeeds when the lease is free, expired, or
already ours (then it renews it). Expiry is set and compared with the database server's clock, never
the replicas' clocks (docs/decisions.md, "Leases: server time, heartbeat, release"):

* on MongoDB the update is a pipeline on `$$NOW` (the server's time at the write);
* the embedded engine lives in this one process, so the process clock *is* the server clock.

A holder judges how long its lease is still valid with its own monotonic clock only, counted from
before it sent the renewal: a lower bound of the server-side expiry whatever the clocks' offsets.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from app.core.db import Database, is_embedded
from app.core.repository import Repository
from app.core.timeutils import utcnow


class LeaseRepository(Repository):
    collection_name = "leases"
    durable = True  # a lease acknowledged by w:1 could roll back on failover and have two holders

    def __init__(self, db: Database, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(db)
        self.clock = clock  # used on the embedded engine only, where it is the server's clock

    async def acquire(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take, or renew when already ours, the lease `name` for `ttl_seconds`; False when held by another."""
        ttl_ms = int(ttl_seconds * 1000)
        if is_embedded(self.db):
            now = self.clock()
            query = {"_id": name, "$or": [{"holder": holder}, {"expiresAt": {"$lte": now}}]}
            update: dict[str, Any] | list[dict[str, Any]] = {
                "$set": {
                    "holder": holder,
                    "expiresAt": now + timedelta(milliseconds=ttl_ms),
                    "renewedAt": now,
                }
            }
        else:
            query = {
                "_id": name,
                "$or": [{"holder": holder}, {"$expr": {"$lte": ["$expiresAt", "$$NOW"]}}],
            }
            update = [
                {"$set": {"holder": holder, "expiresAt": {"$add": ["$$NOW", ttl_ms]}, "renewedAt": "$$NOW"}}
            ]
        try:
            await self.collection.update_one(query, update, upsert=True)
        except DuplicateKeyError:  # someone else holds an unexpired lease
            return False
        return True

    try_acquire = acquire

    async def release(self, name: str, holder: str) -> None:
        await self.collection.delete_one({"_id": name, "holder": holder})
