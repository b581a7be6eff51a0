"""Leases (issue 12 item 8): server time, heartbeat during a pass, the pass stops when the lease is lost,
release on shutdown, loops that survive outages. Clocks and sleeps are injected: no real waiting."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError, ServerSelectionTimeoutError

from app.core.background import HeldLease, run_leased_forever, run_pass
from app.core.leases import LeaseRepository

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    """Wall time for the embedded lease documents, monotonic time for the holder, and a sleep that
    advances both instead of waiting."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    async def sleep(self, seconds: float) -> None:
        self.seconds += seconds
        await asyncio.sleep(0)


# --- the lease document ------------------------------------------------------------------------------------


async def test_one_holder_at_a_time_until_expiry_or_release(db):
    clock = Clock()
    leases = LeaseRepository(db, clock=clock.now)
    assert await leases.acquire("job", "a", ttl_seconds=30)
    assert not await leases.acquire("job", "b", ttl_seconds=30)
    clock.seconds = 29
    assert await leases.acquire("job", "a", ttl_seconds=30)  # a renewal pushes the expiry
    clock.seconds = 58
    assert not await leases.acquire("job", "b", ttl_seconds=30)
    clock.seconds = 59
    assert await leases.acquire("job", "b", ttl_seconds=30)  # expired: taken over
    await leases.release("job", "a")  # not a's any more: nothing happens
    assert (await db.leases.find_one({"_id": "job"}))["holder"] == "b"
    await leases.release("job", "b")
    assert await db.leases.find_one({"_id": "job"}) is None


def test_lease_collection_is_durable(db):
    collection = LeaseRepository(db).collection
    assert collection.write_concern.document["w"] == "majority"


class RecordingCollection:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any, dict[str, Any]]] = []

    async def update_one(self, query: Any, update: Any, **kwargs: Any) -> None:
        self.calls.append((query, update, kwargs))


class ServerDb:
    """A database that is not the embedded engine (as `AsyncDatabase` is)."""

    def __init__(self) -> None:
        self.leases = RecordingCollection()

    def get_collection(self, name: str, **_: Any) -> RecordingCollection:
        return self.leases

    __getitem__ = get_collection


async def test_on_mongodb_expiry_is_set_and_compared_with_the_servers_clock():
    db = ServerDb()
    await LeaseRepository(db).acquire("job", "a", ttl_seconds=30)  # type: ignore[arg-type]
    [(query, update, kwargs)] = db.leases.calls
    assert query == {"_id": "job", "$or": [{"holder": "a"}, {"$expr": {"$lte": ["$expiresAt", "$$NOW"]}}]}
    assert update == [
        {"$set": {"holder": "a", "expiresAt": {"$add": ["$$NOW", 30_000]}, "renewedAt": "$$NOW"}}
    ]
    assert kwargs == {"upsert": True}


# --- the holder's view and the heartbeat --------------------------------------------------------------------


class ScriptedLeases:
    """Lease answers scripted per call: True (ours), False (someone else's) or an exception."""

    def __init__(self, *answers: bool | BaseException) -> None:
        self.answers, self.calls, self.released = list(answers), 0, []

    async def acquire(self, name: str, holder: str, ttl_seconds: float) -> bool:
        self.calls += 1
        answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def release(self, name: str, holder: str) -> None:
        self.released.append((name, holder))


def held(leases: ScriptedLeases, clock: Clock, ttl: float = 30) -> HeldLease:
    return HeldLease(leases, "job", "me", ttl, clock.monotonic)  # type: ignore[arg-type]


async def test_validity_counts_from_before_the_request_with_the_monotonic_clock():
    clock = Clock()
    lease = held(ScriptedLeases(True), clock)
    clock.seconds = 100
    assert await lease.acquire()
    assert lease.valid_until == 130
    clock.seconds = 129.9
    assert lease.held
    clock.seconds = 130
    assert not lease.held


async def test_heartbeat_renews_during_a_long_pass():
    clock, leases = Clock(), ScriptedLeases()
    lease = held(leases, clock, ttl=30)
    await lease.acquire()

    async def long_pass(now: datetime) -> None:
        while clock.seconds < 100:  # noqa: ASYNC110 - a pass more than three TTLs long, on the fake clock
            await asyncio.sleep(0)

    assert await run_pass(lease, long_pass, clock.sleep) is True
    assert leases.calls >= 1 + 100 // 10  # renewed every ttl / 3
    assert lease.held


async def test_the_pass_is_cancelled_when_another_holder_took_the_lease():
    clock, leases = Clock(), ScriptedLeases(True, True, False)
    lease = held(leases, clock)
    await lease.acquire()
    steps: list[float] = []

    async def endless(now: datetime) -> None:
        while True:
            steps.append(clock.seconds)
            await asyncio.sleep(0)

    assert await run_pass(lease, endless, clock.sleep) is False
    assert leases.calls == 3 and not lease.held
    assert max(steps) <= 20  # stopped at the second heartbeat (t = 20 s), long before the TTL


async def test_the_pass_goes_on_while_renewals_fail_but_the_lease_is_still_ours():
    down = ServerSelectionTimeoutError("down")
    clock, leases = Clock(), ScriptedLeases(True, down, down, down, down)
    lease = held(leases, clock, ttl=30)
    await lease.acquire()  # valid until t = 30
    steps: list[float] = []

    async def endless(now: datetime) -> None:
        while True:
            steps.append(clock.seconds)
            await asyncio.sleep(0)

    assert await run_pass(lease, endless, clock.sleep) is False
    # renewals at 10 and 20 failed but the lease was provably ours; at 30 it no longer is
    assert 20 <= max(steps) <= 30


async def test_a_failing_pass_raises_for_the_loop_to_log():
    clock = Clock()
    lease = held(ScriptedLeases(), clock)
    await lease.acquire()

    async def broken(now: datetime) -> None:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        await run_pass(lease, broken, clock.sleep)


# --- the loop ------------------------------------------------------------------------------------------------


async def test_loop_releases_its_lease_when_cancelled(db):
    passes = asyncio.Event()

    async def job(now: datetime) -> None:
        passes.set()

    loop = asyncio.create_task(run_leased_forever(db, "shutdown-test", 3600, job))
    await asyncio.wait_for(passes.wait(), 5)
    assert (await db.leases.find_one({"_id": "shutdown-test"}))["holder"].endswith(tuple("0123456789abcdef"))
    loop.cancel()
    await asyncio.wait({loop})
    assert await db.leases.find_one({"_id": "shutdown-test"}) is None  # another replica may take over now


async def test_loop_survives_an_outage_and_runs_again_when_the_database_is_back(db, monkeypatch):
    clock, attempts, passes = Clock(), [], []
    real = LeaseRepository.acquire

    async def flaky(self: LeaseRepository, *args: Any, **kwargs: Any) -> bool:
        attempts.append(clock.seconds)
        if len(attempts) <= 3:
            raise ServerSelectionTimeoutError("down")
        if len(attempts) == 4:
            raise DuplicateKeyError("E11000")  # not a False: any other error is logged and survived too
        return await real(self, *args, **kwargs)

    async def job(now: datetime) -> None:
        passes.append(clock.seconds)

    monkeypatch.setattr(LeaseRepository, "acquire", flaky)
    loop = asyncio.create_task(run_leased_forever(db, "outage-test", 10, job, sleep=clock.sleep))
    while len(passes) < 2:  # noqa: ASYNC110 - the loop sleeps on the fake clock; poll its effect
        await asyncio.sleep(0.01)
    loop.cancel()
    await asyncio.wait({loop})
    assert passes[0] == 40  # four failed attempts, ten seconds apart, then passes again
