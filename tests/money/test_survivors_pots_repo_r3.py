"""Named checks that kill surviving mutants of `ContributionRepository` (app/live_streams/pots.py; round 3
of docs/money.md "Mutation score"): the stored first answer against a twin request, a pot's refund that
touches only its own contributions, the recovery pass's oldest-stale-first batch. Oracles are the rules
(balances, which answer every request with one key gets), never the code's own records."""

from datetime import timedelta
from typing import Any

from app.core.timeutils import utcnow
from app.live_streams.funding import FundingService
from tests.money import invariants
from tests.money.harness import database_client, exploring, fresh_database, recover
from tests.money.world import Ctx, add_stream, add_user, before_nth, cancel, crash_after, credits_of, fund


async def funded_stream(db: Any) -> Ctx:
    ctx = Ctx()
    await add_user(db, ctx, "host")
    await add_user(db, ctx, "fan", credits=100)
    await add_user(db, ctx, "fan2", credits=100)
    await add_stream(db, ctx, goal=1000)
    return ctx


async def test_a_twin_request_that_stores_its_answer_first_gives_it_to_both_requests_and_every_retry() -> (
    None
):
    """A funding is counted; before it stores its answer, another fan's funding is counted and a twin
    request with the same Idempotency-Key stores its own (the stream as it read it). One key, one answer:
    the first request answers the twin's stored answer too, and a later retry gets it."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await funded_stream(db)
            twin: dict[str, Any] = {}

            async def another_funding_then_the_twin() -> None:
                await fund(db, ctx, "fan2", 20, "f-other")
                twin["answer"] = await fund(db, ctx, "fan", 10, "f-1")

            # fundings.update_one #1 marks the funding completed, #2 stores its answer
            first = await before_nth(
                db,
                lambda sdb: fund(sdb, ctx, "fan", 10, "f-1"),
                "fundings",
                "update_one",
                2,
                another_funding_then_the_twin,
            )
            assert twin["answer"]["collectedFunding"] == 30, twin  # the twin read the stream after both
            assert first == twin["answer"], (first, twin)
            assert await fund(db, ctx, "fan", 10, "f-1") == first
            assert await credits_of(db, ctx, "fan") == 90
            assert await credits_of(db, ctx, "fan2") == 80
            await invariants.check_all(db)


async def test_cancelling_a_stream_refunds_only_its_own_fundings() -> None:
    """A fan funds two streams of the host; one is cancelled: only that stream's funding comes back, the
    other stays debited and counted in its pot."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await funded_stream(db)
            kept = await add_stream(db, ctx, goal=1000)
            await fund(db, ctx, "fan", 20, "f-kept")
            cancelled = await add_stream(db, ctx, goal=1000)
            await fund(db, ctx, "fan", 10, "f-cancelled")

            await cancel(db, ctx)

            assert await credits_of(db, ctx, "fan") == 80
            stream = await db["live_streams"].find_one({"_id": kept})
            assert stream["collectedFunding"] == 20, stream
            statuses = {doc["liveStreamId"]: doc["status"] for doc in await db["fundings"].find({}).to_list()}
            assert statuses == {kept: "completed", cancelled: "refunded"}, statuses
            await invariants.check_all(db)


async def test_the_recovery_pass_resumes_the_oldest_stale_funding_first() -> None:
    """Two fundings died right after their insert; with room for one, the recovery pass resumes the older
    one - not a newer one inserted earlier, nor an even older funding that is already completed."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await funded_stream(db)
            await fund(db, ctx, "fan", 5, "f-done")
            for role, key in (("fan", "f-newer"), ("fan2", "f-older")):  # inserted newer first

                async def dying(sdb: Any, role: str = role, key: str = key) -> Any:
                    return await fund(sdb, ctx, role, 10, key)

                await crash_after(db, dying, "fundings", "insert_one")
            now = utcnow()
            for key, age in (("f-done", 30), ("f-newer", 10), ("f-older", 20)):
                await db["fundings"].update_one(
                    {"idempotencyKey": key}, {"$set": {"createdAt": now - timedelta(minutes=age)}}
                )

            assert await FundingService(db).resume_stale(now - timedelta(minutes=5), limit=1) == 1

            statuses = {
                doc["idempotencyKey"]: doc["status"] for doc in await db["fundings"].find({}).to_list()
            }
            assert statuses == {"f-done": "completed", "f-newer": "pending", "f-older": "completed"}, statuses
            assert await credits_of(db, ctx, "fan2") == 90
            assert await credits_of(db, ctx, "fan") == 95
            await recover(db)
            assert await credits_of(db, ctx, "fan") == 85
            await invariants.check_all(db)
