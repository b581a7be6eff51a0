"""Leased background loops on a manual clock: one holder at a time, release on stop, takeover after expiry;
and the app's own loops started and stopped by its lifespan.

No lease test waits on real time: the loops' pauses, the lease clock and the heartbeat run on a
`ManualClock`, whose `sleep` moves time on at once.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from app.core.background import run_leased_forever
from app.core.leases import LeaseRepository
from app.main import create_app
from tests.clock import ManualClock
from tests.conftest import make_settings
from tests.helpers import use_manual_server_clock

LEASE = "test-lease"


def counting_job(calls: dict[str, int], name: str, done: asyncio.Event, after: int) -> Callable:
    async def run(now: datetime) -> None:
        calls[name] += 1
        if calls[name] >= after:
            done.set()

    return run


def loop(
    db: Any, clock: ManualClock, job: Callable[[datetime], Awaitable[Any]], **kwargs: Any
) -> asyncio.Task:
    use_manual_server_clock(db, clock.now)
    return asyncio.create_task(
        run_leased_forever(
            db, LEASE, 0.1, job, now=clock.now, monotonic=clock.monotonic, sleep=clock.sleep, **kwargs
        )
    )


async def stop(*loops: asyncio.Task) -> None:
    for task in loops:
        task.cancel()
    await asyncio.gather(*loops, return_exceptions=True)


async def test_leased_loop_runs_on_one_holder_at_a_time(db):
    clock, calls, done = ManualClock(), {"a": 0, "b": 0}, asyncio.Event()
    # A lease far longer than the test's manual time: whichever loop takes it first keeps it.
    loops = [loop(db, clock, counting_job(calls, name, done, after=10), ttl=3600) for name in calls]
    await asyncio.wait_for(done.wait(), 30)
    await stop(*loops)
    assert sorted(calls.values())[0] == 0 and sorted(calls.values())[1] >= 10
    assert clock.elapsed > 0  # every pause was taken on the manual clock


async def test_a_stopped_holder_releases_and_another_takes_over_at_once(db):
    clock, calls, done = ManualClock(), {"a": 0, "b": 0}, asyncio.Event()
    first = loop(db, clock, counting_job(calls, "a", done, after=3), ttl=3600)
    await asyncio.wait_for(done.wait(), 30)
    await stop(first)  # shutdown releases the lease
    assert await db["leases"].find_one({"_id": LEASE}) is None

    done.clear()
    second = loop(db, clock, counting_job(calls, "b", done, after=3), ttl=3600)
    await asyncio.wait_for(done.wait(), 30)
    await stop(second)
    assert calls["b"] >= 3


async def test_a_crashed_holders_lease_is_taken_once_it_expires(db):
    clock, calls, done = ManualClock(), {"b": 0}, asyncio.Event()
    use_manual_server_clock(db, clock.now)
    # A holder that died without releasing: its lease runs for 5 more (manual) seconds.
    assert await LeaseRepository(db).acquire(LEASE, "crashed-replica", ttl_seconds=5)

    taker = loop(db, clock, counting_job(calls, "b", done, after=1))
    await asyncio.wait_for(done.wait(), 30)
    await stop(taker)
    assert clock.elapsed >= 5  # not before the crashed holder's lease expired
    assert calls["b"] >= 1


async def test_the_app_runs_its_background_loops_and_releases_their_leases_on_shutdown(monkeypatch):
    """The lifespan wiring with BACKGROUND_TASKS on (every other test runs without the loops)."""
    released: list[str] = []
    release = LeaseRepository.release

    async def recording_release(self: LeaseRepository, name: str, holder: str) -> None:
        released.append(name)
        await release(self, name, holder)

    monkeypatch.setattr(LeaseRepository, "release", recording_release)
    settings = make_settings(
        background_tasks=True, reconcile_interval_seconds=3600, ranking_max_age_seconds=60
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        db = application.state.db
        # Each loop takes its lease on its first pass; polled with a guard against a hang, not a bound.
        for _ in range(3000):
            held = {doc["_id"] for doc in await db["leases"].find().to_list()}
            if len(held) >= 4:
                break
            await asyncio.sleep(0.01)
        assert len(held) >= 4 and "rankings" in held  # reconcile, reminders, settlement, rankings, ...
    assert sorted(released) == sorted(held)  # shutdown stopped every loop, and each released its lease
