"""The rental settlement pass (mutation survivors of `ReplayRentalRepository.due_for_revenue` /
`unsettled` / `stale_pending` and `RentalSettlement.run_once`) reads its batches oldest first, ties by
`_id`: every replica runs the pass with a bounded
batch, so the order decides which rentals wait for the next pass. Rows are inserted so that their
insertion order is neither their time order nor their `_id` order: a batch read in any other order,
or without the `_id` tie-break, takes the wrong ones (the newest row has the smallest `_id`)."""

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from app.core.timeutils import utcnow
from app.replays.repository import ReplayRentalRepository
from app.replays.settlement import STALE_AFTER, RentalSettlement
from tests.money.harness import fresh_database
from tests.money.test_survivors_rentals import close_windows, rentable
from tests.money.world import add_user, crash_after, credits_of, rent

FIRST, LOW, HIGH = (ObjectId(f"{n:024x}") for n in range(3))
SETTLED = datetime(2026, 1, 1, tzinfo=UTC)


def rental(_id: ObjectId, **fields: object) -> dict[str, object]:
    return {"_id": _id, "userId": ObjectId(), "liveStreamId": ObjectId(), **fields}


@pytest.mark.parametrize(
    ("read", "matching", "time_field", "not_matching"),
    [
        ("due_for_revenue", {"status": "active"}, "expiresAt", {"status": "pending"}),
        ("unsettled", {"settlement": "revenue", "settledAt": None}, "updatedAt", {"settledAt": SETTLED}),
        ("stale_pending", {"status": "pending"}, "updatedAt", {"status": "active"}),
    ],
)
async def test_a_settlement_batch_is_read_oldest_first_ties_by_id(
    read: str, matching: dict[str, object], time_field: str, not_matching: dict[str, object]
) -> None:
    """The two oldest of the rows the read selects; a row it must not select is older than all of them."""
    now = utcnow()
    async with fresh_database() as db:
        await db["replay_rentals"].insert_many(
            [
                rental(FIRST, **matching, **{time_field: now - timedelta(minutes=1)}),
                rental(HIGH, **matching, **{time_field: now - timedelta(minutes=5)}),
                rental(LOW, **matching, **{time_field: now - timedelta(minutes=5)}),
                rental(ObjectId(), **{**matching, **not_matching, time_field: now - timedelta(minutes=9)}),
            ]
        )
        batch = await getattr(ReplayRentalRepository(db), read)(now, limit=2)
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
