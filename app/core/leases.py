"""Leases in MongoDB so that background loops run on one replica at a time.

`try_acquire(name, holder, ttl)` is one conditional upsert: it succeeds when the lease is free,
expired, or already ours. No process memory is shared between replicas.
"""

from datetime import timedelta

from pymongo.errors import DuplicateKeyError

from app.core.repository import Repository
from app.core.timeutils import utcnow


class LeaseRepository(Repository):
    collection_name = "leases"

    async def try_acquire(self, name: str, holder: str, ttl_seconds: float) -> bool:
        now = utcnow()
        try:
            await self.collection.find_one_and_update(
                {"_id": name, "$or": [{"holder": holder}, {"expiresAt": {"$lte": now}}]},
                {"$set": {"holder": holder, "expiresAt": now + timedelta(seconds=ttl_seconds)}},
                upsert=True,
            )
        except DuplicateKeyError:  # someone else holds an unexpired lease
            return False
        return True

    async def release(self, name: str, holder: str) -> None:
        await self.collection.delete_one({"_id": name, "holder": holder})
