"""Leases in MongoDB so that background loops run on one replica at a time.

`acquire(name, holder, ttl)` is one `findAndModify` upsert on `_id`, the same command on both engines:
an update pipeline takes the lease when it is free, expired or already ours (then it renews it) and
leaves it untouched otherwise; the holder it returns says who has it. Expiry is set and compared with
the database server's clock (`$$NOW`), never the replicas' clocks (docs/decisions.md, "Leases: server
time, heartbeat, release"); the embedded engine evaluates `$$NOW` with its own server clock
(app.core.embedded_now).

The condition lives in the pipeline, not in the filter: mongod refuses `$expr` in an upsert's filter
(code 224, QueryFeatureNotAllowed), and a filter that does not match an existing lease would make the
upsert insert a second document with the same `_id`.

A holder judges how long its lease is still valid with its own monotonic clock only, counted from
before it sent the renewal: a lower bound of the server-side expiry whatever the clocks' offsets.
"""

from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.core.repository import Repository


def acquire_pipeline(holder: str, ttl_ms: int) -> list[dict[str, Any]]:
    """The update pipeline of `acquire`: left as it is while another holder's lease has not expired,
    else taken (or renewed) by `holder` until `$$NOW + ttl`.

    Every field reads the document before the update (one `$set` stage). A new lease document has no
    `holder` and no `expiresAt`: `$gt` with a missing operand is false on mongod (missing sorts lowest)
    and on the embedded engine, so it is taken.
    """
    kept = {"$and": [{"$ne": ["$holder", holder]}, {"$gt": ["$expiresAt", "$$NOW"]}]}
    return [
        {
            "$set": {
                "holder": {"$cond": [kept, "$holder", holder]},
                "expiresAt": {"$cond": [kept, "$expiresAt", {"$add": ["$$NOW", ttl_ms]}]},
                "renewedAt": {"$cond": [kept, "$renewedAt", "$$NOW"]},
            }
        }
    ]


class LeaseRepository(Repository):
    collection_name = "leases"
    durable = True  # a lease acknowledged by w:1 could roll back on failover and have two holders

    async def acquire(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take, or renew when already ours, the lease `name` for `ttl_seconds`; False when held by another."""
        try:
            lease = await self.collection.find_one_and_update(
                {"_id": name},
                acquire_pipeline(holder, int(ttl_seconds * 1000)),
                projection={"holder": True},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:  # two first upserts raced; the other one created the lease
            return False
        return lease is not None and lease.get("holder") == holder

    try_acquire = acquire

    async def release(self, name: str, holder: str) -> None:
        await self.collection.delete_one({"_id": name, "holder": holder})


class JobRunRepository(Repository):
    """When each background job last completed a pass, on the server's clock, whichever replica ran it:
    `{_id: job, lastSuccessAt}` (the lease document is deleted on release, so it cannot keep it)."""

    collection_name = "background_job_runs"

    async def record_success(self, job: str) -> None:
        await self.collection.update_one({"_id": job}, [{"$set": {"lastSuccessAt": "$$NOW"}}], upsert=True)

    async def last_successes(self, jobs: list[str]) -> dict[str, Any]:
        """`{job: lastSuccessAt}` of the given jobs that completed a pass at least once."""
        cursor = self.collection.find({"_id": {"$in": jobs}}, {"lastSuccessAt": True})
        return {doc["_id"]: doc.get("lastSuccessAt") async for doc in cursor}
