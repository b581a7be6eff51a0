"""Named checks for the mutants of the recovery passes' batch reads that the harness's schedules let
survive in the 11:38 `make mutate` run (issue 23, round 3): which scheduled streams the expiry pass reads
(`LiveStreamRepository.overdue_scheduled`), which follow-ups the loop's pass takes
(`FollowUpRunner.run_due`), and how many stale fundings, superlikes and closed rental windows one pass
handles, oldest first (`FundingService.resume_stale`, `SuperlikeService.resume_stale`,
`ReplayRentalRepository.due_for_revenue`).

Every replica runs these passes, so each reads a bounded batch, oldest first: the rest (and anything
newer) waits for the next pass, and nothing overdue is skipped for ever. The checks write the documents
a pass reads straight into a fresh database (cheap: no flow runs) and look at what the pass takes; one
runs the real expiry and refund to show the money a wrong read keeps.
"""

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from app.core.timeutils import utcnow
from app.live_streams.funding import FundingService
from app.live_streams.repository import LiveStreamRepository
from app.replays.repository import ReplayRentalRepository
from app.superlikes.service import SuperlikeService
from tests.money import invariants
from tests.money.harness import database_client, fresh_database
from tests.money.world import (
    Ctx,
    add_stream,
    add_user,
    credits_of,
    fund,
    reconciler,
    recording_follow_up_runner,
    stream_doc,
)

# --- app/live_streams/repository.py: the scheduled streams the expiry pass reads ---------------------------


async def scheduled_streams(db: Any, plans: list[tuple[str, dict[str, Any]]]) -> dict[str, ObjectId]:
    """Insert scheduled streams in the order given (so the natural order is the insertion order);
    `plans` names each and gives its planned dates (and any other field)."""
    ids: dict[str, ObjectId] = {}
    for name, fields in plans:
        doc = {"status": "scheduled", "channelName": f"ch-{name}", "name": name, **fields}
        ids[name] = (await db["live_streams"].insert_one(doc)).inserted_id
    return ids


def names(streams: list[Any]) -> list[str]:
    return [stream["name"] for stream in streams]


async def test_the_expiry_read_takes_the_longest_overdue_by_planned_end_and_no_more_than_asked() -> None:
    """Of three streams past their planned end (inserted newest first), a read of two takes the two
    whose end is oldest, in that order, and nothing else: a full first range leaves the streams without a
    planned end to the next pass (a limit of 0 would read them all). Streams not yet due, not scheduled or
    deleted are never read."""
    async with database_client() as client, fresh_database(client) as db:
        cutoff = utcnow()
        start = cutoff - timedelta(days=2)
        await scheduled_streams(
            db,
            [
                ("end-1h", {"plannedStartDate": start, "plannedEndDate": cutoff - timedelta(hours=1)}),
                ("end-2h", {"plannedStartDate": start, "plannedEndDate": cutoff - timedelta(hours=2)}),
                ("end-3h", {"plannedStartDate": start, "plannedEndDate": cutoff - timedelta(hours=3)}),
                ("start-4h", {"plannedStartDate": cutoff - timedelta(hours=4)}),
                ("start-5h", {"plannedStartDate": cutoff - timedelta(hours=5)}),
                ("not-due", {"plannedStartDate": start, "plannedEndDate": cutoff + timedelta(hours=1)}),
                (
                    "ended",
                    {
                        "status": "ended",
                        "plannedStartDate": start,
                        "plannedEndDate": cutoff - timedelta(hours=9),
                    },
                ),
                (
                    "deleted",
                    {
                        "plannedStartDate": start,
                        "plannedEndDate": cutoff - timedelta(hours=9),
                        "deletedAt": cutoff,
                    },
                ),
            ],
        )
        streams = LiveStreamRepository(db)
        assert names(await streams.overdue_scheduled(cutoff, limit=2)) == ["end-3h", "end-2h"]
        assert names(await streams.overdue_scheduled(cutoff, limit=3)) == ["end-3h", "end-2h", "end-1h"]
        assert names(await streams.overdue_scheduled(cutoff, limit=10)) == [
            "end-3h",
            "end-2h",
            "end-1h",
            "start-5h",
            "start-4h",
        ]


async def test_the_expiry_read_fills_its_batch_with_streams_overdue_by_planned_start_oldest_first() -> None:
    """A stream without a planned end is overdue by its planned start. A read of three with one stream
    overdue by its end takes that one, then the two whose start is oldest (inserted newest first), and
    no more than three in all; a start not yet past the cutoff is not read."""
    async with database_client() as client, fresh_database(client) as db:
        cutoff = utcnow()
        await scheduled_streams(
            db,
            [
                ("start-1h", {"plannedStartDate": cutoff - timedelta(hours=1)}),
                ("start-2h", {"plannedStartDate": cutoff - timedelta(hours=2)}),
                ("start-3h", {"plannedStartDate": cutoff - timedelta(hours=3)}),
                ("start-later", {"plannedStartDate": cutoff + timedelta(minutes=1)}),
                (
                    "end-1h",
                    {
                        "plannedStartDate": cutoff - timedelta(days=1),
                        "plannedEndDate": cutoff - timedelta(hours=1),
                    },
                ),
            ],
        )
        streams = LiveStreamRepository(db)
        assert names(await streams.overdue_scheduled(cutoff, limit=3)) == ["end-1h", "start-3h", "start-2h"]
        assert names(await streams.overdue_scheduled(cutoff, limit=9)) == [
            "end-1h",
            "start-3h",
            "start-2h",
            "start-1h",
        ]


async def test_a_funded_stream_without_a_planned_end_expires_by_its_planned_start_and_refunds() -> None:
    """A scheduled stream with no planned end whose planned start is past by more than the grace never
    started: the expiry pass expires it and its funder gets the 40 credits back."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = Ctx()
        await add_user(db, ctx, "host")
        await add_user(db, ctx, "fan", credits=100)
        await add_stream(db, ctx, goal=1000)
        await fund(db, ctx, "fan", 40, "fund-1")
        assert ctx.stream is not None
        now = utcnow()
        await db["live_streams"].update_one(
            {"_id": ctx.stream},
            {"$set": {"plannedStartDate": now - timedelta(hours=3)}, "$unset": {"plannedEndDate": ""}},
        )
        assert await credits_of(db, ctx, "fan") == 60
        assert await reconciler(db).expire_overdue(now) == 1
        assert (await stream_doc(db, ctx.stream))["status"] == "expired"
        assert await credits_of(db, ctx, "fan") == 100
        await invariants.check_all(db)


# --- app/live_streams/follow_ups.py: the loop leaves fresh follow-ups to their request ----------------------


async def test_the_follow_up_pass_leaves_a_follow_up_recorded_moments_ago_to_its_request() -> None:
    """The request that records a follow-up runs it itself; the loop's pass takes only follow-ups due for
    longer than the grace (30 s): one recorded 10 s ago is left alone, one due 40 s ago is run."""
    async with database_client() as client, fresh_database(client) as db:
        now = utcnow()
        await db["live_streams"].insert_many(
            [
                {
                    "name": "fresh",
                    "channelName": "c-fresh",
                    "followUpAt": now - timedelta(seconds=10),
                    "followUps": {},
                },
                {
                    "name": "left",
                    "channelName": "c-left",
                    "followUpAt": now - timedelta(seconds=40),
                    "followUps": {},
                },
            ]
        )
        runner, seen = recording_follow_up_runner(db, "name")
        assert await runner.run_due(now) == 1
        assert seen == ["left"]


# --- the recovery passes handle at most a hundred at a time, oldest first -----------------------------------


def oldest_last(now: datetime, count: int) -> list[datetime]:
    """`count` times long past, newest first (so the insertion order is the reverse of the age order)."""
    return [now - timedelta(hours=2, minutes=n) for n in range(count)]


async def test_a_funding_recovery_pass_resumes_at_most_a_hundred_stale_fundings_oldest_first() -> None:
    """101 fundings left pending by dead requests: one pass rolls forward 100, oldest first, and leaves the
    newest to the next pass; a pass asked for one takes only the oldest."""
    async with database_client() as client, fresh_database(client) as db:
        now = utcnow()
        await db["fundings"].insert_many(
            [
                {
                    "n": n,
                    "userId": ObjectId(),
                    "idempotencyKey": f"k{n}",
                    "status": "pending",
                    "createdAt": at,
                }
                for n, at in enumerate(oldest_last(now, 101))
            ]
        )
        service = FundingService(db)
        seen: list[int] = []

        async def record(contribution: Any) -> None:
            seen.append(contribution["n"])

        service.pot.drive = record  # type: ignore[method-assign]
        assert await service.resume_stale(now) == 100
        assert seen == list(range(100, 0, -1))
        seen.clear()
        assert await service.resume_stale(now, limit=1) == 1
        assert seen == [100]


async def test_a_superlike_recovery_pass_finishes_at_most_a_hundred_stale_superlikes_oldest_first() -> None:
    """101 superlikes left pending by dead requests (and one still fresh): one pass drives 100, oldest
    first, and leaves the newest stale one (and the fresh one) to the next pass."""
    async with database_client() as client, fresh_database(client) as db:
        now = utcnow()
        fresh = {
            "n": -1,
            "senderId": ObjectId(),
            "idempotencyKey": "fresh",
            "status": "pending",
            "createdAt": now,
        }
        await db["superlikes"].insert_many(
            [
                fresh,
                *(
                    {
                        "n": n,
                        "senderId": ObjectId(),
                        "idempotencyKey": f"k{n}",
                        "status": "pending",
                        "createdAt": at,
                    }
                    for n, at in enumerate(oldest_last(now, 101))
                ),
            ]
        )
        service = SuperlikeService(db)
        seen: list[int] = []

        async def record(superlike: Any) -> None:
            seen.append(superlike["n"])

        service.drive = record  # type: ignore[method-assign]
        assert await service.resume_stale(now - timedelta(minutes=1)) == 100
        assert seen == list(range(100, 0, -1))


# --- app/replays/repository.py: the closed rental windows a revenue pass pays ---------------------------------


async def test_the_revenue_pass_reads_the_rental_windows_that_closed_first() -> None:
    """Of three active rentals whose window has closed (the earliest closed last in insertion and _id
    order), a batch of two takes the two that closed first, in that order; a window still open or a
    rental not active is not read."""
    async with database_client() as client, fresh_database(client) as db:
        now = utcnow()
        stream = ObjectId()
        rentals = [
            ("closed-1h", "active", now - timedelta(hours=1)),
            ("closed-2h", "active", now - timedelta(hours=2)),
            ("closed-3h", "active", now - timedelta(hours=3)),
            ("open", "active", now + timedelta(hours=1)),
            ("refunded", "refunded", now - timedelta(hours=9)),
        ]
        await db["replay_rentals"].insert_many(
            [
                {
                    "_id": ObjectId(),
                    "name": name,
                    "userId": ObjectId(),
                    "liveStreamId": stream,
                    "status": status,
                    "expiresAt": expires,
                }
                for name, status, expires in rentals
            ]
        )
        repository = ReplayRentalRepository(db)
        assert names(await repository.due_for_revenue(now, 2)) == ["closed-3h", "closed-2h"]
        assert names(await repository.due_for_revenue(now, 9)) == ["closed-3h", "closed-2h", "closed-1h"]
