"""Named checks for the mutants of the money core that the harness's schedules let survive (issue 23,
docs/money.md "Survivors of once, credits, users, follow-ups"): exactly-once bookkeeping on a holder
(app/core/once.py), the credit history and its running balance (app/users/credits.py), and the
follow-up bookkeeping of a stream (app/live_streams/follow_ups.py, LiveStreamRepository).

Each builds one small world with the harness's helpers and checks what a client or the next recovery
pass would see; the expected amounts come from the rules written here, never from the code's records.
"""

from datetime import timedelta
from typing import Any

import pytest

from app.core.errors import Conflict
from app.core.timeutils import utcnow
from app.users.credits import CreditLedger, CreditTransactionRepository, Direction, TxType
from tests.money import invariants
from tests.money.harness import (
    SteppedDatabase,
    Stepper,
    database_client,
    exploring,
    fresh_database,
    recover,
    shifted_clock,
)
from tests.money.world import (
    Ctx,
    add_stream,
    add_user,
    apply,
    cancel,
    crash_after,
    credits_of,
    delete,
    fund,
    reconciler,
    recording_follow_up_runner,
    start,
    stream_doc,
    with_before,
)


async def right_after(db: Any, operation: Any, collection: str, op: str, then: Any) -> Any:
    """Run `operation(stepped_db)` and run `then()` (on the raw database) once, right after its first
    `collection.op` step, before whatever step comes next: another request slipping in there."""
    seen = done = False

    async def hook(step: int, coll: str, name: str) -> None:
        nonlocal seen, done
        if seen and not done:
            done = True
            await then()
        if (coll, name) == (collection, op):
            seen = True

    result = await operation(SteppedDatabase(db, Stepper(hook)))
    assert done, f"no step after {collection}.{op}"
    return result


# --- app/core/once.py ----------------------------------------------------------------------------------


async def test_a_decision_drops_the_old_entries_of_final_operations_from_its_holder() -> None:
    """A holder's next decision drops `opInFlight` entries older than `PRUNE_AFTER` whose operations are
    final (a request died between "final" and "forget" ten minutes ago), in its own write, and keeps an
    old entry whose operation is not final (it IS that movement's decision). Run with the in-process
    serialisation on, as the app runs, so the locked path is the one checked."""
    from app.core.once import IN_FLIGHT

    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        await add_user(db, ctx, "payer", credits=100)
        payer = ctx.id("payer")

        def move(key: str, amount: int) -> Any:
            return lambda sdb: apply(sdb, payer, amount, Direction.debit, f"ext:{key}", TxType.replay_rental)

        with shifted_clock(utcnow() - timedelta(minutes=10)):
            await crash_after(db, move("final-1", 10), "credit_transactions", "update_one")
            await crash_after(db, move("applied-1", 20), "users", "find_one_and_update")
        txs = {t["idempotencyKey"]: t for t in await db["credit_transactions"].find({}).to_list()}
        final_id, pending_id = str(txs["ext:final-1"]["_id"]), str(txs["ext:applied-1"]["_id"])
        assert txs["ext:final-1"]["status"] == "completed" and txs["ext:applied-1"]["status"] == "pending"
        before = await db["users"].find_one({"_id": payer})
        assert set(before[IN_FLIGHT]) == {final_id, pending_id}, before[IN_FLIGHT]

        await move("next-1", 5)(db)

        after = await db["users"].find_one({"_id": payer})
        assert set(after[IN_FLIGHT]) == {pending_id}, f"left in flight after a decision: {after[IN_FLIGHT]}"
        assert after["credits"] == 100 - 10 - 20 - 5, after["credits"]
        await recover(db)
        await invariants.check_all(db)
        assert await credits_of(db, ctx, "payer") == 65


async def test_a_funding_answers_the_pot_as_its_own_increment_left_it() -> None:
    """The answer of a funding is the stream as that funding's own decision left it (docs/money.md,
    "One key, one outcome"): another funding counted right after it, before this request finished, is
    not in it - and a retry with the same key gets that same first answer."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        await add_user(db, ctx, "host")
        await add_user(db, ctx, "fan", credits=100)
        await add_user(db, ctx, "other", credits=100)
        await add_stream(db, ctx, goal=1000)
        await fund(db, ctx, "other", 30, "other-1")
        with exploring():  # the other request runs inside this one's steps: no in-process lock
            answer = await right_after(
                db,
                lambda sdb: fund(sdb, ctx, "fan", 40, "fund-1"),
                "live_streams",
                "find_one_and_update",
                lambda: fund(db, ctx, "other", 25, "other-2"),
            )
        assert answer["collectedFunding"] == 30 + 40, answer
        assert (await fund(db, ctx, "fan", 40, "fund-1"))["collectedFunding"] == 70
        assert (await stream_doc(db, ctx.stream))["collectedFunding"] == 30 + 40 + 25  # type: ignore[arg-type]
        await invariants.check_all(db)


# --- app/users/credits.py: the history and its running balance --------------------------------------------


async def test_history_pages_filters_and_running_balances() -> None:
    """`GET /users/me/transactions` as the users service reads it (`history` + `with_balances`): the
    order is by `occurredAt` (a movement stamped earlier but written later sorts by its time), the type,
    direction and date filters select the right rows, and every row's `balanceAfter` is the opening
    balance plus the visible movements up to it - also on a page that does not hold the newest row, and
    not counting a movement already applied to the balance whose row is still pending (a crash)."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        await add_user(db, ctx, "payer", credits=100)
        payer = ctx.id("payer")
        base = utcnow()

        async def move(key: str, minutes_ago: int, amount: int, direction: Direction, kind: TxType) -> None:
            with shifted_clock(base - timedelta(minutes=minutes_ago)):
                await apply(db, payer, amount, direction, f"ext:{key}", kind)

        await move("s1", 50, 10, Direction.debit, TxType.superlike)
        await move("r1", 40, 20, Direction.debit, TxType.replay_rental)
        await move("g1", 30, 50, Direction.credit, TxType.grant)
        await move("old", 60, 5, Direction.debit, TxType.replay_rental)  # written last, stamped first
        with shifted_clock(base - timedelta(minutes=20)):  # applied, its row still pending
            await crash_after(
                db,
                lambda sdb: apply(sdb, payer, 7, Direction.debit, "ext:pending-1", TxType.replay_rental),
                "users",
                "find_one_and_update",
            )
        # The visible chain, oldest first, from the opening 100: old -5, s1 -10, r1 -20, g1 +50.
        after = {"old": 95, "s1": 85, "r1": 65, "g1": 115}

        repository, ledger = CreditTransactionRepository(db), CreditLedger(db)

        async def page(**asked: Any) -> tuple[list[tuple[str, int | None]], int]:
            query: dict[str, Any] = {
                "types": None,
                "direction": None,
                "date_from": None,
                "date_to": None,
                "descending": True,
                "skip": 0,
                "limit": 20,
                **asked,
            }
            rows, total = await repository.history(payer, **query)
            shown = await ledger.with_balances(payer, rows)
            return [(row["idempotencyKey"].removeprefix("ext:"), row["balanceAfter"]) for row in shown], total

        def rows(*keys: str) -> list[tuple[str, int | None]]:
            return [(key, after[key]) for key in keys]

        assert await page() == (rows("g1", "r1", "s1", "old"), 4)
        assert await page(types=[TxType.superlike]) == (rows("s1"), 1)
        assert await page(direction=Direction.credit) == (rows("g1"), 1)
        assert await page(date_from=base - timedelta(minutes=45)) == (rows("g1", "r1"), 2)
        assert await page(date_to=base - timedelta(minutes=45)) == (rows("s1", "old"), 2)
        window = {"date_from": base - timedelta(minutes=65), "date_to": base - timedelta(minutes=35)}
        assert await page(**window, descending=False, skip=1, limit=1) == (rows("s1"), 3)
        assert await page(skip=1, limit=2) == (rows("r1", "s1"), 4)

        await recover(db)
        await invariants.check_all(db)
        assert await page(limit=1) == ([("pending-1", 108)], 5)


# --- follow-up bookkeeping (app/live_streams/follow_ups.py, LiveStreamRepository) --------------------------


async def test_a_stream_whose_follow_ups_are_done_leaves_the_due_list() -> None:
    """Once its last follow-up ran, a stream is off the loop's due list (`followUpAt` goes with the last
    kind): a pass that reads the oldest due streams first (`run_due`'s batch, here of one) reaches the
    refund another stream's crashed cancel left, however many finished streams came before it."""
    from app import flows

    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        await add_user(db, ctx, "host")
        await add_user(db, ctx, "fan_a", credits=100)
        await add_user(db, ctx, "fan_b", credits=100)
        finished = await add_stream(db, ctx, goal=1000)
        await fund(db, ctx, "fan_a", 40, "a-1")
        await cancel(db, ctx)  # its request ran its follow-ups to the end
        crashed = await add_stream(db, ctx, goal=1000)
        await fund(db, ctx, "fan_b", 40, "b-1")
        await crash_after(db, lambda sdb: cancel(sdb, ctx), "live_streams", "find_one_and_update")

        done = await stream_doc(db, finished)
        assert not done.get("followUps") and "followUpAt" not in done, done
        assert (await stream_doc(db, crashed)).get("followUps"), "the crashed cancel left no follow-up"
        await flows.follow_up_runner(db).run_due(utcnow() + timedelta(minutes=1), limit=1)
        assert await credits_of(db, ctx, "fan_a") == 100
        assert await credits_of(db, ctx, "fan_b") == 100, "the crashed cancel's refund was never reached"
        await invariants.check_all(db)


async def test_a_delete_racing_a_start_that_holds_the_live_slot_is_refused() -> None:
    """A delete that read the stream before its start claimed the live slot must not delete it while the
    start holds the slot (docs: "an active (or starting) stream must be ended before it is deleted"):
    it answers 409, the stream and its funding stay. Once the dead start's claim is released by
    recovery, the delete goes through and refunds the funding."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        await add_user(db, ctx, "host")
        await add_user(db, ctx, "fan", credits=100)
        await add_stream(db, ctx, goal=1000)
        await fund(db, ctx, "fan", 40, "f-1")

        async def start_claims_then_dies() -> None:
            await crash_after(db, lambda sdb: start(sdb, ctx), "live_streams", "find_one_and_update")

        with pytest.raises(Conflict):
            await with_before(
                db,
                lambda sdb: delete(sdb, ctx),
                "live_streams",
                "find_one_and_update",
                start_claims_then_dies,
            )
        stream = await stream_doc(db, ctx.stream)  # type: ignore[arg-type]
        assert stream.get("deletedAt") is None and stream.get("liveSlotOwner") == ctx.id("host"), stream
        assert await credits_of(db, ctx, "fan") == 60
        await recover(db)
        await invariants.check_all(db)
        await delete(db, ctx)
        await recover(db)
        await invariants.check_all(db)
        assert await credits_of(db, ctx, "fan") == 100


async def test_a_movement_decided_but_read_back_pending_answers_503_and_its_retry_the_decision() -> None:
    """A movement's final read that still shows it pending (a lagging read, older than our own writes)
    is answered 503 (`STALE_READ`), never taken for "paid": for a debit refused for too few credits that
    would let the caller count money that never moved. The retry with the same key gets the decision
    that was recorded, and the balance moved at most once."""
    from bson import ObjectId

    from app.core.errors import DatabaseUnavailable, InsufficientCredits

    class LaggingTransactions(CreditTransactionRepository):
        async def get(self, _id: ObjectId | str, *, include_deleted: bool = False) -> Any:
            current = await super().get(_id, include_deleted=include_deleted)
            return None if current is None else {**current, "status": "pending", "balanceAfter": None}

    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        await add_user(db, ctx, "payer", credits=100)
        payer = ctx.id("payer")
        lagging = CreditLedger(db)
        lagging.transactions = LaggingTransactions(db)
        for key, amount in (("ext:too-much", 500), ("ext:paid", 30)):
            with pytest.raises(DatabaseUnavailable):
                await lagging.apply(
                    payer, amount=amount, direction=Direction.debit, type=TxType.grant, idempotency_key=key
                )
        with pytest.raises(InsufficientCredits):
            await apply(db, payer, 500, Direction.debit, "ext:too-much")
        assert (await apply(db, payer, 30, Direction.debit, "ext:paid"))["status"] == "completed"
        assert await credits_of(db, ctx, "payer") == 70
        await invariants.check_all(db)


async def test_a_movement_of_a_user_that_does_not_exist_is_refused_as_not_found_and_failed() -> None:
    """The ledger refuses a movement whose user has no document: 404, and the movement is recorded
    `failed` (nothing moved), so the recovery pass, which skips such a movement, finds nothing pending."""
    from bson import ObjectId

    from app.core.errors import NotFound

    async with database_client() as client, fresh_database(client) as db:
        nobody = ObjectId()
        with pytest.raises(NotFound):
            await apply(db, nobody, 10, Direction.credit, "ext:nobody-1")
        row = await db["credit_transactions"].find_one({"userId": nobody})
        assert row is not None and row["status"] == "failed", row
        await recover(db)
        await invariants.check_all(db)


async def test_a_final_movement_stores_the_balance_it_left() -> None:
    """A movement's ledger row, once final, stores `balanceAfter`: the payer's balance right after it
    (100 - 30 here, from the amounts, not from the code's records)."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        await add_user(db, ctx, "payer", credits=100)
        await apply(db, ctx.id("payer"), 30, Direction.debit, "ext:pay-1", TxType.replay_rental)
        row = await db["credit_transactions"].find_one({"idempotencyKey": "ext:pay-1"})
        assert row is not None and row["status"] == "completed", row
        assert row["balanceAfter"] == 70, row


# --- app/live_streams/repository.py: overdue scheduled streams ----------------------------------------------


async def test_a_late_stream_still_inside_its_planned_window_is_not_expired() -> None:
    """The expiry pass expires (and refunds) a scheduled stream by its planned end; only a stream with
    no planned end goes by its planned start. A stream whose start is long past but whose planned end
    is still ahead is running late, not overdue: it stays scheduled and its funder keeps the pot."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        await add_user(db, ctx, "host")
        await add_user(db, ctx, "fan", credits=100)
        await add_stream(db, ctx, goal=1000)
        await fund(db, ctx, "fan", 40, "fund-1")
        now = utcnow()
        assert ctx.stream is not None
        await db["live_streams"].update_one(
            {"_id": ctx.stream},
            {
                "$set": {
                    "plannedStartDate": now - timedelta(hours=3),
                    "plannedEndDate": now + timedelta(hours=1),
                }
            },
        )
        assert await reconciler(db).expire_overdue(now) == 0
        assert (await stream_doc(db, ctx.stream))["status"] == "scheduled"
        assert await credits_of(db, ctx, "fan") == 60
        await invariants.check_all(db)


# --- app/live_streams/follow_ups.py: the loop's pass ----------------------------------------------------------


async def test_a_follow_up_pass_handles_at_most_a_hundred_streams() -> None:
    """The loop's pass is bounded (every replica runs it): of 101 streams with follow-ups long due, one
    pass takes 100, oldest first, and leaves the newest for the next pass."""

    async with database_client() as client, fresh_database(client) as db:
        now = utcnow()
        due_at = [now - timedelta(hours=2, minutes=n) for n in range(101)]  # newest first
        await db["live_streams"].insert_many(
            [
                {"n": n, "channelName": f"c{n}", "followUpAt": at, "followUps": {}}
                for n, at in enumerate(due_at)
            ]
        )
        runner, seen = recording_follow_up_runner(db, "n")
        assert await runner.run_due(now) == 100
        assert sorted(seen) == list(range(1, 101)), seen
