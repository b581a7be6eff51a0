"""Named checks for mutants of the superlike money code and of `OnceHolder.sweep` that the harness's
schedules let survive (issue 23, round 3; docs/money.md "Mutation score"): the refusals a superlike
answers before anything moves (banned sender, stream not live, Idempotency-Key reused), a duo stream
that has no guest, and the recovery sweep of exactly-once bookkeeping (a holder with nothing left in
flight leaves the sweep list; one pass looks at a bounded number of holders).

Each builds one small world and checks what a client or the next recovery pass would see; the amounts
expected come from the rules written here (10 credits; solo 80 %, duo 40 % + 40 %), never from the
code's records.
"""

from datetime import timedelta
from typing import Any, ClassVar

import pytest
from bson import ObjectId

from app.core.errors import AppError, ErrorCode
from app.core.once import IN_FLIGHT, SWEEP_AT, OnceHolder
from app.core.timeutils import utcnow
from app.superlikes.service import SuperlikeService
from app.users.credits import CreditTransactionRepository, Direction
from app.users.repository import UserRepository
from tests.money import invariants
from tests.money.harness import database_client, exploring, fresh_database, shifted_clock
from tests.money.world import Ctx, add_stream, add_user, apply, crash_after, credits_of, live_solo


async def refused(call: Any) -> AppError:
    with pytest.raises(AppError) as caught:
        await call
    return caught.value


def answer(error: AppError) -> tuple[int, str, list[str]]:
    """What the envelope shows a client: status, `code`, `errors`."""
    return error.status_code, error.code, error.messages


# --- app/superlikes/service.py: refusals, answered before anything moves ---------------------------------


async def test_a_sender_banned_from_the_stream_is_refused_and_keeps_his_credits() -> None:
    """The ban check is asked about this stream and this sender (the bans domain answers per pair): the
    banned fan gets 403 BANNED with its documented text and keeps his 10 credits; a fan not banned on
    the same stream pays as usual."""
    async with fresh_database() as db:
        ctx = await live_solo(db)
        asked: list[tuple[Any, Any]] = []

        async def is_banned(stream_id: ObjectId, user_id: ObjectId) -> bool:
            asked.append((stream_id, user_id))
            return (stream_id, user_id) == (ctx.stream, ctx.id("fan1"))

        service = SuperlikeService(db, is_banned)
        error = await refused(service.send(ctx.stream, ctx.id("fan1"), "tap-1"))

        assert answer(error) == (
            403,
            ErrorCode.BANNED,
            ["Insufficient permissions", "you are banned from this stream's chat"],
        )
        assert await credits_of(db, ctx, "fan1") == 10
        assert await db["superlikes"].count_documents({}) == 0, "a refused superlike left a row"
        sent = await service.send(ctx.stream, ctx.id("fan2"), "tap-1")
        assert sent["price"] == 10
        assert await credits_of(db, ctx, "fan2") == 0
        assert await credits_of(db, ctx, "host") == 8
        assert asked == [(ctx.stream, ctx.id("fan1")), (ctx.stream, ctx.id("fan2"))]
        await invariants.check_all(db)


async def test_a_superlike_on_a_stream_not_live_is_refused_with_its_status() -> None:
    """An ended stream takes no superlike: 409 INVALID_STREAM_STATE naming the status, nothing moves."""
    async with fresh_database() as db:
        ctx = await live_solo(db)
        await db["live_streams"].update_one({"_id": ctx.stream}, {"$set": {"status": "ended"}})

        error = await refused(SuperlikeService(db).send(ctx.stream, ctx.id("fan1"), "tap-1"))

        assert answer(error) == (
            409,
            ErrorCode.INVALID_STREAM_STATE,
            [
                "Resource already exists or cannot be changed in its current state",
                "the stream is ended; superlikes need an active stream",
            ],
        )
        assert await credits_of(db, ctx, "fan1") == 10
        assert await db["superlikes"].count_documents({}) == 0
        await invariants.check_all(db)


async def test_an_idempotency_key_reused_on_another_stream_is_refused_and_charges_nothing_more() -> None:
    """fan2 superlikes the live stream with key tap-1, then sends tap-1 for another stream: 409
    IDEMPOTENCY_KEY_REUSED with its documented text, and only the first superlike is paid."""
    async with fresh_database() as db:
        ctx = await live_solo(db)
        live = ctx.stream
        await add_user(db, ctx, "host2")
        other = await add_stream(db, ctx, creator="host2", goal=None, scheduled=False)
        await apply(db, ctx.id("fan2"), 10, Direction.credit, "ext:top-up")
        service = SuperlikeService(db)
        await service.send(live, ctx.id("fan2"), "tap-1")

        error = await refused(service.send(other, ctx.id("fan2"), "tap-1"))

        assert answer(error) == (
            409,
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            [
                "Resource already exists or cannot be changed in its current state",
                "Idempotency-Key was already used with a different request",
            ],
        )
        assert await credits_of(db, ctx, "fan2") == 10, "the reused key was charged again"
        assert await credits_of(db, ctx, "host") == 8 and await credits_of(db, ctx, "host2") == 0
        assert await db["superlikes"].count_documents({}) == 1
        await invariants.check_all(db)


# --- app/superlikes/service.py: who is paid -------------------------------------------------------------


async def test_a_duo_stream_without_a_guest_pays_its_creator_alone() -> None:
    """A duo stream whose guest list is empty (a document from before guests were required, written
    here directly) still takes superlikes: the creator gets his 40 % (4), no guest is paid, the platform
    keeps the rest."""
    async with fresh_database() as db:
        ctx = await live_solo(db)
        await db["live_streams"].update_one(
            {"_id": ctx.stream}, {"$set": {"liveStreamType": "duocrowd", "guestIds": []}}
        )

        sent = await SuperlikeService(db).send(ctx.stream, ctx.id("fan1"), "tap-1")

        assert sent["price"] == 10
        assert await credits_of(db, ctx, "fan1") == 0
        assert await credits_of(db, ctx, "host") == 4
        row = await db["superlikes"].find_one({})
        assert row["status"] == "completed" and row["payees"]["guest"] is None
        revenue = await db["credit_transactions"].count_documents({"type": "superlike_revenue"})
        assert revenue == 1, f"{revenue} revenue movements for one payee"
        await invariants.check_all(db)


# --- app/core/once.py: the recovery sweep ----------------------------------------------------------------


class ScratchHolders(OnceHolder):
    """Holders in a collection of their own (the sweep only reads `opInFlight` and `opInFlightAt`)."""

    collection_name: ClassVar[str] = "once_sweep_scratch"

    def __init__(self, db: Any) -> None:
        self.collection = db[self.collection_name]


async def test_a_holder_swept_clean_leaves_the_sweep_list() -> None:
    """A movement's request died between "final" and "forget" ten minutes ago: the sweep drops its
    entry and, nothing being left in flight, takes the holder off the sweep list, so the next pass does
    not look at it again (a list that only grows would push real work past a pass's limit)."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = Ctx()
            await add_user(db, ctx, "payer", credits=100)
            with shifted_clock(utcnow() - timedelta(minutes=10)):
                await crash_after(
                    db,
                    lambda sdb: apply(sdb, ctx.id("payer"), 10, Direction.debit, "ext:final-1"),
                    "credit_transactions",
                    "update_one",
                )
            payer = await db["users"].find_one({"_id": ctx.id("payer")})
            assert len(payer[IN_FLIGHT]) == 1 and SWEEP_AT in payer, payer
            users, final_among = UserRepository(db), CreditTransactionRepository(db).final_among
            before = utcnow() - timedelta(minutes=6)

            assert await users.sweep(before, final_among) == 1
            payer = await db["users"].find_one({"_id": ctx.id("payer")})
            assert not payer[IN_FLIGHT] and SWEEP_AT not in payer, payer
            assert await users.sweep(before, final_among) == 0, "swept clean, still on the sweep list"
            assert payer["credits"] == 90
            await invariants.check_all(db)


async def test_one_sweep_pass_looks_at_no_more_than_200_holders() -> None:
    """The streams' and minis' sweeps (app/flows.py) pass no limit: one pass looks at 200 holders at
    most and leaves the rest of a backlog to the next pass."""
    async with fresh_database() as db:
        holders = ScratchHolders(db)
        long_ago = utcnow() - timedelta(hours=1)
        await holders.collection.insert_many([{IN_FLIGHT: {}, SWEEP_AT: long_ago} for _ in range(201)])

        async def nothing_final(keys: list[str]) -> set[str]:
            return set()

        assert await holders.sweep(utcnow(), nothing_final) == 200
        assert await holders.collection.count_documents({SWEEP_AT: {"$exists": True}}) == 1
        assert await holders.sweep(utcnow(), nothing_final) == 1
        await holders.collection.drop()
