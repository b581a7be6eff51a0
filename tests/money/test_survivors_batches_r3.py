"""The rental settlement pass (mutation survivors of `ReplayRentalRepository.due_for_revenue` /
`unsettled` / `stale_pending` and `RentalSettlement.run_once`) reads its batches oldest first, ties by
`_id`: every replica runs the pass with a bounded
batch, so the order decides which rentals wait for the next pass. Rows are inserted so that their
insertion order is neither their time order nor their `_id` order: a batch read in any other order,
or without the `_id` tie-break, takes the wrong ones (the newest row has the smallest `_id`)."""

from datetime import timedelta

from bson import ObjectId

from app.core.timeutils import utcnow
from app.replays.repository import ReplayRentalRepository
from app.replays.settlement import STALE_AFTER, RentalSettlement
from tests.money.harness import fresh_database
from tests.money.test_survivors_rentals import close_windows, rentable
from tests.money.world import add_user, crash_after, credits_of, rent

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


async def test_stale_pending_rentals_are_read_least_recently_updated_first_ties_by_id() -> None:
    now = utcnow()
    async with fresh_database() as db:
        await db["replay_rentals"].insert_many(
            [
                rental(FIRST, status="pending", updatedAt=now - timedelta(minutes=1)),
                rental(HIGH, status="pending", updatedAt=now - timedelta(minutes=5)),
                rental(LOW, status="pending", updatedAt=now - timedelta(minutes=5)),
                rental(ObjectId(), status="active", updatedAt=now - timedelta(minutes=9)),
            ]
        )
        batch = await ReplayRentalRepository(db).stale_pending(now, limit=2)
    assert [row["_id"] for row in batch] == [LOW, HIGH]


async def test_a_settlement_pass_leaves_a_rental_still_in_flight_to_its_request() -> None:
    """A rental whose request is still taking its steps (pending, updated just now) is not the pass's:
    only one older than STALE_AFTER is a dead request's, completed for it."""
    async with fresh_database() as db:
        ctx = await rentable(db)
        await crash_after(db, lambda sdb: rent(sdb, ctx, key="rent-1"), "replay_rentals", "insert_one")
        assert (await db["replay_rentals"].find_one({}) or {}).get("status") == "pending"

        assert await RentalSettlement(db).run_once(utcnow()) == 0
        assert (await db["replay_rentals"].find_one({}) or {}).get("status") == "pending"
        assert await credits_of(db, ctx, "renter") == 120

        await RentalSettlement(db).run_once(utcnow() + STALE_AFTER + timedelta(seconds=1))
        assert (await db["replay_rentals"].find_one({}) or {}).get("status") == "active"
        assert await credits_of(db, ctx, "renter") == 70


async def test_a_settlement_pass_answers_how_many_closed_windows_it_paid_out() -> None:
    async with fresh_database() as db:
        ctx = await rentable(db)
        await add_user(db, ctx, "renter2", credits=120)
        await rent(db, ctx, key="rent-1")
        await rent(db, ctx, role="renter2", key="rent-2")
        assert await close_windows(db) == 2
        assert await credits_of(db, ctx, "host") == 80
