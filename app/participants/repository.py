"""Queries on `audience_peaks`: the highest number of audience viewers present at once, per stream.

Participations keep one document per (stream, user, role), not every session, so the peak cannot be
recomputed afterwards: it is raised (`$max`) after every audience join instead.
"""

from bson import ObjectId

from app.core.repository import Repository
from app.core.timeutils import utcnow


class AudiencePeakRepository(Repository):
    """`_id` = the stream's id: every query is an `_id` lookup or upsert."""

    collection_name = "audience_peaks"

    async def raise_to(self, stream_id: ObjectId, present: int) -> None:
        await self.collection.update_one(
            {"_id": stream_id}, {"$max": {"peak": present}, "$set": {"updatedAt": utcnow()}}, upsert=True
        )

    async def peak(self, stream_id: ObjectId) -> int:
        doc = await self.collection.find_one({"_id": stream_id}, {"peak": 1})
        return int(doc["peak"]) if doc else 0
