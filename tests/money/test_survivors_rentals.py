"""Named checks for mutants of the rental and superlike money code that the crash/interleaving
scenarios let through (docs/money.md, "Survivors of rentals and superlikes"): a re-rent (the reused
row, `reopen` / `abandon`), a duo rental's split, a price too small for a share, a charge refused on a
deleted stream, a superlike retried after the sender spent everything, and the stream every money
movement points at."""

from datetime import timedelta
from typing import Any

import pytest

from app.core import events
from app.core.errors import InsufficientCredits, NotFound
from app.core.timeutils import utcnow
from app.replays.repository import ReplayRentalRepository
from app.replays.settlement import RentalSettlement
from app.users.credits import Direction, TxType
from tests.money import invariants
from tests.money.harness import exploring, fresh_database
from tests.money.world import (
    Ctx,
    add_stream,
    add_user,
    apply,
    crash_after,
    credits_of,
    join,
    live_solo,
    make_rentable,
    rent,
    start,
    superlike,
)

MONEY_PREFIXES = ("replay-rental:", "rental-refund:", "rental-revenue:", "superlike:", "superlike-revenue:")


async def drain(db: Any, ctx: Ctx, role: str) -> None:
    balance = await credits_of(db, ctx, role)
    if balance > 0:
        await apply(db, ctx.id(role), balance, Direction.debit, f"ext:drain-{role}", TxType.replay_rental)


async def close_windows(db: Any) -> int:
    """Time passes: every active rental's 24 h window has closed; the settlement loop pays them out."""
    past = utcnow() - timedelta(minutes=1)
    await db["replay_rentals"].update_many({"status": "active"}, {"$set": {"expiresAt": past}})
    return await RentalSettlement(db).run_once(utcnow())


async def checked(db: Any, ctx: Ctx) -> invariants.World:
    """The invariants hold, and every money movement of a rental or superlike points at the stream
    (the reference the transaction history shows)."""
    world = await invariants.load(db)
    problems = invariants.violations(world)
    want = {"kind": "liveStream", "id": str(ctx.stream)}
    for tx in world.txs:
        if tx["idempotencyKey"].startswith(MONEY_PREFIXES) and tx.get("reference") != want:
            problems.append(f"{tx['idempotencyKey']} references {tx.get('reference')!r}, expected {want!r}")
    invariants.assert_none(problems)
    return world


async def rentable(db: Any, price: int = 50, guest: bool = False) -> Ctx:
    ctx = Ctx()
    await add_user(db, ctx, "host")
    if guest:
        await add_user(db, ctx, "guest")
    await add_user(db, ctx, "renter", credits=120)
    await add_stream(db, ctx, guest="guest" if guest else None, goal=None, scheduled=False)
    await make_rentable(db, ctx.stream, price=price)
    return ctx


def settled_state(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row.get(key) for key in ("status", "settlement", "settledAt")}


# --- a re-rent: the row of an expired period is reused ---------------------------------------------------


async def test_re_rent_reuses_the_row_charges_the_new_period_and_pays_it_out() -> None:
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            first = await rent(db, ctx, key="rent-1")
            assert first["rentalNumber"] == 1
            assert await close_windows(db) == 1
            assert (await credits_of(db, ctx, "renter"), await credits_of(db, ctx, "host")) == (70, 40)

            second = await rent(db, ctx, key="rent-2")

            assert second["rentalNumber"] == 2, second
            rows = await db["replay_rentals"].find({}).to_list()
            assert len(rows) == 1 and rows[0]["rentalNumber"] == 2 and rows[0]["status"] == "active"
            assert rows[0]["previous"] == {
                "status": "expired",
                "settlement": "revenue",
                "settledAt": rows[0]["previous"]["settledAt"],
            }
            assert rows[0]["previous"]["settledAt"] is not None
            assert await credits_of(db, ctx, "renter") == 20
            assert await rent(db, ctx, key="rent-2") == second  # the stored answer
            assert await close_windows(db) == 1
            assert (await credits_of(db, ctx, "renter"), await credits_of(db, ctx, "host")) == (20, 80)
            await checked(db, ctx)


async def test_re_rent_whose_charge_fails_gives_the_row_its_settled_state_back() -> None:
    """A re-rent claimed (the row reopened), then the renter spent everything before the charge: the
    period is abandoned without a charge and the row is exactly the settled row it was, so the renter
    can rent again later."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            await rent(db, ctx, key="rent-1")
            await close_windows(db)
            before = await db["replay_rentals"].find_one({})
            await crash_after(
                db, lambda sdb: rent(sdb, ctx, key="rent-2"), "replay_rentals", "find_one_and_update"
            )
            pending = await ReplayRentalRepository(db).find_of(ctx.id("renter"), ctx.stream)
            assert pending is not None and pending["status"] == "pending" and pending["rentalNumber"] == 2
            await drain(db, ctx, "renter")

            with pytest.raises(InsufficientCredits):
                await RentalSettlement(db).complete(pending, utcnow())

            after = await db["replay_rentals"].find_one({})
            assert after is not None, "the reused row was deleted"
            assert settled_state(after) == settled_state(before)
            assert await credits_of(db, ctx, "renter") == 0
            await checked(db, ctx)
            await apply(db, ctx.id("renter"), 50, Direction.credit, "ext:top-up")
            third = await rent(db, ctx, key="rent-3")
            assert third["rentalNumber"] == 3 and await credits_of(db, ctx, "renter") == 0
            await close_windows(db)
            assert await credits_of(db, ctx, "host") == 80
            await checked(db, ctx)


# --- the split and the shares -----------------------------------------------------------------------------


async def test_duo_rental_pays_creator_and_guest_40_percent_each() -> None:
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db, price=50, guest=True)
            await rent(db, ctx, key="rent-1")
            assert await close_windows(db) == 1
            got = {role: await credits_of(db, ctx, role) for role in ("renter", "host", "guest")}
            assert got == {"renter": 70, "host": 20, "guest": 20}
            await checked(db, ctx)


async def test_rental_at_one_credit_pays_no_zero_share() -> None:
    """80 % of 1 credit rounds down to 0: the platform keeps it, no zero movement is attempted."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db, price=1)
            await rent(db, ctx, key="rent-1")
            assert await close_windows(db) == 1
            assert (await credits_of(db, ctx, "renter"), await credits_of(db, ctx, "host")) == (119, 0)
            row = await db["replay_rentals"].find_one({})
            assert row["status"] == "expired" and row["settledAt"] is not None
            await checked(db, ctx)


# --- a charge refused because the stream was deleted -------------------------------------------------------


async def test_charge_on_a_deleted_stream_refunds_and_settles_the_period_itself() -> None:
    """The stream is deleted before the pending period is charged (its delete's refund follow-up has
    not run): the charge answers 404, and the period it claimed for a refund is settled by the request
    itself, not left to recovery."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            await crash_after(db, lambda sdb: rent(sdb, ctx, key="rent-1"), "replay_rentals", "insert_one")
            pending = await ReplayRentalRepository(db).find_of(ctx.id("renter"), ctx.stream)
            assert pending is not None
            await db["live_streams"].update_one({"_id": ctx.stream}, {"$set": {"deletedAt": utcnow()}})

            with pytest.raises(NotFound):
                await RentalSettlement(db).complete(pending, utcnow())

            row = await db["replay_rentals"].find_one({})
            assert row["status"] == "refunded" and row["settlement"] == "refund"
            assert row["settledAt"] is not None, "the refund was left unsettled"
            assert await credits_of(db, ctx, "renter") == 120
            await checked(db, ctx)


# --- superlikes ----------------------------------------------------------------------------------------------


async def test_superlike_retried_after_the_sender_spent_everything_gets_the_stored_answer() -> None:
    """The retry (same Idempotency-Key) finds the superlike it sent: same answer, no refusal because the
    balance is now 0, no second charge, no second event on the stream's screen."""
    shown: list[Any] = []
    unsubscribe = events.subscribe(events.STREAM_SUPERLIKE, shown.append)
    try:
        with exploring():
            async with fresh_database() as db:
                ctx = await live_solo(db)
                await superlike(db, ctx, "fan2", key="tap-fan2")  # another sender's superlike first
                first = await superlike(db, ctx, "fan1", key="tap-1")
                assert first["senderId"] == ctx.id("fan1") and first["price"] == 10
                assert len(shown) == 2 and shown[-1] == first
                assert await credits_of(db, ctx, "fan1") == 0

                again = await superlike(db, ctx, "fan1", key="tap-1")

                assert again == first
                assert len(shown) == 2, "a retry was shown as a second superlike"
                assert await credits_of(db, ctx, "host") == 16
                await checked(db, ctx)
    finally:
        unsubscribe()


async def test_paid_entry_and_superlike_of_a_duo_stream_reference_it() -> None:
    with exploring():
        async with fresh_database() as db:
            ctx = Ctx()
            for role, amount in (("host", 0), ("guest", 0), ("fan1", 100)):
                await add_user(db, ctx, role, credits=amount)
            await add_stream(db, ctx, guest="guest", goal=None, scheduled=False, price=30)
            await start(db, ctx)
            await join(db, ctx, "fan1")
            answer = await superlike(db, ctx, "fan1", key="tap-1")
            assert answer["senderId"] == ctx.id("fan1")
            assert (await credits_of(db, ctx, "host"), await credits_of(db, ctx, "guest")) == (4, 4)
            await checked(db, ctx)


# --- a cancel racing a start that holds the live slot -----------------------------------------------------


async def test_cancel_is_refused_while_a_start_holds_the_live_slot() -> None:
    """The host's start has taken the live slot (it is going live on AIOZ) when a cancel arrives: the
    cancel is refused and the funding stays held for the stream that is about to go live, rather than
    refunded under a stream that is starting."""
    from app.core.errors import Conflict
    from tests.money.world import cancel, fund

    with exploring():
        async with fresh_database() as db:
            ctx = Ctx()
            await add_user(db, ctx, "host")
            await add_user(db, ctx, "fan", credits=100)
            await add_stream(db, ctx, goal=1000)
            await fund(db, ctx, "fan", 40, "fund-1")
            await crash_after(db, lambda sdb: start(sdb, ctx), "live_streams", "find_one_and_update")
            stream = await db["live_streams"].find_one({"_id": ctx.stream})
            assert stream["liveSlotOwner"] == ctx.id("host") and stream["status"] == "scheduled"

            with pytest.raises(Conflict):
                await cancel(db, ctx)

            stream = await db["live_streams"].find_one({"_id": ctx.stream})
            assert stream["status"] == "scheduled" and stream.get("cancelledAt") is None
            assert await credits_of(db, ctx, "fan") == 60
            await checked(db, ctx)


# --- h27: a concurrent twin's answer, a repeated delete follow-up, recovery's batch, superlike twins ---------


async def test_rental_answer_stored_first_is_kept_against_a_concurrent_twin() -> None:
    """Two requests completing the same period both store an answer: the first one stays, and the
    second request is given it (not its own)."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            first = await rent(db, ctx, key="rent-1")
            row = await db["replay_rentals"].find_one({})
            twin = {**first, "twin": True}

            kept = await ReplayRentalRepository(db).store_answer(row, twin)

            assert kept == first
            assert (await db["replay_rentals"].find_one({}))["response"] == first
            assert await rent(db, ctx, key="rent-1") == first


async def test_stream_deleted_mark_is_set_once_and_kept_by_a_repeated_follow_up() -> None:
    """The delete follow-up marks the stream's rentals (the renter's list hides them) and refunds the
    open period; run again (a retried follow-up) it keeps the first mark and refunds nothing twice."""
    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            await rent(db, ctx, key="rent-1")
            stream = await db["live_streams"].find_one({"_id": ctx.stream})
            settlement = RentalSettlement(db)

            assert await settlement.refund_deleted_stream(stream, utcnow()) == 1
            marked = (await db["replay_rentals"].find_one({}))["streamDeletedAt"]
            assert marked is not None, "the rental was not marked as of a deleted stream"
            assert await settlement.refund_deleted_stream(stream, utcnow() + timedelta(hours=1)) == 0

            assert (await db["replay_rentals"].find_one({}))["streamDeletedAt"] == marked
            assert await credits_of(db, ctx, "renter") == 120
            await checked(db, ctx)


async def test_recovery_batch_is_not_filled_by_settled_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """An older, fully settled period must not take the recovery pass's only slot: the newer period
    whose revenue claim crashed before the payout is the one paid out."""
    import app.replays.settlement as settlement_module

    with exploring():
        async with fresh_database() as db:
            ctx = await rentable(db)
            await add_user(db, ctx, "renter2", credits=120)
            await rent(db, ctx, key="rent-1")
            assert await close_windows(db) == 1  # renter's period: settled, host +40
            await rent(db, ctx, "renter2", key="rent-2")
            past = utcnow() - timedelta(minutes=1)
            await db["replay_rentals"].update_many({"status": "active"}, {"$set": {"expiresAt": past}})
            await crash_after(
                db,
                lambda sdb: RentalSettlement(sdb).run_once(utcnow()),
                "replay_rentals",
                "find_one_and_update",
            )
            claimed = await db["replay_rentals"].find_one({"userId": ctx.id("renter2")})
            assert claimed["settlement"] == "revenue" and claimed["settledAt"] is None
            old = utcnow() - timedelta(hours=2)
            await db["replay_rentals"].update_one({"userId": ctx.id("renter")}, {"$set": {"updatedAt": old}})
            await db["replay_rentals"].update_one(
                {"userId": ctx.id("renter2")}, {"$set": {"updatedAt": old + timedelta(minutes=30)}}
            )
            monkeypatch.setattr(settlement_module, "BATCH", 1)

            await RentalSettlement(db).run_once(utcnow())

            assert await credits_of(db, ctx, "host") == 80, "the crashed payout was not finished"
            row = await db["replay_rentals"].find_one({"userId": ctx.id("renter2")})
            assert row["settledAt"] is not None
            await checked(db, ctx)


async def test_superlike_twin_of_a_concurrent_request_gets_the_first_document() -> None:
    """Two requests with the same Idempotency-Key both passed the lookup: the second insert clashes
    and gets the first superlike back, not an error, and only one is charged."""
    from app.superlikes.service import SuperlikeService

    with exploring():
        async with fresh_database() as db:
            ctx = await live_solo(db)
            stream = await db["live_streams"].find_one({"_id": ctx.stream})
            service = SuperlikeService(db)

            first = await service._start(stream, ctx.id("fan1"), "tap-1", "hash")
            twin = await service._start(stream, ctx.id("fan1"), "tap-1", "hash")

            assert twin["_id"] == first["_id"]
            assert await db["superlikes"].count_documents({}) == 1
            assert (await service.drive(twin))["status"] == "completed"
            assert await credits_of(db, ctx, "fan1") == 0
            await checked(db, ctx)


async def test_stale_superlikes_are_resumed_oldest_first() -> None:
    """Two superlikes of a sender who can pay for one died midway, written by replicas whose clocks
    disagree (the older one was inserted second): recovery resumes the older one first, so that one is
    paid and the newer one refused, whatever the insertion order."""
    from app.superlikes.service import SuperlikeService

    with exploring():
        async with fresh_database() as db:
            ctx = await live_solo(db)
            for key in ("tap-1", "tap-2"):
                await crash_after(
                    db, lambda sdb, key=key: superlike(sdb, ctx, "fan1", key=key), "superlikes", "insert_one"
                )
            now = utcnow()
            await db["superlikes"].update_one({"idempotencyKey": "tap-1"}, {"$set": {"createdAt": now}})
            await db["superlikes"].update_one(
                {"idempotencyKey": "tap-2"}, {"$set": {"createdAt": now - timedelta(minutes=5)}}
            )

            assert await SuperlikeService(db).resume_stale(now, limit=1) == 1

            status = {
                doc["idempotencyKey"]: doc["status"] for doc in await db["superlikes"].find({}).to_list()
            }
            assert status == {"tap-1": "pending", "tap-2": "completed"}
            assert await SuperlikeService(db).resume_stale(now, limit=1) == 1
            assert (await db["superlikes"].find_one({"idempotencyKey": "tap-1"}))["status"] == "rejected"
            assert await credits_of(db, ctx, "fan1") == 0
            await checked(db, ctx)
