"""Named checks for the rental mutants of the 11:38 `make mutate` run (docs/money.md, issue 23, round 3):
answers of two renters and of a retry racing a re-rent, an abandoned claim retried with its key, a
second completion of one period (a twin, a stale snapshot, a stream deleted meanwhile), the instant a
window closes, the split of a small price and the stored shares, a stream delete among several
streams, and settlement steps run twice. Each is a cheap focused test, so mutmut finds a killer fast."""

from datetime import timedelta
from typing import Any

import pytest

from app.core.errors import Conflict, InsufficientCredits, NotFound
from app.core.timeutils import utcnow
from app.replays.repository import ReplayRentalRepository
from app.replays.service import ReplayService
from app.replays.settlement import RentalSettlement, revenue_shares
from app.users.credits import Direction
from tests.money import invariants
from tests.money.harness import exploring, fresh_database
from tests.money.test_survivors_rentals import checked, close_windows, drain, rentable
from tests.money.world import (
    Ctx,
    add_stream,
    add_user,
    apply,
    crash_after,
    credits_of,
    make_rentable,
    pending_rental,
    presenter,
    rent,
    with_before,
)


async def holds(db: Any) -> None:
    """The invariants hold (for set-ups with more than one stream: no per-stream reference check)."""
    world = await invariants.load(db)
    invariants.assert_none(invariants.violations(world))


async def row_of(db: Any, ctx: Ctx, role: str = "renter") -> dict[str, Any]:
    row = await db["replay_rentals"].find_one({"userId": ctx.id(role)})
    assert row is not None
    return row


# --- the split: computed here from the rules (solo 80 %, duo 40 % + 40 %, platform the rest) ------------


@pytest.mark.parametrize(
    ("price", "kind", "has_guest", "expected"),
    [
        (50, "solo", False, (40, 0, 10)),
        (2, "solo", False, (1, 0, 1)),
        (50, "duocrowd", True, (20, 20, 10)),
        (3, "duoself", True, (1, 1, 1)),
        (50, "duocrowd", False, (20, 0, 30)),  # no guest: the platform keeps the guest's 40 %
    ],
)
def test_revenue_shares_follow_the_rules(
    price: int, kind: str, has_guest: bool, expected: tuple[int, ...]
) -> None:
    assert revenue_shares(price, kind, has_guest) == dict(
        zip(("creator", "guest", "platform"), expected, strict=True)
    )


async def test_one_credit_share_is_paid_and_the_stored_split_is_the_rules() -> None:
    """Price 2: the creator's 80 % is exactly 1 credit, paid; the row records the split the rules give
    (the platform's part included), a duo stream's too."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db, price=2)
            await rent(db, ctx, key="rent-1")
            assert await close_windows(db) == 1
            assert (await credits_of(db, ctx, "renter"), await credits_of(db, ctx, "host")) == (118, 1)
            assert (await row_of(db, ctx))["revenueShares"] == {"creator": 1, "guest": 0, "platform": 1}
            await checked(db, ctx)
        async with fresh_database() as db:
            ctx = await rentable(db, price=50, guest=True)
            await rent(db, ctx, key="rent-1")
            assert await close_windows(db) == 1
            assert (await row_of(db, ctx))["revenueShares"] == {"creator": 20, "guest": 20, "platform": 10}
            await checked(db, ctx)


# --- two renters, two streams ------------------------------------------------------------------------------


async def test_each_renter_gets_the_answer_of_their_own_rental() -> None:
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            await add_user(db, ctx, "renter2", credits=120)
            first = await rent(db, ctx, "renter", key="rent-1")
            second = await rent(db, ctx, "renter2", key="rent-1")

            assert first["_id"] == (await row_of(db, ctx, "renter"))["_id"]
            assert second["_id"] == (await row_of(db, ctx, "renter2"))["_id"], "renter2 got another rental"
            assert await rent(db, ctx, "renter2", key="rent-1") == second
            await checked(db, ctx)


async def test_deleting_a_stream_refunds_all_its_rentals_and_no_other_streams() -> None:
    """Two renters of the deleted stream are refunded (and counted); the same renter's rental of
    another stream stays active and charged."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            await add_user(db, ctx, "renter2", credits=120)
            deleted = ctx.stream
            other = await add_stream(db, ctx, goal=None, scheduled=False)
            await make_rentable(db, other, price=30)
            await rent(db, ctx, "renter", key="rent-other")  # ctx.stream is the other stream now
            ctx.stream = deleted
            await rent(db, ctx, "renter", key="rent-1")
            await rent(db, ctx, "renter2", key="rent-1")
            assert await credits_of(db, ctx, "renter") == 40
            stream = await db["live_streams"].find_one({"_id": deleted})

            assert await RentalSettlement(db).refund_deleted_stream(stream, utcnow()) == 2

            kept = await db["replay_rentals"].find_one({"liveStreamId": other})
            assert kept["status"] == "active" and kept["settlement"] is None, (
                "another stream's rental was refunded"
            )
            assert (await credits_of(db, ctx, "renter"), await credits_of(db, ctx, "renter2")) == (90, 120)
            await holds(db)


# --- a claim abandoned because the charge failed, retried ---------------------------------------------------


async def test_new_rental_whose_charge_fails_is_removed_and_only_it() -> None:
    """The renter spent everything between the claim and the charge: the new row is deleted (not
    another renter's), the answer is 402, and the same key rents once the renter has credits again."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            await add_user(db, ctx, "other", credits=120)
            await rent(db, ctx, "other", key="rent-other")
            pending = await pending_rental(db, ctx, "renter")
            await drain(db, ctx, "renter")

            with pytest.raises(InsufficientCredits):
                await RentalSettlement(db).complete(pending, utcnow())

            assert await db["replay_rentals"].find_one({"userId": ctx.id("renter")}) is None
            assert (await row_of(db, ctx, "other"))["status"] == "active"
            await apply(db, ctx.id("renter"), 50, Direction.credit, "ext:top-up")
            again = await rent(db, ctx, "renter", key="rent-renter")
            assert again["status"] == "active" and await credits_of(db, ctx, "renter") == 0
            await checked(db, ctx)


async def test_re_rent_refused_for_credits_and_retried_with_its_key_rents() -> None:
    """A re-rent abandoned for lack of credits leaves no trace of its key: retried with the same
    Idempotency-Key after a top-up it rents the next period (charged), it is not answered with the
    old, expired period."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            await rent(db, ctx, key="rent-1")
            await close_windows(db)
            await crash_after(
                db, lambda sdb: rent(sdb, ctx, key="rent-2"), "replay_rentals", "find_one_and_update"
            )
            pending = await ReplayRentalRepository(db).find_of(ctx.id("renter"), ctx.stream)
            assert pending is not None and pending["status"] == "pending"
            await drain(db, ctx, "renter")
            with pytest.raises(InsufficientCredits):
                await RentalSettlement(db).complete(pending, utcnow())
            with pytest.raises(InsufficientCredits):
                await rent(db, ctx, key="rent-2")
            await apply(db, ctx.id("renter"), 50, Direction.credit, "ext:top-up")

            again = await rent(db, ctx, key="rent-2")

            assert again["status"] == "active" and again["rentalNumber"] == 3, again
            assert await credits_of(db, ctx, "renter") == 0
            await close_windows(db)
            assert await credits_of(db, ctx, "host") == 80
            await checked(db, ctx)


# --- one period completed twice ---------------------------------------------------------------------------


async def test_completing_an_activated_period_again_returns_it() -> None:
    """Two completions of one pending period (a retry and the recovery pass): the second finds it
    activated by the first and returns it, charged once."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            pending = await pending_rental(db, ctx, "renter")
            settlement = RentalSettlement(db)
            first = await settlement.complete(pending, utcnow())

            second = await settlement.complete(pending, utcnow())

            assert second["status"] == "active" and second["_id"] == first["_id"]
            assert second["rentalNumber"] == first["rentalNumber"] == 1
            assert await credits_of(db, ctx, "renter") == 70
            await checked(db, ctx)


async def test_stale_completion_of_an_earlier_period_is_refused() -> None:
    """A completion of period 1 that resumes after the row moved on to period 2 is refused with a
    Conflict: it is not answered with period 2, and charges nothing more."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            pending = await pending_rental(db, ctx, "renter")
            settlement = RentalSettlement(db)
            await settlement.complete(pending, utcnow())
            await close_windows(db)
            second = await rent(db, ctx, key="rent-2")
            assert second["rentalNumber"] == 2

            with pytest.raises(Conflict):
                await settlement.complete(pending, utcnow())

            assert await credits_of(db, ctx, "renter") == 20
            assert (await row_of(db, ctx))["rentalNumber"] == 2
            await checked(db, ctx)


async def test_completion_after_the_stream_was_deleted_refunds_the_active_period_itself() -> None:
    """A twin activated the period, then the stream was deleted (its refund follow-up has not run): the
    second completion answers 404 and refunds the period itself, inside its window."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            pending = await pending_rental(db, ctx, "renter")
            settlement = RentalSettlement(db)
            await settlement.complete(pending, utcnow())
            await db["live_streams"].update_one({"_id": ctx.stream}, {"$set": {"deletedAt": utcnow()}})

            with pytest.raises(NotFound):
                await settlement.complete(pending, utcnow())

            row = await row_of(db, ctx)
            assert row["status"] == "refunded" and row["settledAt"] is not None, row
            assert await credits_of(db, ctx, "renter") == 120
            await checked(db, ctx)


# --- the instant a window closes ---------------------------------------------------------------------------


async def test_window_is_closed_at_its_expiry_instant() -> None:
    """At exactly expiresAt the rental is over (the same instant its revenue is due): no access, and a
    re-rent pays out the old period and rents the next one instead of 'you already rent this'."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            await rent(db, ctx, key="rent-1")
            at = (await row_of(db, ctx))["expiresAt"]
            service = ReplayService(db, presenter(db))
            access = await service.access(ctx.stream, ctx.caller("renter"), at)
            assert access["canViewRecording"] is False

            again = await service.rent(ctx.stream, ctx.caller("renter"), "rent-2", at)

            assert again["rentalNumber"] == 2 and again["status"] == "active"
            assert (await credits_of(db, ctx, "renter"), await credits_of(db, ctx, "host")) == (20, 40)
            await checked(db, ctx)


async def test_settle_expired_claims_only_a_closed_unclaimed_window() -> None:
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            await rent(db, ctx, key="rent-1")
            row = await row_of(db, ctx)
            settlement = RentalSettlement(db)

            assert await settlement.settle_expired(row, utcnow()) is False  # window open
            assert await credits_of(db, ctx, "host") == 0
            closed = row["expiresAt"] + timedelta(seconds=1)
            assert await settlement.settle_expired(row, closed) is True
            assert await settlement.settle_expired(row, closed) is False  # claimed already
            assert await credits_of(db, ctx, "host") == 40
            await checked(db, ctx)


# --- settlement steps run twice, answers racing a re-rent ----------------------------------------------------


async def test_settlement_steps_run_again_leave_a_settled_period_untouched() -> None:
    """A refund or a payout finished once and run again (recovery racing the request) writes nothing:
    the settled row, its settledAt included, stays as it was."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            await add_user(db, ctx, "renter2", credits=120)
            await rent(db, ctx, "renter", key="rent-1")
            assert await close_windows(db) == 1
            await rent(db, ctx, "renter2", key="rent-1")
            stream = await db["live_streams"].find_one({"_id": ctx.stream})
            settlement = RentalSettlement(db)
            assert await settlement.refund_deleted_stream(stream, utcnow()) == 1
            paid, refunded = await row_of(db, ctx, "renter"), await row_of(db, ctx, "renter2")
            assert paid["settledAt"] is not None and refunded["settledAt"] is not None
            later = utcnow() + timedelta(hours=1)

            await settlement.distribute(paid, later)
            await settlement.refund(refunded, later)

            assert await row_of(db, ctx, "renter") == paid
            assert await row_of(db, ctx, "renter2") == refunded
            assert (await credits_of(db, ctx, "host"), await credits_of(db, ctx, "renter2")) == (40, 120)
            await checked(db, ctx)


async def test_retry_whose_period_was_re_rented_meanwhile_gets_its_own_answer() -> None:
    """Request 1 died before storing its answer; its period expired and was paid out. Its retry (same
    key) stores the answer just as another request re-rents the row (period 2): the retry gets the
    answer of period 1 - not an error, not period 2's - and period 2 keeps its own."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            await crash_after(
                db, lambda sdb: rent(sdb, ctx, key="rent-1"), "replay_rentals", "find_one_and_update"
            )
            assert (await row_of(db, ctx))["response"] is None
            assert await close_windows(db) == 1
            re_rented: list[dict[str, Any]] = []

            async def re_rent() -> None:
                re_rented.append(await rent(db, ctx, key="rent-2"))

            answer = await with_before(
                db, lambda sdb: rent(sdb, ctx, key="rent-1"), "replay_rentals", "update_one", re_rent
            )

            assert answer["rentalNumber"] == 1 and answer["status"] == "expired", answer
            assert re_rented[0]["rentalNumber"] == 2
            row = await row_of(db, ctx)
            assert row["rentalNumber"] == 2 and row["response"] == re_rented[0]
            assert await credits_of(db, ctx, "renter") == 20
            await checked(db, ctx)
