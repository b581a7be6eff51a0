"""Named checks for the mutants of mini crowd-fundings (app/live_streams/mini_crowd_fundings.py) that the
harness's schedules let survive in the 11:38 `make mutate` run (issue 23, round 3): the answers a
creator and a funder get (stored as the Idempotency-Key replay), the refusals' codes and texts, the
history row of a contribution, a retry after a crash between "completed" and "answer stored", which
minis a stream's end settles, and the guard against a stale read when a settlement records its result.

Each builds one small world with the harness's helpers; expected amounts come from the rules (80 % to a
solo creator, all or nothing), never from the code's own records.
"""

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from app.core.errors import STALE_READ, Conflict, DatabaseUnavailable
from app.core.timeutils import utcnow
from app.live_streams.mini_crowd_fundings import MiniCrowdFundingService
from app.live_streams.repository import LiveStreamRepository
from tests.money import invariants
from tests.money.harness import database_client, exploring, fresh_database, recover
from tests.money.world import (
    Ctx,
    add_stream,
    add_user,
    crash_after,
    credits_of,
    fund_mini,
    open_mini,
    start,
)


async def live_stream_with_a_fan(db: Any, host: str = "host", fan: str = "fan") -> Ctx:
    ctx = Ctx()
    await add_user(db, ctx, host)
    await add_user(db, ctx, fan, credits=100)
    await add_stream(db, ctx, creator=host, goal=None, scheduled=False)
    await start(db, ctx, creator=host)
    return ctx


async def mini_doc(db: Any, mini_id: ObjectId) -> dict[str, Any]:
    doc = await db["mini_crowd_fundings"].find_one({"_id": mini_id})
    assert doc is not None
    return doc


async def test_a_mini_crowd_funding_answers_its_title_goal_and_progress() -> None:
    """The creator's answer: the title and goal asked for, nothing collected (0 %), open. A funder's
    answer after 1 of 3 credits: 33.33 % (two decimals); the retry with the same key gets it as-is.
    Opening one on a stream that is not live is the documented 409 INVALID_STREAM_STATE."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = Ctx()
            await add_user(db, ctx, "host")
            await add_user(db, ctx, "fan", credits=100)
            await add_stream(db, ctx, goal=None, scheduled=False)
            service = MiniCrowdFundingService(db)
            assert ctx.stream is not None
            with pytest.raises(Conflict) as refused:
                await service.create(ctx.stream, ctx.id("host"), "Encore", 3, 30)
            assert refused.value.code == "INVALID_STREAM_STATE", refused.value.code

            await start(db, ctx)
            created = await service.create(ctx.stream, ctx.id("host"), "Encore", 3, 30)
            assert created["title"] == "Encore", created
            assert (created["goal"], created["collected"], created["percentage"]) == (3, 0, 0), created
            assert created["status"] == "open", created
            ctx.extra["mini"] = created["_id"]

            answer = await fund_mini(db, ctx, "fan", 1, "m-third")
            assert (answer["title"], answer["collected"], answer["percentage"]) == ("Encore", 1, 33.33), (
                answer
            )
            assert await fund_mini(db, ctx, "fan", 1, "m-third") == answer
            assert await credits_of(db, ctx, "fan") == 99


async def test_a_closed_mini_crowd_funding_refuses_with_its_own_text_and_history_names_the_stream() -> None:
    """A contribution's debit shows in the funder's history with the stream it was made on (and the
    contribution is filed under that stream). Once the deadline has passed, a contribution is refused
    with "this mini crowd-funding is closed" and moves nothing."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await live_stream_with_a_fan(db)
            await open_mini(db, ctx, goal=50)
            await fund_mini(db, ctx, "fan", 10, "m-1")
            debit = await db["credit_transactions"].find_one({"userId": ctx.id("fan"), "direction": "debit"})
            assert debit is not None
            assert debit["reference"] == {"kind": "liveStream", "id": str(ctx.stream)}, debit
            contribution = await db["mini_crowd_funding_contributions"].find_one({"userId": ctx.id("fan")})
            assert contribution is not None and contribution["liveStreamId"] == ctx.stream, contribution

            past = utcnow() - timedelta(seconds=1)
            await db["mini_crowd_fundings"].update_one(
                {"_id": ctx.extra["mini"]}, {"$set": {"deadline": past}}
            )
            with pytest.raises(Conflict) as refused:
                await fund_mini(db, ctx, "fan", 10, "m-late")
            assert refused.value.detail == "this mini crowd-funding is closed", refused.value.detail
            assert await credits_of(db, ctx, "fan") == 90
            assert await db["mini_crowd_funding_contributions"].count_documents({}) == 1


async def test_a_retry_after_a_crash_before_the_answer_was_stored_answers_the_counted_mini() -> None:
    """The request dies right after marking its contribution completed, before storing its answer: the
    retry with the same key answers with the mini crowd-funding as it now stands (10 collected) and
    charges nothing more."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await live_stream_with_a_fan(db)
            await open_mini(db, ctx, goal=50)
            await crash_after(
                db,
                lambda sdb: fund_mini(sdb, ctx, "fan", 10, "m-1"),
                "mini_crowd_funding_contributions",
                "update_one",
            )
            contribution = await db["mini_crowd_funding_contributions"].find_one({"userId": ctx.id("fan")})
            assert contribution is not None
            assert (contribution["status"], contribution["response"]) == ("completed", None), contribution
            answer = await fund_mini(db, ctx, "fan", 10, "m-1")
            assert (answer["collected"], answer["status"]) == (10, "open"), answer
            assert await credits_of(db, ctx, "fan") == 90
            await recover(db)  # sweeps the entry the crash left in the mini's opInFlight
            await invariants.check_all(db)


async def test_a_stream_that_ends_settles_only_its_own_mini_crowd_fundings() -> None:
    """Two live streams of two creators, each with an open mini crowd-funding holding a contribution:
    settling the first stream's (its end) leaves the other's open, its contribution held, still fundable."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await live_stream_with_a_fan(db)
            await open_mini(db, ctx, goal=50)
            await fund_mini(db, ctx, "fan", 10, "m-first")
            first_stream, first_mini = ctx.stream, ctx.extra["mini"]

            await add_user(db, ctx, "other_host")
            await add_stream(db, ctx, creator="other_host", goal=None, scheduled=False)
            await start(db, ctx, creator="other_host")
            other = await MiniCrowdFundingService(db).create(
                ctx.stream, ctx.id("other_host"), "Other", 50, 30
            )
            ctx.extra["mini"] = other["_id"]
            await fund_mini(db, ctx, "fan", 20, "m-other")

            assert first_stream is not None
            ended = await LiveStreamRepository(db).get_or_404(first_stream)
            await MiniCrowdFundingService(db).settle_stream(ended)
            assert (await mini_doc(db, first_mini))["status"] == "refunded"
            assert (await mini_doc(db, other["_id"]))["status"] == "open"
            assert await credits_of(db, ctx, "fan") == 80  # 10 given back, 20 still held
            answer = await fund_mini(db, ctx, "fan", 5, "m-other-2")
            assert answer["collected"] == 25, answer


async def test_a_settlement_that_reads_its_mini_older_than_its_own_close_records_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A mini crowd-funding at its goal is paid out, then the read of its result comes from before its own
    close (a lagging member): the settlement is a 503 with the stale-read text and the mini stays
    `closed` - never called refunded while the creator was paid; the next pass records it `paid`."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await live_stream_with_a_fan(db)
            await open_mini(db, ctx, goal=10)
            await fund_mini(db, ctx, "fan", 10, "m-goal")
            before_close = await mini_doc(db, ctx.extra["mini"])
            service = MiniCrowdFundingService(db)

            async def as_before_close(_id: Any, *, include_deleted: bool = False) -> dict[str, Any]:
                return dict(before_close)

            monkeypatch.setattr(service.minis, "get", as_before_close)
            with pytest.raises(DatabaseUnavailable) as stale:
                await service.settle(before_close, utcnow())
            assert stale.value.detail == STALE_READ, stale.value.detail
            monkeypatch.undo()
            assert (await mini_doc(db, ctx.extra["mini"]))["status"] == "closed"

            await MiniCrowdFundingService(db).settle_due(utcnow() + timedelta(hours=1))
            assert (await mini_doc(db, ctx.extra["mini"]))["status"] == "paid"
            assert await credits_of(db, ctx, "host") == 8  # solo: 80 % of 10
            assert await credits_of(db, ctx, "fan") == 90
            await invariants.check_all(db)
