"""Named checks for the mutants of the credit ledger (`app/users/credits.py`) that survived round 3 of
`make mutate` (issue 23, docs/money.md "Mutation score"): the history's voided pairs and order, the
running balance next to a refused movement still in flight, and the recovery pass (which stale
movements it drives, in which order, how many, and which holders it sweeps).

Each builds one small world with the harness's helpers; the expected balances and rows come from the
amounts written here, never from the code's own records.
"""

from datetime import timedelta
from typing import Any

from bson import ObjectId

from app.core.once import IN_FLIGHT
from app.core.timeutils import utcnow
from app.users.credits import CreditLedger, CreditTransactionRepository, Direction, TxType
from tests.money import invariants
from tests.money.harness import database_client, fresh_database, recover, shifted_clock
from tests.money.world import Ctx, add_user, apply, crash_after, credits_of

STALE_AFTER = timedelta(minutes=1)  # app/live_streams/reconcile.py: a runner silent that long has died


async def history_of(db: Any, user_id: ObjectId, *, descending: bool = True) -> list[tuple[str, int | None]]:
    """The history page as `GET /users/me/transactions` reads it: (key, running balance) per row."""
    rows, total = await CreditTransactionRepository(db).history(
        user_id,
        types=None,
        direction=None,
        date_from=None,
        date_to=None,
        descending=descending,
        skip=0,
        limit=20,
    )
    assert total == len(rows), (total, rows)
    shown = await CreditLedger(db).with_balances(user_id, rows)
    return [(row["idempotencyKey"].removeprefix("ext:"), row["balanceAfter"]) for row in shown]


async def pending_movement(
    db: Any, user_id: ObjectId, amount: int, direction: Direction, key: str, at: Any
) -> None:
    """A movement whose request died right after recording it, `at` that time (nothing decided)."""
    with shifted_clock(at):
        await crash_after(
            db,
            lambda sdb: apply(sdb, user_id, amount, direction, f"ext:{key}"),
            "credit_transactions",
            "insert_one",
        )


async def status_of(db: Any, key: str) -> str:
    row = await db["credit_transactions"].find_one({"idempotencyKey": f"ext:{key}"})
    assert row is not None, key
    return str(row["status"])


# --- the history ------------------------------------------------------------------------------------------


async def test_a_voided_pair_is_left_out_of_the_history_and_its_balances() -> None:
    """A debit given straight back and its refund, voided, did not happen for the user: the history
    lists neither, and the running balances step over them (100 +50 -5, the pair nets 0)."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        payer = await add_user(db, ctx, "payer", credits=100)
        base = utcnow()
        with shifted_clock(base - timedelta(minutes=30)):
            await apply(db, payer, 50, Direction.credit, "ext:g1")
        with shifted_clock(base - timedelta(minutes=20)):
            await apply(db, payer, 10, Direction.debit, "ext:f1", TxType.live_stream_funding)
            await apply(db, payer, 10, Direction.credit, "ext:f1-refund", TxType.live_stream_funding_refund)
            await CreditLedger(db).void(payer, ["ext:f1", "ext:f1-refund"])
        with shifted_clock(base - timedelta(minutes=10)):
            await apply(db, payer, 5, Direction.debit, "ext:s1", TxType.superlike)

        assert await history_of(db, payer) == [("s1", 145), ("g1", 150)]
        assert await credits_of(db, ctx, "payer") == 145
        await invariants.check_all(db)


async def test_an_ascending_history_lists_the_oldest_movement_first() -> None:
    """`sort=asc` lists the movements oldest first, each with the balance right after it."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        payer = await add_user(db, ctx, "payer", credits=100)
        base = utcnow()
        for minutes_ago, amount, direction, key in (
            (30, 50, Direction.credit, "g1"),
            (20, 5, Direction.debit, "s1"),
        ):
            with shifted_clock(base - timedelta(minutes=minutes_ago)):
                await apply(db, payer, amount, direction, f"ext:{key}")

        assert await history_of(db, payer, descending=False) == [("g1", 150), ("s1", 145)]
        assert await history_of(db, payer) == [("s1", 145), ("g1", 150)]


async def test_a_refused_debit_still_in_flight_does_not_count_in_the_running_balance() -> None:
    """A debit above the balance was decided *refused* on the user (no credits taken) and its request died
    before marking the row final: the balance still holds everything, so the newest visible row shows
    the whole balance (100 + 50), not the balance plus the refused amount."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        payer = await add_user(db, ctx, "payer", credits=100)
        await apply(db, payer, 50, Direction.credit, "ext:g1")
        await crash_after(
            db,
            lambda sdb: apply(sdb, payer, 500, Direction.debit, "ext:big", TxType.replay_rental),
            "users",
            "find_one_and_update",
        )
        assert await status_of(db, "big") == "pending"

        assert await history_of(db, payer) == [("g1", 150)]
        await recover(db)
        assert await status_of(db, "big") == "failed"
        assert await history_of(db, payer) == [("g1", 150)]
        assert await credits_of(db, ctx, "payer") == 150
        await invariants.check_all(db)


# --- the recovery pass (resume_stale) -----------------------------------------------------------------------


async def test_a_recovery_pass_drives_the_oldest_stale_movements_first_and_only_pending_ones() -> None:
    """Movements whose requests died are driven oldest first (by when they were recorded, not by when
    they were written: a request stamped earlier may write later), and a pass's batch holds only pending
    movements, however many final ones are older. Here a +20 recorded before a -20 of a payer holding
    10: taken in order both apply (10 + 20 - 20); the other way round the debit would be refused."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        payer = await add_user(db, ctx, "payer")
        base = utcnow()
        with shifted_clock(base - timedelta(minutes=30)):
            await apply(db, payer, 10, Direction.credit, "ext:g-old")  # final long ago
        await pending_movement(db, payer, 20, Direction.debit, "d", base - timedelta(minutes=10))
        await pending_movement(db, payer, 20, Direction.credit, "c", base - timedelta(minutes=20))

        driven = await CreditLedger(db).resume_stale(utcnow() - STALE_AFTER, limit=2)

        assert driven == 2
        assert (await status_of(db, "c"), await status_of(db, "d")) == ("completed", "completed")
        assert await credits_of(db, ctx, "payer") == 10
        await invariants.check_all(db)


async def test_a_recovery_pass_drives_at_most_two_hundred_stale_movements() -> None:
    """The pass is bounded (every replica's reconcile loop runs it): of 201 stale movements, one pass
    drives 200, oldest first, and leaves the newest for the next pass."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        payer = await add_user(db, ctx, "payer")
        base = utcnow()
        await pending_movement(db, payer, 1, Direction.credit, "m0", base - timedelta(minutes=30))
        template = await db["credit_transactions"].find_one({"idempotencyKey": "ext:m0"})
        assert template is not None
        copies = []
        for n in range(1, 201):
            at = template["createdAt"] + timedelta(seconds=n)
            copies.append(
                {
                    **template,
                    "_id": ObjectId(),
                    "idempotencyKey": f"ext:m{n}",
                    "occurredAt": at,
                    "createdAt": at,
                    "updatedAt": at,
                }
            )
        await db["credit_transactions"].insert_many(copies)
        ledger = CreditLedger(db)

        assert await ledger.resume_stale(utcnow() - STALE_AFTER) == 200
        assert await status_of(db, "m200") == "pending"
        assert await credits_of(db, ctx, "payer") == 200
        assert await ledger.resume_stale(utcnow() - STALE_AFTER) == 1
        assert await status_of(db, "m200") == "completed"
        assert await credits_of(db, ctx, "payer") == 201


async def leftover_entry(db: Any, user_id: ObjectId, key: str, at: Any) -> None:
    """A grant whose request died between marking its row final and forgetting its decision on the user
    (`at` that time): the user keeps an `opInFlight` entry for a final movement."""
    with shifted_clock(at):
        await crash_after(
            db,
            lambda sdb: apply(sdb, user_id, 5, Direction.credit, f"ext:{key}"),
            "credit_transactions",
            "update_one",
        )
    assert await status_of(db, key) == "completed"


async def entries_left(db: Any, user_id: ObjectId) -> int:
    user = await db["users"].find_one({"_id": user_id})
    assert user is not None
    return len(user.get(IN_FLIGHT) or {})


async def test_a_recovery_pass_sweeps_as_many_holders_as_its_batch() -> None:
    """The pass's sweep of decisions left behind is bounded by the same batch as its movements: with a
    batch of one, one of two users idle for half an hour is swept, the other waits for the next pass."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        first = await add_user(db, ctx, "first")
        second = await add_user(db, ctx, "second")
        long_ago = utcnow() - timedelta(minutes=30)
        await leftover_entry(db, first, "g-first", long_ago)
        await leftover_entry(db, second, "g-second", long_ago)
        ledger = CreditLedger(db)

        assert await ledger.resume_stale(utcnow() - STALE_AFTER, limit=1) == 0
        assert sorted([await entries_left(db, first), await entries_left(db, second)]) == [0, 1]
        await ledger.resume_stale(utcnow() - STALE_AFTER, limit=1)
        assert [await entries_left(db, first), await entries_left(db, second)] == [0, 0]
        assert await credits_of(db, ctx, "first") == await credits_of(db, ctx, "second") == 5


async def test_a_recovery_pass_sweeps_only_holders_idle_for_the_prune_delay() -> None:
    """The sweep looks only at users whose latest decision is `PRUNE_AFTER` (5 min) older than the pass's
    stale mark: a decision left three minutes ago stays for now and is swept by a pass ten minutes on."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        payer = await add_user(db, ctx, "payer")
        await leftover_entry(db, payer, "g1", utcnow() - timedelta(minutes=3))
        ledger = CreditLedger(db)

        await ledger.resume_stale(utcnow() - STALE_AFTER)
        assert await entries_left(db, payer) == 1
        later = utcnow() + timedelta(minutes=10)
        with shifted_clock(later):
            await ledger.resume_stale(later - STALE_AFTER)
        assert await entries_left(db, payer) == 0
        assert await credits_of(db, ctx, "payer") == 5
