"""Named checks that kill surviving mutants of the pots (`pots.py`, `funding.py`, `mini_crowd_fundings.py`,
`entries.py`; docs/money.md "Survivors of pots"): each pins a money rule at a boundary no scenario reached.
Oracles are the documented rules (balances, which rows exist), never the code's own records."""

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from app.core.errors import Conflict, InsufficientCredits, NotFound
from app.core.timeutils import utcnow
from app.users.credits import Direction
from tests.money import invariants
from tests.money.harness import database_client, exploring, fresh_database, recover
from tests.money.world import (
    Ctx,
    add_stream,
    add_user,
    apply,
    cancel,
    crash_after,
    credits_of,
    delete,
    end,
    fund,
    fund_mini,
    join,
    open_mini,
    start,
    with_before,
)


async def test_only_a_stream_with_a_funding_goal_is_fundable_a_goal_of_one_included() -> None:
    """A scheduled stream without a funding goal takes no funding (refused before anything is written);
    one whose goal is a single credit does."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = Ctx()
            await add_user(db, ctx, "host")
            await add_user(db, ctx, "fan", credits=100)
            await add_stream(db, ctx, goal=None)
            with pytest.raises(Conflict) as refused:
                await fund(db, ctx, "fan", 5, "f-no-goal")
            assert refused.value.detail == "this stream is not open for funding"
            assert refused.value.code == "STREAM_NOT_OPEN_FOR_FUNDING", refused.value.code
            assert await credits_of(db, ctx, "fan") == 100
            assert await db["fundings"].count_documents({}) == 0
            assert await db["credit_transactions"].count_documents({"userId": ctx.id("fan")}) == 0

            await add_stream(db, ctx, goal=1)
            answer = await fund(db, ctx, "fan", 1, "f-goal-1")
            assert answer["collectedFunding"] == 1, answer
            assert await credits_of(db, ctx, "fan") == 99
            await invariants.check_all(db)


async def test_a_mini_crowd_funding_takes_nothing_at_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Contributions are taken before the deadline only: one arriving exactly at it is refused before
    anything moves (the clock of the mini crowd-funding rules frozen at the deadline)."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = Ctx()
            await add_user(db, ctx, "host")
            await add_user(db, ctx, "fan", credits=100)
            await add_stream(db, ctx, goal=None, scheduled=False)
            await start(db, ctx)
            await open_mini(db, ctx, goal=50)
            deadline = utcnow() + timedelta(minutes=1)
            await db["mini_crowd_fundings"].update_one(
                {"_id": ctx.extra["mini"]}, {"$set": {"deadline": deadline}}
            )
            monkeypatch.setattr("app.live_streams.mini_crowd_fundings.utcnow", lambda: deadline)
            with pytest.raises(Conflict):
                await fund_mini(db, ctx, "fan", 10, "m-at-deadline")
            monkeypatch.undo()
            assert await credits_of(db, ctx, "fan") == 100
            assert await db["mini_crowd_funding_contributions"].count_documents({}) == 0
            assert await db["credit_transactions"].count_documents({"userId": ctx.id("fan")}) == 0


async def live_stream_with_a_fan(db: Any) -> Ctx:
    ctx = Ctx()
    await add_user(db, ctx, "host")
    await add_user(db, ctx, "fan", credits=100)
    await add_stream(db, ctx, goal=None, scheduled=False)
    return ctx


async def open_minis(db: Any) -> list[dict[str, Any]]:
    return await db["mini_crowd_fundings"].find({"status": "open"}).to_list()


async def test_a_fourth_mini_crowd_funding_takes_only_the_slot_of_an_overdue_one() -> None:
    """At most 3 open: a fourth is refused while the three are running (none of them is closed by it),
    and takes the slot of one past its deadline, which it closes (it is then settled: refunded)."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await live_stream_with_a_fan(db)
            with pytest.raises(Conflict) as refused:
                await open_mini(db, ctx, goal=50)  # not live yet
            assert refused.value.detail == "a mini crowd-funding can only be opened during an active stream"
            await start(db, ctx)
            for _ in range(3):
                await open_mini(db, ctx, goal=50)
            with pytest.raises(Conflict):
                await open_mini(db, ctx, goal=50)
            assert len(await open_minis(db)) == 3
            await fund_mini(db, ctx, "fan", 10, "m-third")  # the third still takes contributions
            assert await credits_of(db, ctx, "fan") == 90

            overdue = (await open_minis(db))[0]["_id"]
            past = utcnow() - timedelta(minutes=1)
            await db["mini_crowd_fundings"].update_one({"_id": overdue}, {"$set": {"deadline": past}})
            await open_mini(db, ctx, goal=50)
            still_open = {doc["_id"] for doc in await open_minis(db)}
            assert overdue not in still_open and len(still_open) == 3, still_open


async def test_a_mini_crowd_funding_is_funded_only_through_its_own_stream_and_key() -> None:
    """`…/{streamId}/mini-crowd-fundings/{miniId}/fund`: a mini crowd-funding of another stream, or none,
    is a 404 that moves nothing; an Idempotency-Key reused with another amount is a 409 (the first
    funding stands, charged once)."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await live_stream_with_a_fan(db)
            await start(db, ctx)
            await open_mini(db, ctx, goal=50)
            own_stream = ctx.stream
            await add_stream(db, ctx, goal=None, scheduled=False)  # another stream of the host
            with pytest.raises(NotFound):
                await fund_mini(db, ctx, "fan", 10, "m-other-stream")
            ctx.stream = own_stream
            mini = ctx.extra["mini"]
            ctx.extra["mini"] = ObjectId()
            with pytest.raises(NotFound):
                await fund_mini(db, ctx, "fan", 10, "m-unknown")
            ctx.extra["mini"] = mini
            assert await credits_of(db, ctx, "fan") == 100
            assert await db["mini_crowd_funding_contributions"].count_documents({}) == 0

            answer = await fund_mini(db, ctx, "fan", 10, "m-1")
            assert answer["collected"] == 10, answer
            with pytest.raises(Conflict) as reused:
                await fund_mini(db, ctx, "fan", 20, "m-1")
            assert reused.value.code == "IDEMPOTENCY_KEY_REUSED", reused.value.code
            assert reused.value.detail == "Idempotency-Key was already used with a different request"
            assert await credits_of(db, ctx, "fan") == 90
            await invariants.check_all(db)


async def test_a_refund_movement_names_the_stream_it_gives_back_for() -> None:
    """A funding given back (the stream was cancelled) shows in the funder's history with the stream it
    refers to, like its debit."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = Ctx()
            await add_user(db, ctx, "host")
            await add_user(db, ctx, "fan", credits=100)
            await add_stream(db, ctx, goal=1000)
            await fund(db, ctx, "fan", 10, "f-1")
            await cancel(db, ctx)
            assert await credits_of(db, ctx, "fan") == 100
            rows = await db["credit_transactions"].find({"userId": ctx.id("fan")}).to_list()
            references = {row["direction"]: row.get("reference") for row in rows}
            expected = {"kind": "liveStream", "id": str(ctx.stream)}
            assert references == {"debit": expected, "credit": expected}, references


async def test_a_pot_pays_the_creator_when_the_guests_account_is_gone() -> None:
    """A funded duo stream ends at its goal after its guest's account was removed: the creator gets 40 %,
    the platform keeps the guest's share, the payout follow-up completes; the payout movement names the
    stream."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = Ctx()
            await add_user(db, ctx, "host")
            await add_user(db, ctx, "guest")
            await add_user(db, ctx, "fan", credits=100)
            await add_stream(db, ctx, guest="guest", goal=100)
            await fund(db, ctx, "fan", 100, "f-1")
            await start(db, ctx)
            await db["users"].delete_one({"_id": ctx.id("guest")})
            await end(db, ctx)
            assert await credits_of(db, ctx, "host") == 40
            assert await credits_of(db, ctx, "fan") == 0
            stream = await db["live_streams"].find_one({"_id": ctx.stream})
            assert not stream.get("followUps"), stream.get("followUps")
            payout = await db["credit_transactions"].find_one({"userId": ctx.id("host")})
            assert payout["reference"] == {"kind": "liveStream", "id": str(ctx.stream)}, payout


async def test_a_retry_gets_the_first_answer_after_the_stream_closed_and_the_credits_are_spent() -> None:
    """A retry with the same Idempotency-Key gets the stored first answer even though the stream is no
    longer fundable and the funder has nothing left: it is the same funding, not a new one."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = Ctx()
            await add_user(db, ctx, "host")
            await add_user(db, ctx, "fan", credits=100)
            await add_stream(db, ctx, goal=1000)
            first = await fund(db, ctx, "fan", 100, "f-all")
            await start(db, ctx)
            assert await fund(db, ctx, "fan", 100, "f-all") == first
            assert await credits_of(db, ctx, "fan") == 0


async def test_a_funding_decided_after_a_delete_is_refused_and_leaves_no_history() -> None:
    """A delete lands (and dies before its refund follow-up) between the funding's read of the stream and
    its decision: the decision's write re-checks `deletedAt`, so the funding is refused with the
    not-fundable answer and given back voided; recovery leaves the funder whole with no history."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = Ctx()
            await add_user(db, ctx, "host")
            await add_user(db, ctx, "fan", credits=100)
            await add_stream(db, ctx, goal=1000)

            async def delete_dying_after_its_write() -> None:
                await crash_after(db, lambda sdb: delete(sdb, ctx), "live_streams", "find_one_and_update")

            with pytest.raises(Conflict) as refused:
                await with_before(
                    db,
                    lambda sdb: fund(sdb, ctx, "fan", 10, "f-1"),
                    "live_streams",
                    "find_one_and_update",
                    delete_dying_after_its_write,
                )
            assert refused.value.detail == "this stream is not open for funding"
            await recover(db)
            assert await credits_of(db, ctx, "fan") == 100
            rows = await db["credit_transactions"].find({"userId": ctx.id("fan")}).to_list()
            assert rows and all(row.get("voided") for row in rows), rows


async def test_a_viewer_short_of_a_one_credit_entry_is_refused_before_the_join_is_recorded() -> None:
    """A paid stream whose entry is a single credit: a viewer with none is refused (402) before the join
    writes anything - no participation, no entry, no ledger row."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = Ctx()
            await add_user(db, ctx, "host")
            await add_user(db, ctx, "viewer")
            await add_stream(db, ctx, goal=None, scheduled=False, price=1)
            await start(db, ctx)
            with pytest.raises(InsufficientCredits):
                await join(db, ctx, "viewer")
            assert await db["participants"].count_documents({"userId": ctx.id("viewer")}) == 0
            assert await db["stream_entries"].count_documents({}) == 0
            assert await db["credit_transactions"].count_documents({"userId": ctx.id("viewer")}) == 0


async def test_a_mini_contribution_whose_credits_went_meanwhile_is_refused_as_insufficient() -> None:
    """The funder's credits are spent elsewhere between the balance check and the debit: the contribution
    is refused with the insufficient-credits answer (not "closed"), also to a retry with the same key; the
    mini crowd-funding collected nothing; the answer of a contribution names its deadline."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await live_stream_with_a_fan(db)
            await start(db, ctx)
            await open_mini(db, ctx, goal=50)

            async def spend_everything() -> None:
                await apply(db, ctx.id("fan"), 100, Direction.debit, "spent-elsewhere")

            with pytest.raises(InsufficientCredits):
                await with_before(
                    db,
                    lambda sdb: fund_mini(sdb, ctx, "fan", 10, "m-raced"),
                    "mini_crowd_funding_contributions",
                    "insert_one",
                    spend_everything,
                )
            with pytest.raises(InsufficientCredits):
                await fund_mini(db, ctx, "fan", 10, "m-raced")
            assert await credits_of(db, ctx, "fan") == 0
            mini = await db["mini_crowd_fundings"].find_one({"_id": ctx.extra["mini"]})
            assert mini["collected"] == 0, mini

            await apply(db, ctx.id("fan"), 10, Direction.credit, "topped-up")
            answer = await fund_mini(db, ctx, "fan", 10, "m-after")
            assert answer["collected"] == 10 and answer["deadline"] == mini["deadline"], answer
            await invariants.check_all(db)
