"""The rental settlement pass reads its batches oldest first, ties by `_id` (mutation survivors of
`ReplayRentalRepository.due_for_revenue` / `unsettled`): every replica runs the pass with a bounded
batch, so the order decides which rentals wait for the next pass. Rows are inserted so that their
insertion order is neither their time order nor their `_id` order: a batch read in any other order,
or without the `_id` tie-break, takes the wrong ones (the newest row has the smallest `_id`)."""

from datetime import timedelta

from bson import ObjectId

from app.core.timeutils import utcnow
from app.replays.repository import ReplayRentalRepository
from tests.money.harness import fresh_database

FIRST, LOW, HIGH = (ObjectId(f"{n:024x}") for n in range(3))


def rental(_id: ObjectId, **fields: object) -> dict[str, object]:
    return {"_id": _id, "userId": ObjectId(), "liveStreamId": ObjectId(), **fields}


async def test_rentals_due_for_revenue_are_read_oldest_expiry_first_ties_by_id() -> None:
    now = utcnow()
    async with fresh_database() as db:
        await db["replay_rentals"].insert_many(
            [
                rental(FIRST, status="active", expiresAt=now - timedelta(minutes=1)),
                rental(HIGH, status="active", expiresAt=now - timedelta(minutes=5)),
                rental(LOW, status="active", expiresAt=now - timedelta(minutes=5)),
            ]
        )
        due = await ReplayRentalRepository(db).due_for_revenue(now, limit=2)
    assert [row["_id"] for row in due] == [LOW, HIGH]


async def test_unsettled_rentals_are_read_least_recently_updated_first_ties_by_id() -> None:
    now = utcnow()
    unsettled = {"settlement": "revenue", "settledAt": None}
    async with fresh_database() as db:
        await db["replay_rentals"].insert_many(
            [
                rental(FIRST, **unsettled, updatedAt=now - timedelta(minutes=1)),
                rental(HIGH, **unsettled, updatedAt=now - timedelta(minutes=5)),
                rental(LOW, **unsettled, updatedAt=now - timedelta(minutes=5)),
            ]
        )
        batch = await ReplayRentalRepository(db).unsettled(now, limit=2)
    assert [row["_id"] for row in batch] == [LOW, HIGH]
