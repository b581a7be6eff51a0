"""Named checks for mutants of the paid entry (`entries.py`) and the stream's `activate` that the crash /
interleaving scenarios let through (round 3, issue 23): an entry price of one credit and a balance of
exactly the price, a refused join that must write nothing (no participation, no entry, no movement), a
join whose balance check finds the credits taken by a concurrent first join of the same viewer (it
shares that entry), the answer of an entry decided after the stream ended, and a start that lost its
live slot. Oracles are the documented rules (balances, which rows exist, the answer), never the code's
own records."""

from typing import Any

import pytest

from app.core.errors import Conflict, InsufficientCredits
from app.live_streams.repository import LiveStreamRepository
from app.users.credits import Direction, TxType
from tests.money import invariants
from tests.money.harness import exploring, fresh_database
from tests.money.world import (
    Ctx,
    add_stream,
    add_user,
    apply,
    before_nth,
    cancel,
    credits_of,
    end,
    fund,
    join,
    start,
    stream_doc,
)


async def live_paid(db: Any, price: int = 30, **credits: int) -> Ctx:
    """A live solo stream with an entry of `price` credits and the given viewers."""
    ctx = Ctx()
    await add_user(db, ctx, "host")
    for role, amount in credits.items():
        await add_user(db, ctx, role, credits=amount)
    await add_stream(db, ctx, goal=None, scheduled=False, price=price)
    await start(db, ctx)
    return ctx


async def entries_of(db: Any, ctx: Ctx, role: str) -> list[dict[str, Any]]:
    return await db["stream_entries"].find({"userId": ctx.id(role)}).to_list()


async def movements_of(db: Any, ctx: Ctx, role: str) -> list[dict[str, Any]]:
    return await db["credit_transactions"].find({"userId": ctx.id(role)}).to_list()


async def drain(db: Any, ctx: Ctx, role: str) -> None:
    """Another request of the viewer spends everything they have (a plain ledger movement)."""
    balance = await credits_of(db, ctx, role)
    if balance > 0:
        await apply(db, ctx.id(role), balance, Direction.debit, f"ext:drain-{role}", TxType.replay_rental)


# --- the price boundaries -------------------------------------------------------------------------------


async def test_a_one_credit_entry_is_charged_to_a_viewer_holding_exactly_one_credit() -> None:
    """The smallest price is a price (charged, not free), and a balance equal to the price pays it:
    the pre-check and the charge both refuse only a balance below the price."""
    with exploring():
        async with fresh_database() as db:
            ctx = await live_paid(db, price=1, fan=1)

            await join(db, ctx, "fan")

            assert await credits_of(db, ctx, "fan") == 0
            entries = await entries_of(db, ctx, "fan")
            assert [(e["status"], e["amount"]) for e in entries] == [("completed", 1)], entries
            assert ctx.stream is not None
            stream = await stream_doc(db, ctx.stream)
            assert stream.get("entryRevenue") == 1, stream.get("entryRevenue")
            await join(db, ctx, "fan")  # a re-join is free, also at a balance of 0
            assert await credits_of(db, ctx, "fan") == 0
            await invariants.check_all(db)


# --- a refused join writes nothing ----------------------------------------------------------------------


async def test_a_viewer_short_of_the_price_is_refused_before_the_join_writes_anything() -> None:
    """Another viewer already paid this stream's entry; a viewer with fewer credits than the price is
    refused by the pre-check: no participation (the join is not recorded), no entry, no movement."""
    with exploring():
        async with fresh_database() as db:
            ctx = await live_paid(db, price=30, fan1=100, poor=10)
            await join(db, ctx, "fan1")

            with pytest.raises(InsufficientCredits):
                await join(db, ctx, "poor")

            assert await db["participants"].count_documents({"userId": ctx.id("poor")}) == 0
            assert await entries_of(db, ctx, "poor") == []
            assert await movements_of(db, ctx, "poor") == []
            assert (await credits_of(db, ctx, "poor"), await credits_of(db, ctx, "fan1")) == (10, 70)
            await invariants.check_all(db)


async def test_a_join_whose_credits_went_after_the_pre_check_is_refused_without_an_entry() -> None:
    """The viewer passed the pre-check, then another request of theirs spent everything before the
    charge read the balance: the join answers 'Insufficient credits' before the movement is written
    (no entry, no movement of the entry), and the next attempt of this viewer is still the first."""
    with exploring():
        async with fresh_database() as db:
            ctx = await live_paid(db, price=30, fan=100)

            async def spend_everything() -> None:
                await drain(db, ctx, "fan")

            with pytest.raises(InsufficientCredits):
                # the 2nd stream_entries.find_one is the charge's own "already paid?" read
                await before_nth(
                    db, lambda sdb: join(sdb, ctx, "fan"), "stream_entries", "find_one", 2, spend_everything
                )

            assert await entries_of(db, ctx, "fan") == []
            assert [tx["idempotencyKey"] for tx in await movements_of(db, ctx, "fan")] == ["ext:drain-fan"]
            await apply(db, ctx.id("fan"), 30, Direction.credit, "ext:top-up", TxType.grant)
            await join(db, ctx, "fan")
            entries = await entries_of(db, ctx, "fan")
            assert [(e["status"], e["idempotencyKey"]) for e in entries] == [
                ("completed", f"entry:{ctx.stream}:0")
            ], entries
            assert await credits_of(db, ctx, "fan") == 0
            await invariants.check_all(db)


# --- concurrent first joins of one viewer share one entry -----------------------------------------------


async def test_a_join_that_finds_its_credits_taken_by_a_concurrent_first_join_shares_that_entry() -> None:
    """The viewer has credits for one entry. Two first joins: the second found no entry of this
    attempt, then the first join ran to completion before the second read the balance (now below the
    price). The second must find the first's entry and get in without a second charge."""
    with exploring():
        async with fresh_database() as db:
            ctx = await live_paid(db, price=30, fan=50)

            async def the_other_join() -> None:
                await join(db, ctx, "fan")

            # users.find_one #1 is the pre-check's balance read, #2 the charge's
            await before_nth(db, lambda sdb: join(sdb, ctx, "fan"), "users", "find_one", 2, the_other_join)

            assert await credits_of(db, ctx, "fan") == 20
            entries = await entries_of(db, ctx, "fan")
            assert [(e["status"], e["amount"]) for e in entries] == [("completed", 30)], entries
            await invariants.check_all(db)


# --- an entry decided after the stream ended --------------------------------------------------------------


async def test_an_entry_decided_after_the_stream_ended_is_given_back_and_the_join_answers_409() -> None:
    """The stream ended between the join's checks and the entry's decision: the entry is refunded (and
    voided) and the join answers 409 INVALID_STREAM_STATE 'the stream is ended and cannot be joined'."""
    with exploring():
        async with fresh_database() as db:
            ctx = await live_paid(db, price=30, fan=100)

            async def the_end() -> None:
                await end(db, ctx)

            with pytest.raises(Conflict) as refused:
                await before_nth(
                    db, lambda sdb: join(sdb, ctx, "fan"), "stream_entries", "insert_one", 1, the_end
                )

            assert refused.value.code == "INVALID_STREAM_STATE", refused.value.code
            assert refused.value.detail == "the stream is ended and cannot be joined", refused.value.detail
            assert await credits_of(db, ctx, "fan") == 100
            entries = await entries_of(db, ctx, "fan")
            assert [e["status"] for e in entries] == ["refunded"], entries
            await invariants.check_all(db)


# --- a start that lost its live slot does not go live ----------------------------------------------------


async def test_a_start_whose_live_slot_was_released_meanwhile_leaves_the_stream_fundable() -> None:
    """The start claimed the creator's live slot, then took so long on AIOZ that the reconcile pass
    released the slot as stale: its activation must not flip the stream to active (409). The stream is
    still scheduled, so a cancel refunds its funding in full."""
    with exploring():
        async with fresh_database() as db:
            ctx = Ctx()
            await add_user(db, ctx, "host")
            await add_user(db, ctx, "fan", credits=100)
            await add_stream(db, ctx, goal=1000, scheduled=True)
            await fund(db, ctx, "fan", 40, "fund-1")
            assert ctx.stream is not None
            stream_id = ctx.stream

            async def stale_slot_released() -> None:
                await LiveStreamRepository(db).release_stale_live_slot(stream_id)

            # live_streams.find_one_and_update #1 claims the slot, #2 activates
            with pytest.raises(Conflict):
                await before_nth(
                    db,
                    lambda sdb: start(sdb, ctx),
                    "live_streams",
                    "find_one_and_update",
                    2,
                    stale_slot_released,
                )

            stream = await stream_doc(db, stream_id)
            assert stream["status"] == "scheduled" and stream.get("liveSlotOwner") is None, stream
            await cancel(db, ctx)
            assert await credits_of(db, ctx, "fan") == 100
            await invariants.check_all(db)
