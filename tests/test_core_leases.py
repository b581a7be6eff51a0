"""Leases (issue 12 item 8): server time, heartbeat during a pass, the pass stops when the lease is lost,
release on shutdown, loops that survive outages. Clocks and sleeps are injected: no real waiting."""

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, ServerSelectionTimeoutError

from app.core.background import HeldLease, run_leased_forever, run_pass
from app.core.leases import LeaseRepository, acquire_pipeline
from tests.helpers import use_manual_server_clock

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
    """Free, held by another, ours (renewed), expired (taken over), released: on the engine's server
    clock, driven by hand (the embedded engine evaluates the command's `$$NOW` with it)."""
    clock = Clock()
    use_manual_server_clock(db, clock.now)
    leases = LeaseRepository(db)
    assert await leases.acquire("job", "a", ttl_seconds=30)  # free: no lease document yet
    assert not await leases.acquire("job", "b", ttl_seconds=30)
    clock.seconds = 29
    assert await leases.acquire("job", "a", ttl_seconds=30)  # a renewal pushes the expiry
    clock.seconds = 58
    assert not await leases.acquire("job", "b", ttl_seconds=30)
    lease = await db.leases.find_one({"_id": "job"})
    assert (lease["holder"], lease["expiresAt"]) == ("a", T0 + timedelta(seconds=59))  # untouched by b
    clock.seconds = 59
    assert await leases.acquire("job", "b", ttl_seconds=30)  # expired: taken over
    await leases.release("job", "a")  # not a's any more: nothing happens
    lease = await db.leases.find_one({"_id": "job"})
    assert lease == {
        "_id": "job",
        "holder": "b",
        "expiresAt": T0 + timedelta(seconds=89),
        "renewedAt": T0 + timedelta(seconds=59),
    }
    await leases.release("job", "b")
    assert await db.leases.find_one({"_id": "job"}) is None
    assert await leases.acquire("job", "a", ttl_seconds=30)  # released: free again
    assert await db.leases.count_documents({}) == 1


async def test_a_lease_held_by_another_is_refused_on_the_servers_own_clock(db):
    """The same semantics on whichever engine runs the suite, with its real clock."""
    leases = LeaseRepository(db)
    assert await leases.acquire("job", "a", ttl_seconds=30)
    assert not await leases.acquire("job", "b", ttl_seconds=30)
    assert await leases.acquire("job", "a", ttl_seconds=30)
    assert await leases.acquire("other-job", "b", ttl_seconds=30)
    await leases.release("job", "a")
    assert await leases.acquire("job", "b", ttl_seconds=30)
    assert await db.leases.count_documents({}) == 2


def test_lease_collection_is_durable(db):
    collection = LeaseRepository(db).collection
    assert collection.write_concern.document["w"] == "majority"


class RecordingCollection:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            return {"_id": args[0]["_id"], "holder": "a"}

        return call


class ServerDb:
    """A database that is not the embedded engine (as `AsyncDatabase` is): records the commands."""

    def __init__(self) -> None:
        self.leases = RecordingCollection()

    def get_collection(self, name: str, **_: Any) -> RecordingCollection:
        return self.leases

    __getitem__ = get_collection


async def sent_to_a_server() -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    db = ServerDb()
    assert await LeaseRepository(db).acquire("job", "a", ttl_seconds=30)  # type: ignore[arg-type]
    return db.leases.calls


async def test_acquire_sends_one_command_that_mongod_accepts():
    """mongod refuses `$expr` anywhere in an upsert's filter (code 224, QueryFeatureNotAllowed); the
    condition lives in the update pipeline, on the server's clock (`$$NOW`)."""
    [(op, (query, pipeline), kwargs)] = await sent_to_a_server()
    assert op == "find_one_and_update" and kwargs["upsert"] is True
    assert kwargs["return_document"] == ReturnDocument.AFTER
    assert query == {"_id": "job"}  # equality on `_id` only: no $expr, and a held lease is never re-inserted
    assert mongod_refusals(op, query, pipeline, upsert=True) == []
    assert pipeline == acquire_pipeline("a", 30_000)
    [stage] = pipeline
    assert "$$NOW" in repr(stage) and "{'$add': ['$$NOW', 30000]}" in repr(stage)


async def test_the_suites_engine_gets_the_same_command_as_a_server(db, monkeypatch):
    """One code path: what the engine running the suite receives is what a server receives."""
    collection_type = type(LeaseRepository(db).collection)
    seen: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    for name in ("update_one", "find_one_and_update"):

        async def recording(
            self: Any,
            *args: Any,
            _name: str = name,
            _real: Any = getattr(collection_type, name),
            **kwargs: Any,
        ) -> Any:
            seen.append(copy.deepcopy((_name, args, kwargs)))  # before an engine touches them
            return await _real(self, *args, **kwargs)

        monkeypatch.setattr(collection_type, name, recording)
    assert await LeaseRepository(db).acquire("job", "a", ttl_seconds=30)
    assert seen == await sent_to_a_server()


def mongod_refusals(op: str, query: dict[str, Any], update: Any, *, upsert: bool) -> list[str]:
    """The rules of MongoDB 7.0 a lease command could break (from mongod's source: the upsert
    predicate check in `parsed_update.cpp`, `pipeline_d`'s update-stage allow-list)."""
    refusals: list[str] = []

    def operators(value: Any) -> set[str]:
        if isinstance(value, dict):
            return {k for k in value if k.startswith("$")} | {o for v in value.values() for o in operators(v)}
        if isinstance(value, list):
            return {o for v in value for o in operators(v)}
        return set()

    if upsert and operators(query) & {"$expr", "$where", "$text", "$near", "$nearSphere"}:
        refusals.append(
            "224 QueryFeatureNotAllowed: $expr is not allowed in the query predicate for an upsert"
        )
    if isinstance(update, list):
        allowed = {"$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith"}
        refusals += [
            f"72 {stage} is not allowed in an update pipeline"
            for s in update
            for stage in s
            if stage not in allowed
        ]
    return refusals


def test_the_rule_check_refuses_the_old_command():
    """The check above is not vacuous: the command the lease sent before (issue 22) breaks code 224."""
    old_filter = {"_id": "job", "$or": [{"holder": "a"}, {"$expr": {"$lte": ["$expiresAt", "$$NOW"]}}]}
    assert mongod_refusals("update_one", old_filter, [], upsert=True) != []
    assert mongod_refusals("update_one", {"_id": "job"}, [{"$group": {"_id": 1}}], upsert=True) != []


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
