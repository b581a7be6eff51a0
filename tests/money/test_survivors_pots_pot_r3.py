"""Named checks that kill surviving mutants of `Pot` and `payout_shares` (app/live_streams/pots.py; round 3 of
docs/money.md "Mutation score"): each pins a money rule at a boundary no scenario reached. Expected
balances and shares come from the rules (solo 80 %, duo 40 % + 40 %, the platform the rest, whole credits
rounded down), never from what the code recorded."""

from typing import Any

import pytest
from bson import ObjectId

from app.core.errors import STALE_READ, Conflict, DatabaseUnavailable
from app.live_streams.funding import CROWD_FUNDING, FundingService
from app.live_streams.funding_repository import FundingRepository
from app.live_streams.pots import Pot
from app.live_streams.repository import LiveStreamRepository
from tests.money import invariants
from tests.money.harness import database_client, exploring, fresh_database, recover
from tests.money.world import (
    Ctx,
    add_stream,
    add_user,
    cancel,
    crash_after,
    credits_of,
    delete,
    end,
    fund,
    fund_mini,
    open_mini,
    start,
    stream_doc,
    with_before,
)


async def host_and_fans(db: Any, *fans: str, credits: int = 100) -> Ctx:
    ctx = Ctx()
    await add_user(db, ctx, "host")
    for fan in fans:
        await add_user(db, ctx, fan, credits=credits)
    return ctx


async def payouts_to(db: Any, ctx: Ctx, role: str) -> list[dict[str, Any]]:
    return await db["credit_transactions"].find({"userId": ctx.id(role), "direction": "credit"}).to_list()


async def test_a_retry_of_a_funding_refunded_since_gets_its_first_answer() -> None:
    """The stream was cancelled after the funding (it is refunded now): a retry with the same
    Idempotency-Key still gets the stored first answer, not a "not open" refusal, and moves nothing."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await host_and_fans(db, "fan")
            await add_stream(db, ctx, goal=1000)
            first = await fund(db, ctx, "fan", 10, "f-1")
            await cancel(db, ctx)
            assert await credits_of(db, ctx, "fan") == 100
            assert await fund(db, ctx, "fan", 10, "f-1") == first
            assert await credits_of(db, ctx, "fan") == 100
            assert await db["fundings"].count_documents({}) == 1


async def test_a_funding_refused_at_its_decision_answers_not_fundable_with_its_code() -> None:
    """The stream is cancelled between the funding's read of it and its decision: the refusal is the
    documented one (text and code `STREAM_NOT_OPEN_FOR_FUNDING`), and the funder is whole."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await host_and_fans(db, "fan")
            await add_stream(db, ctx, goal=1000)

            async def cancelled_meanwhile() -> None:
                await cancel(db, ctx)

            with pytest.raises(Conflict) as refused:
                await with_before(
                    db,
                    lambda sdb: fund(sdb, ctx, "fan", 10, "f-1"),
                    "live_streams",
                    "find_one_and_update",
                    cancelled_meanwhile,
                )
            assert refused.value.detail == "this stream is not open for funding"
            assert refused.value.code == "STREAM_NOT_OPEN_FOR_FUNDING", refused.value.code
            assert await credits_of(db, ctx, "fan") == 100


async def test_a_pending_funding_whose_stream_document_is_gone_is_given_back() -> None:
    """A funding whose request died right after recording it; its stream document is then removed
    altogether (not soft-deleted: by hand): recovery rejects it and gives the debit back."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await host_and_fans(db, "fan")
            await add_stream(db, ctx, goal=1000)
            await crash_after(db, lambda sdb: fund(sdb, ctx, "fan", 10, "f-1"), "fundings", "insert_one")
            await db["live_streams"].delete_one({"_id": ctx.stream})
            await recover(db)
            assert await credits_of(db, ctx, "fan") == 100
            funding = await db["fundings"].find_one({})
            assert funding["status"] == "refunded", funding


async def test_a_duo_stream_without_a_guest_pays_the_creator_and_keeps_the_guests_share() -> None:
    """A duo stream whose guest list is empty (a document written before guests were required): the
    creator gets 40 %, nobody the guest's 40 %, the platform 60 %; the recorded payout says so."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await host_and_fans(db, "fan")
            await add_user(db, ctx, "guest")
            await add_stream(db, ctx, guest="guest", goal=100)
            await fund(db, ctx, "fan", 100, "f-1")
            await start(db, ctx)
            await db["live_streams"].update_one({"_id": ctx.stream}, {"$set": {"guestIds": []}})
            await end(db, ctx)
            assert await credits_of(db, ctx, "host") == 40
            assert await credits_of(db, ctx, "guest") == 0
            stream = await stream_doc(db, ctx.stream)  # type: ignore[arg-type]
            assert not stream.get("followUps"), stream.get("followUps")
            payout = {k: v for k, v in stream["fundingPayout"].items() if k != "paidAt"}
            assert payout == {"creator": 40, "guest": 0, "platform": 60}, payout


async def test_a_creator_share_of_zero_credits_moves_nothing_and_one_credit_is_paid() -> None:
    """Whole credits, rounded down: a 1-credit pot gives the creator 80 % of 1 = 0 (no movement at all,
    the platform keeps the credit, the payout completes); a 2-credit pot gives the creator 1."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await host_and_fans(db, "fan")
            await add_stream(db, ctx, goal=1)
            await fund(db, ctx, "fan", 1, "f-1")
            await start(db, ctx)
            await end(db, ctx)
            assert await credits_of(db, ctx, "host") == 0
            assert await payouts_to(db, ctx, "host") == []
            stream = await stream_doc(db, ctx.stream)  # type: ignore[arg-type]
            assert not stream.get("followUps"), stream.get("followUps")
            payout = {k: v for k, v in stream["fundingPayout"].items() if k != "paidAt"}
            assert payout == {"creator": 0, "guest": 0, "platform": 1}, payout

            await add_stream(db, ctx, goal=2)
            await fund(db, ctx, "fan", 2, "f-2")
            await start(db, ctx)
            await end(db, ctx)
            assert await credits_of(db, ctx, "host") == 1
            assert await credits_of(db, ctx, "fan") == 97


async def test_a_stream_that_collected_nothing_records_no_payout() -> None:
    """A stream without a funding goal or entry price ends with empty pots: no payout is recorded."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await host_and_fans(db)
            await add_stream(db, ctx, goal=None, scheduled=False)
            await start(db, ctx)
            await end(db, ctx)
            stream = await stream_doc(db, ctx.stream)  # type: ignore[arg-type]
            assert not stream.get("followUps"), stream.get("followUps")
            assert stream.get("fundingPayout") is None and stream.get("entryPayout") is None, stream


async def test_a_funded_stream_deleted_before_its_payout_ran_still_pays_the_creator() -> None:
    """The end dies right after its write (the payout follow-up is due, not run); the creator deletes the
    ended stream: the payout still runs on the deleted stream and pays the creator 80 %."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await host_and_fans(db, "fan")
            await add_stream(db, ctx, goal=100)
            await fund(db, ctx, "fan", 100, "f-1")
            await start(db, ctx)
            await crash_after(db, lambda sdb: end(sdb, ctx), "live_streams", "find_one_and_update")
            assert await credits_of(db, ctx, "host") == 0
            await delete(db, ctx)
            await recover(db)
            assert await credits_of(db, ctx, "host") == 80
            assert await credits_of(db, ctx, "fan") == 0
            stream = await stream_doc(db, ctx.stream)  # type: ignore[arg-type]
            assert stream["deletedAt"] is not None and not stream.get("followUps"), stream
            await invariants.check_all(db)


class LaggingStreams(LiveStreamRepository):
    """Reads the stream as it was before the second half of its pot was counted (a lagging read)."""

    async def get(self, _id: ObjectId | str, *, include_deleted: bool = False) -> Any:
        current = await super().get(_id, include_deleted=include_deleted)
        return None if current is None else {**current, "collectedFunding": 50}


async def test_a_payout_that_reads_a_total_older_than_the_fundings_it_saw_pays_nothing() -> None:
    """Two fundings of 50 reach the goal of 100; the payout's read of the total lags (50: one funding
    missing). It must answer 503 `STALE_READ` and move nothing - not pay shares of 50, nor take the
    pot for one below its goal and refund it. Its next run pays the real total."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await host_and_fans(db, "fan1", "fan2")
            await add_stream(db, ctx, goal=100)
            await fund(db, ctx, "fan1", 50, "f-1")
            await fund(db, ctx, "fan2", 50, "f-2")
            stream = await stream_doc(db, ctx.stream)  # type: ignore[arg-type]
            lagging = Pot(db, CROWD_FUNDING, FundingRepository(db), holders=LaggingStreams(db))
            with pytest.raises(DatabaseUnavailable) as unavailable:
                await lagging.pay_out(stream)
            assert unavailable.value.detail == STALE_READ
            assert [await credits_of(db, ctx, r) for r in ("host", "fan1", "fan2")] == [0, 50, 50]
            await FundingService(db).pay_out(stream)
            assert [await credits_of(db, ctx, r) for r in ("host", "fan1", "fan2")] == [80, 50, 50]


class LaggingFundings(FundingRepository):
    """Reads a funding as it was before its runner finished it (still pending)."""

    async def get(self, _id: ObjectId | str, *, include_deleted: bool = False) -> Any:
        current = await super().get(_id, include_deleted=include_deleted)
        return None if current is None else {**current, "status": "pending"}


async def test_a_funding_read_back_pending_after_its_own_steps_answers_stale_read() -> None:
    """A funding's final read still shows it pending (older than its own writes): the answer is 503 with
    the `STALE_READ` text; the retry with the same key gets the funding, charged once."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await host_and_fans(db, "fan")
            await add_stream(db, ctx, goal=1000)
            service = FundingService(db)
            service.pot.contributions = LaggingFundings(db)

            async def present(stream: dict[str, Any]) -> dict[str, Any]:
                return {"collectedFunding": stream.get("collectedFunding")}

            with pytest.raises(DatabaseUnavailable) as unavailable:
                await service.fund(ctx.stream, ctx.id("fan"), 10, "f-1", present)  # type: ignore[arg-type]
            assert unavailable.value.detail == STALE_READ
            assert (await fund(db, ctx, "fan", 10, "f-1"))["collectedFunding"] == 10
            assert await credits_of(db, ctx, "fan") == 90


async def test_a_mini_crowd_funding_payout_names_the_stream() -> None:
    """A mini crowd-funding paid out (goal reached, the stream ends): the creator's payout movement
    refers to the stream, like the contributions' debits, not to the mini crowd-funding."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await host_and_fans(db, "fan")
            await add_stream(db, ctx, goal=None, scheduled=False)
            await start(db, ctx)
            await open_mini(db, ctx, goal=10)
            await fund_mini(db, ctx, "fan", 10, "m-1")
            await end(db, ctx)
            assert await credits_of(db, ctx, "host") == 8
            [payout] = await payouts_to(db, ctx, "host")
            assert payout["reference"] == {"kind": "liveStream", "id": str(ctx.stream)}, payout


async def test_the_refund_follow_up_counts_the_fundings_it_gave_back() -> None:
    """A cancel dies right after its write; the refund follow-up, run as the loop runs it, gives both
    fundings back and says 2; run again it finds nothing left and says 0."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await host_and_fans(db, "fan1", "fan2")
            await add_stream(db, ctx, goal=1000)
            await fund(db, ctx, "fan1", 10, "f-1")
            await fund(db, ctx, "fan2", 20, "f-2")
            await crash_after(db, lambda sdb: cancel(sdb, ctx), "live_streams", "find_one_and_update")
            stream = await stream_doc(db, ctx.stream)  # type: ignore[arg-type]
            assert await FundingService(db).refund_all(stream) == 2  # type: ignore[arg-type]
            assert [await credits_of(db, ctx, r) for r in ("fan1", "fan2")] == [100, 100]
            assert await FundingService(db).refund_all(stream) == 0  # type: ignore[arg-type]


async def test_a_retry_that_finds_its_funding_completed_meanwhile_answers_with_it_counted() -> None:
    """Bug fixed (round 3): a retry reads its funding still pending, then the recovery pass completes it
    before the retry decides. The retry's answer - stored as the first answer - shows the pot with this
    funding in it (10), not the stream as the retry read it before (0)."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await host_and_fans(db, "fan")
            await add_stream(db, ctx, goal=1000)
            await crash_after(db, lambda sdb: fund(sdb, ctx, "fan", 10, "f-1"), "fundings", "insert_one")
            pending = await db["fundings"].find_one({})

            async def recovery_completes_it() -> None:
                done = await FundingService(db).pot.drive(pending)
                assert done["status"] == "completed", done

            answer = await with_before(
                db,
                lambda sdb: fund(sdb, ctx, "fan", 10, "f-1"),
                "credit_transactions",
                "insert_one",
                recovery_completes_it,
            )
            assert answer["collectedFunding"] == 10, answer
            assert await fund(db, ctx, "fan", 10, "f-1") == answer
            assert await credits_of(db, ctx, "fan") == 90
