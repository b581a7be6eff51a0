"""Deterministic interleaving and crash harness for the money flows (simulation-testing style).

Every awaited database step of a flow is a numbered point. A `SteppedDatabase` wraps a database
(embedded or a real `AsyncDatabase`) and calls `await hook(step, collection, operation)` before each
step, which lets a schedule:

* count the steps of a flow run alone (`N`);
* crash the flow before step k (`Crash`, a BaseException: no `except Exception` in the app catches
  it, and every later step of the same flow raises again, so nothing after the crash point runs);
* run a competing operation to completion on the RAW database before step k, then let the flow go on.

`explore()` runs, for one scenario, every crash point 1..N (plus the uncrashed run) and, for every
competitor, every interleaving point 1..N+1 (N+1 = the competitor runs right after the flow),
each on a fresh database, followed by the recovery passes and the invariant check.

Recovery (`recover()`) is the single place that names the app's recovery entry points.
"""

import contextlib
import copy
import functools
import itertools
import os
import sys
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.core import once
from app.core.errors import AppError
from app.core.timeutils import utcnow

MONGODB_TEST_URL = os.environ.get("MONGODB_TEST_URL")

Hook = Callable[[int, str, str], Awaitable[None]]

# Awaited collection operations that are one database round trip each.
STEPPED_OPS = frozenset(
    {
        "find_one",
        "find_one_and_update",
        "find_one_and_delete",
        "find_one_and_replace",
        "update_one",
        "update_many",
        "replace_one",
        "insert_one",
        "insert_many",
        "delete_one",
        "delete_many",
        "count_documents",
        "estimated_document_count",
        "distinct",
        "bulk_write",
        "aggregate",
    }
)


class Crash(BaseException):
    """The process dies before this step: raised from the hook, caught only by the harness."""


# --- the stepping wrapper ------------------------------------------------------------------------------


class Stepper:
    """Numbers the steps of one flow and awaits the hook before each one."""

    def __init__(self, hook: Hook | None = None) -> None:
        self.hook = hook
        self.count = 0
        self.trace: list[tuple[int, str, str]] = []

    async def step(self, collection: str, operation: str) -> None:
        self.count += 1
        self.trace.append((self.count, collection, operation))
        if self.hook is not None:
            await self.hook(self.count, collection, operation)


class SteppedCursor:
    """A find() cursor whose load (first `__anext__` or `to_list`) is one step."""

    def __init__(self, cursor: Any, stepper: Stepper, collection: str) -> None:
        self._cursor, self._stepper, self._collection = cursor, stepper, collection
        self._loaded = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._cursor, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            return self if result is self._cursor else result  # sort/skip/limit chain on the wrapper

        return call

    async def _step_once(self) -> None:
        if not self._loaded:
            self._loaded = True
            await self._stepper.step(self._collection, "find")

    async def to_list(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        await self._step_once()
        return await self._cursor.to_list(*args, **kwargs)

    def __aiter__(self) -> "SteppedCursor":
        return self

    async def __anext__(self) -> dict[str, Any]:
        await self._step_once()
        return await self._cursor.__anext__()

    next = __anext__

    async def close(self) -> None:
        await self._cursor.close()

    async def __aenter__(self) -> "SteppedCursor":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class SteppedCollection:
    def __init__(self, collection: Any, stepper: Stepper, database: "SteppedDatabase") -> None:
        self._collection, self._stepper, self._database = collection, stepper, database

    @property
    def database(self) -> "SteppedDatabase":
        return self._database

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if name in STEPPED_OPS:
            collection_name = self._collection.name

            @functools.wraps(attr)
            async def stepped(*args: Any, **kwargs: Any) -> Any:
                await self._stepper.step(collection_name, name)
                return await attr(*args, **kwargs)

            return stepped
        if name == "find":

            @functools.wraps(attr)
            def find(*args: Any, **kwargs: Any) -> SteppedCursor:
                return SteppedCursor(attr(*args, **kwargs), self._stepper, self._collection.name)

            return find
        if name == "with_options":

            @functools.wraps(attr)
            def with_options(*args: Any, **kwargs: Any) -> SteppedCollection:
                return SteppedCollection(attr(*args, **kwargs), self._stepper, self._database)

            return with_options
        return attr


def _is_collection(value: Any) -> bool:
    from pymongo.asynchronous.collection import AsyncCollection

    from app.core.embedded import EmbeddedCollection

    return isinstance(value, AsyncCollection | EmbeddedCollection)


class SteppedDatabase:
    """Look-alike of the database: collections reached through it step before every awaited call."""

    def __init__(self, db: Any, stepper: Stepper) -> None:
        self._db, self._stepper = db, stepper

    @property
    def raw(self) -> Any:
        return self._db

    @property
    def steps(self) -> int:
        return self._stepper.count

    def get_collection(self, name: str, **kwargs: Any) -> SteppedCollection:
        return SteppedCollection(self._db.get_collection(name, **kwargs), self._stepper, self)

    def __getitem__(self, name: str) -> SteppedCollection:
        return SteppedCollection(self._db[name], self._stepper, self)

    async def command(self, *args: Any, **kwargs: Any) -> Any:
        await self._stepper.step("$cmd", "command")
        return await self._db.command(*args, **kwargs)

    def with_options(self, *args: Any, **kwargs: Any) -> "SteppedDatabase":
        return SteppedDatabase(self._db.with_options(*args, **kwargs), self._stepper)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._db, name)
        if _is_collection(attr):
            return SteppedCollection(attr, self._stepper, self)
        return attr


def stepped(db: Any, hook: Hook | None = None) -> SteppedDatabase:
    return SteppedDatabase(db, Stepper(hook))


# --- hooks ---------------------------------------------------------------------------------------------


def crash_at(k: int) -> Hook:
    """Crash before step k executes, and before every later step of the same flow."""

    async def hook(step: int, collection: str, operation: str) -> None:
        if step >= k:
            raise Crash(f"crash before step {k} ({collection}.{operation})")

    return hook


def interleave_at(k: int, competitor: Callable[[], Awaitable[Any]]) -> Hook:
    """Before step k executes, run `competitor` to completion (it uses the raw database)."""

    async def hook(step: int, collection: str, operation: str) -> None:
        if step == k:
            await competitor()

    return hook


# --- databases -----------------------------------------------------------------------------------------

_embedded_client: Any = None


def _shared_embedded_client() -> Any:
    """One embedded engine for the whole session (its worker thread is loop-independent); every
    schedule gets its own database in it, dropped afterwards."""
    global _embedded_client
    if _embedded_client is None:
        from app.core.embedded import EmbeddedAsyncClient

        _embedded_client = EmbeddedAsyncClient(tz_aware=True, inline=True)
    return _embedded_client


async def create_indexes(db: Any) -> None:
    """The repositories' indexes (the unique ones are what idempotency rests on)."""
    from app.core.migrations import migrate_indexes
    from app.repositories import REPOSITORIES

    await migrate_indexes(db, REPOSITORIES)


_spare_databases: list[Any] = []  # indexed, emptied embedded databases ready for the next schedule


@contextlib.asynccontextmanager
async def fresh_database(client: Any = None) -> AsyncIterator[Any]:
    """An indexed, empty database. On the embedded engine it is emptied and reused afterwards (building
    every repository's indexes costs more than a schedule); on a real server it is dropped."""
    if client is None or client is _shared_embedded_client():
        db = _spare_databases.pop() if _spare_databases else await _new_database(_shared_embedded_client())
        try:
            yield db
        finally:
            for name in await db.list_collection_names():
                await db[name].delete_many({})
            _spare_databases.append(db)
        return
    db = await _new_database(client)
    try:
        yield db
    finally:
        await client.drop_database(db.name)


async def _new_database(client: Any) -> Any:
    db = client[f"money_{uuid.uuid4().hex[:12]}"]
    await create_indexes(db)
    return db


@contextlib.asynccontextmanager
async def database_client() -> AsyncIterator[Any]:
    """The client schedules run on: the shared embedded engine, or MONGODB_TEST_URL's server."""
    if not MONGODB_TEST_URL:
        yield _shared_embedded_client()
        return
    from pymongo import AsyncMongoClient

    client = AsyncMongoClient(MONGODB_TEST_URL, tz_aware=True, serverSelectionTimeoutMS=5000)
    try:
        yield client
    finally:
        await client.close()


# --- AIOZ (only the stream end and the reconcile pass talk to it) ------------------------------------


_fakes: dict[int, tuple[Any, Any]] = {}  # the running loop's (FakeAioz, its client)


def _loop_fake() -> tuple[Any, Any]:
    import asyncio

    from app.aioz.fake.app import FakeAioz

    loop_id = id(asyncio.get_running_loop())
    if loop_id not in _fakes:
        _fakes.clear()
        fake = FakeAioz()
        _fakes[loop_id] = (fake, fake.client(auth="bearer"))
    return _fakes[loop_id]


def aioz_gateway(db: Any) -> Any:
    """A StreamingGateway on an in-process AIOZ fake shared by the running event loop."""
    from app.live_streams.streaming import StreamingGateway

    return StreamingGateway(db, _loop_fake()[1], ["360p", "720p", "1080p"])


def aioz_state() -> dict[str, Any]:
    """A copy of the AIOZ fake's keys and streamings (what a setup that starts a stream leaves there)."""
    return copy.deepcopy(vars(_loop_fake()[0].store))


def restore_aioz_state(state: dict[str, Any]) -> None:
    store = _loop_fake()[0].store
    vars(store).clear()
    vars(store).update(copy.deepcopy(state))


# --- the clock -----------------------------------------------------------------------------------------


_clock_users: tuple[tuple[int, Any], list[Any]] = ((0, None), [])


def _modules_using(utcnow_function: Any) -> list[Any]:
    """The `app.*` modules that imported `utcnow` (scanned again only when modules were imported)."""
    global _clock_users
    if _clock_users[0] != (len(sys.modules), utcnow_function):
        users = [
            module
            for name, module in list(sys.modules.items())
            if (name == "app" or name.startswith("app."))
            and getattr(module, "utcnow", None) is utcnow_function
        ]
        _clock_users = ((len(sys.modules), utcnow_function), users)
    return _clock_users[1]


@contextlib.contextmanager
def shifted_clock(at: datetime) -> Iterator[None]:
    """Make every `app.*` module's `utcnow()` start at `at` (time keeps running from there).

    Recovery passes compare stored times with "now" (stale thresholds); moving the clock lets them
    run as they would minutes or days after the crash, without sleeping.
    """
    from app.core import timeutils

    original = timeutils.utcnow
    offset = at - original()

    def later() -> datetime:
        return original() + offset

    patched = _modules_using(original)
    for module in patched:
        module.utcnow = later  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in patched:
            module.utcnow = original  # type: ignore[attr-defined]


# --- recovery ------------------------------------------------------------------------------------------

# Recovery after a crash runs "soon" (past every stale threshold: a pending funding or movement after
# 60 s, a pending rental after 1 min, a start claim after 2 min, once's PRUNE_AFTER 5 min); the second
# phase runs days later, when rental windows have closed and unstarted streams have expired, so the
# money of every flow has reached its final owner.
RECOVERY_PHASES: tuple[tuple[str, timedelta], ...] = (
    ("recovered", timedelta(minutes=10)),
    ("settled", timedelta(days=3)),
)
RECOVERY_PASSES = 1  # raise it if a pass leaves work that only a later pass at the same time picks up


async def recover(db: Any, after: timedelta = RECOVERY_PHASES[0][1]) -> datetime:
    """THE recovery entry point: what the background loops would do `after` the crash - each job as the
    app runs it (app/main.py's background_jobs: reconcile, reminders, settlement), one pass each under
    its lease through the lease wrapper (app/core/background.run_pass). Returns the time it ran at."""
    from app.core.background import HeldLease, run_pass
    from app.core.leases import LeaseRepository
    from app.live_streams.reconcile import LEASE as RECONCILE_LEASE
    from app.reminders.scheduler import LEASE as REMINDERS_LEASE
    from app.reminders.scheduler import ReminderScheduler
    from app.replays.settlement import LEASE as SETTLEMENT_LEASE
    from app.replays.settlement import RentalSettlement
    from tests.money.world import reconciler

    at = utcnow() + after
    raw = db.raw if isinstance(db, SteppedDatabase) else db
    # Leases are not money: taken on the unstepped database, at the server's own time ($$NOW); only the
    # jobs run at `at`.
    leases = LeaseRepository(raw)
    jobs = (
        (RECONCILE_LEASE, reconciler(db).run_once),
        (REMINDERS_LEASE, ReminderScheduler(db).run_once),
        (SETTLEMENT_LEASE, RentalSettlement(db).run_once),
    )
    with shifted_clock(at):
        for _ in range(RECOVERY_PASSES):
            for name, job in jobs:
                lease = HeldLease(leases, name, "money-harness", ttl=3600)
                assert await lease.acquire(), f"lease {name} held by someone else"
                try:
                    assert await run_pass(lease, job, now=lambda: at), f"lease {name} lost mid-pass"
                finally:
                    await lease.release()
    return at


# --- exploration ---------------------------------------------------------------------------------------

Setup = Callable[[Any], Awaitable[Any]]
Flow = Callable[[Any, Any], Awaitable[Any]]
Competitor = Callable[[Any, Any], Awaitable[Any]]
Check = Callable[[Any, Any], Awaitable[None]]

# Generated combinations (crash × competitor, competitor crashed, recovery crashed and run again) are
# sampled: at most this many schedules per kind and scenario, chosen by a random generator seeded with
# the scenario's name and the kind, so every run explores the same ones (MONEY_SAMPLE=0 turns them off,
# MONEY_SAMPLE=all runs the whole products).
SAMPLE = os.environ.get("MONEY_SAMPLE", "2")
# `make mutate`: stop a scenario at its first broken schedule (a killed mutant needs no more).
FAIL_FAST = os.environ.get("MONEY_FAIL_FAST") == "1"
# Crash points and points per competitor: at most this many of each per scenario besides the plain run,
# spread over the flow (one seeded point in each of POINTS equal stretches of its steps, the competitor's
# "right after the flow" always included; `stratified`) and printed. `make test` runs 10 (its time budget,
# issue 25); MONEY_POINTS=all (`make test-money-full`) runs every point; `make mutate` runs 3. A scenario's
# own `points` (the HTTP ones) caps it further.
_POINTS = os.environ.get("MONEY_POINTS") or "10"
POINTS = None if _POINTS == "all" else int(_POINTS)


@dataclass
class Scenario:
    name: str
    setup: Setup
    flow: Flow
    competitors: dict[str, Competitor] = field(default_factory=dict)
    check: Check | None = None  # default: invariants.check_all
    recover: Callable[[Any, Any, timedelta], Awaitable[None]] | None = None  # default: recover(db)
    crashes: bool = True
    # Run setup once and copy its documents (and the AIOZ fake's state, e.g. the streaming a started
    # stream holds) into each schedule (much faster than running it again). Turn it off when setup puts
    # state anywhere else.
    reuse_setup: bool = True
    # Liveness: the plain run (no crash, no competitor) must answer `expect` ("ok" or the AppError class
    # name) and leave these balances (role -> credits, written from the rules) once settled.
    expect: str = "ok"
    balances: dict[str, int] | None = None
    combinations: bool = True  # sample crash × competitor, crashed competitors, crashed recovery
    # Sample the crash points and each competitor's points too (deterministically, this many of each):
    # for scenarios whose schedules are expensive (through the ASGI app).
    points: int | None = None
    # Liveness of the answer: problems with the plain run's answer (e.g. the documented fields).
    answer: Callable[[Any, Any], list[str]] | None = None
    # Checked right after the flow and its competitor, before any recovery: what a request must have
    # finished itself (recovery would hide a request that leaves its own compensation to it).
    after_flow: Check | None = None
    # Check the credit history (its rows and running balances) in every schedule: right after the flow
    # (a movement applied but not final yet is not shown, nor counted in the newest balance) and after
    # each recovery phase - not only in the plain run.
    history: bool = False


@dataclass
class Outcome:
    """What happened to the flow and the competitor in one schedule (for scenario checks)."""

    flow: str = "not run"  # "ok", "crashed", or the AppError class name
    flow_result: Any = None
    flow_error: BaseException | None = None
    competitor_name: str | None = None
    competitor: str = "not run"  # "ok", "crashed" or the AppError class name
    competitor_result: Any = None
    competitor_error: BaseException | None = None


@dataclass
class Report:
    scenario: str
    steps: int = 0
    trace: list[tuple[int, str, str]] = field(default_factory=list)
    schedules: dict[str, int] = field(default_factory=dict)  # kind ("crash", "×cancel") -> count
    sampled: dict[str, tuple[int, int, list[str]]] = field(default_factory=dict)  # kind -> (ran, of, which)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.schedules.values())

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {n}" for kind, n in self.schedules.items())
        verdict = "ok" if not self.failures else f"{len(self.failures)} FAILED"
        line = (
            f"{self.scenario:<34} {self.total:>4} schedules ({kinds}); {self.steps} steps alone; "
            f"{self.seconds:.1f}s; {verdict}"
        )
        for kind, (ran, of, which) in self.sampled.items():
            line += f"\n    sampled {kind}: {ran} of {of}: {' '.join(which)}"
        return line


def test_id(scenario: Scenario) -> str:
    """An ASCII pytest id: pytest escapes other characters in node ids, and `mutmut run` passes node
    ids back to pytest, which then finds no such test."""
    return scenario.name.replace("×", "x").replace("→", "->").encode("ascii", "replace").decode()


test_id.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever its name

REPORTS: list[Report] = []  # read by tests/money/conftest.py's terminal summary


@contextlib.contextmanager
def exploring() -> Iterator[None]:
    """Turn off in-process serialisation of decisions (app/core/once.py) so every ordering is reachable
    (a flow paused inside the lock would otherwise deadlock a competitor that needs it)."""
    before = once.SERIALISE_IN_PROCESS
    once.SERIALISE_IN_PROCESS = False
    try:
        yield
    finally:
        once.SERIALISE_IN_PROCESS = before


async def dump(db: Any) -> dict[str, list[dict[str, Any]]]:
    return {name: await db[name].find({}).to_list() for name in await db.list_collection_names()}


async def restore(db: Any, documents: dict[str, list[dict[str, Any]]]) -> None:
    # No copy needed: every document carries its `_id` (insert_many adds nothing to it) and both engines
    # store their own copy (BSON on a server, a rebuilt dict in the embedded engine).
    for name, docs in documents.items():
        if docs:
            await db[name].insert_many(docs)


class Prepared:
    """A scenario's setup, run once on a template database and copied into each schedule's database
    (or run again for each schedule when the scenario says `reuse_setup=False`)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.documents: dict[str, list[dict[str, Any]]] | None = None
        self.aioz: dict[str, Any] = {}
        self.ctx: Any = None
        # The money right after setup: the same for every schedule, as their documents are the same.
        self.baseline: Any = None
        self.rules: Any = None

    async def prepare(self, client: Any) -> None:
        if self.scenario.reuse_setup:
            async with fresh_database(client) as template:
                self.ctx = await self.scenario.setup(template)
                self.documents = await dump(template)
                self.aioz = aioz_state()
                self.baseline, self.rules = await baselines(template)

    async def __call__(self, db: Any) -> Any:
        if self.documents is None:
            return await self.scenario.setup(db)
        await restore(db, self.documents)
        restore_aioz_state(self.aioz)
        return copy.deepcopy(self.ctx)


async def baselines(db: Any) -> tuple[Any, Any]:
    """(money for conservation, per-user rule baselines for the oracle) of a database right now."""
    from tests.money import invariants, oracle

    world = await invariants.load(db)
    return invariants.money(world), oracle.rule_baselines(world, utcnow())


async def _run_flow(scenario: Scenario, db: Any, ctx: Any, hook: Hook | None, outcome: Outcome) -> None:
    try:
        outcome.flow_result = await scenario.flow(stepped(db, hook), ctx)
        outcome.flow = "ok"
    except Crash as exc:
        outcome.flow, outcome.flow_error = "crashed", exc
    except AppError as exc:  # Conflict, NotFound, InsufficientCredits...: legitimate answers
        outcome.flow, outcome.flow_error = type(exc).__name__, exc


async def _run_competitor(
    competitor: Competitor, db: Any, ctx: Any, outcome: Outcome, crash: int | None = None
) -> None:
    try:
        target = db if crash is None else stepped(db, crash_at(crash))
        outcome.competitor_result = await competitor(target, ctx)
        outcome.competitor = "ok"
    except Crash as exc:
        outcome.competitor, outcome.competitor_error = "crashed", exc
    except AppError as exc:
        outcome.competitor, outcome.competitor_error = type(exc).__name__, exc


def _set_outcome(ctx: Any, outcome: Outcome) -> None:
    with contextlib.suppress(AttributeError, TypeError):
        ctx.outcome = outcome


def _both(first: Hook, second: Hook) -> Hook:
    async def hook(step: int, collection: str, operation: str) -> None:
        await first(step, collection, operation)
        await second(step, collection, operation)

    return hook


def label_of(
    crash: int | None,
    competitor: str | None,
    at: int | None,
    competitor_crash: int | None,
    recovery_crash: int | None,
) -> str:
    parts = []
    if competitor is not None:
        crashed = f" (itself crashed before its step {competitor_crash})" if competitor_crash else ""
        parts.append(f"{competitor}{crashed} before step {at}")
    if crash is not None:
        parts.append(f"crash before step {crash}")
    if recovery_crash is not None:
        parts.append(f"recovery crashed before its step {recovery_crash} and run again")
    return ", ".join(parts) or "plain run"


async def liveness(scenario: Scenario, db: Any, ctx: Any, outcome: Outcome) -> None:
    """The plain run answers what the scenario expects, leaves the balances the rules give and a
    history that shows what moved."""
    problems = []
    if outcome.flow != scenario.expect:
        problems.append(
            f"liveness: the plain run answered {outcome.flow} ({outcome.flow_error}), expected {scenario.expect}"
        )
    from tests.money import invariants, oracle

    problems += await oracle.history_problems(db, await invariants.load(db))
    if scenario.answer is not None and outcome.flow == "ok":
        problems += [f"liveness: {p}" for p in scenario.answer(outcome.flow_result, ctx)]
    for role, credits in (scenario.balances or {}).items():
        user = await db["users"].find_one({"_id": ctx.id(role)})
        if user["credits"] != credits:
            problems.append(f"liveness: {role} has {user['credits']} credits, the rules give {credits}")
    assert not problems, "; ".join(problems)


async def run_schedule(
    scenario: Scenario,
    client: Any,
    *,
    crash: int | None = None,
    competitor: str | None = None,
    at: int | None = None,
    competitor_crash: int | None = None,
    recovery_crash: int | None = None,
    phases: tuple[tuple[str, timedelta], ...] = RECOVERY_PHASES,
    setup: Callable[[Any], Awaitable[Any]] | None = None,
    counter: Stepper | None = None,
) -> tuple[str | None, Outcome]:
    """One schedule on a fresh database; returns (failure text or None, outcome).

    `crash`: the flow dies before its step `crash`; `competitor` runs before the flow's step `at` (itself
    dying before its own step `competitor_crash` if given); `recovery_crash`: the first recovery pass
    dies before its step `recovery_crash` and is run again. `counter` counts the first recovery's steps.
    """
    from tests.money import invariants, oracle

    outcome = Outcome(competitor_name=competitor)
    label = label_of(crash, competitor, at, competitor_crash, recovery_crash)
    async with fresh_database(client) as db:
        ctx = await (setup or scenario.setup)(db)
        _set_outcome(ctx, outcome)
        if isinstance(setup, Prepared) and setup.baseline is not None:
            baseline, rules = setup.baseline, setup.rules
        else:
            baseline, rules = await baselines(db)
        try:
            hook: Hook | None = None
            if competitor is not None:
                assert at is not None
                run = functools.partial(
                    _run_competitor, scenario.competitors[competitor], db, ctx, outcome, competitor_crash
                )
                hook = interleave_at(at, run)
            if crash is not None:
                hook = crash_at(crash) if hook is None else _both(hook, crash_at(crash))
            await _run_flow(scenario, db, ctx, hook, outcome)
            if competitor is not None and outcome.competitor == "not run":
                await _run_competitor(scenario.competitors[competitor], db, ctx, outcome, competitor_crash)
            try:
                if scenario.after_flow is not None:
                    await scenario.after_flow(db, ctx)
                if scenario.history:
                    world = await invariants.load(db)
                    invariants.assert_none(await oracle.history_problems(db, world, baseline.ledger_baseline))
            except AssertionError as exc:
                return (
                    f"{label} [flow: {outcome.flow}, competitor: {outcome.competitor}], "
                    f"right after the flow: {exc}",
                    outcome,
                )
            for index, (phase, delay) in enumerate(phases):
                if index == 0 and (recovery_crash is not None or counter is not None):
                    probe = SteppedDatabase(db, counter or Stepper(crash_at(recovery_crash or 0)))
                    with contextlib.suppress(Crash):
                        await recover(probe, delay)
                    # The loop's next pass comes an interval later: past the stale thresholds again
                    # for what the crashed pass left half-done.
                    delay *= 2
                if scenario.recover is not None:
                    await scenario.recover(db, ctx, delay)
                    now = utcnow() + delay
                else:
                    now = await recover(db, delay)
                try:
                    if scenario.check is not None:
                        await scenario.check(db, ctx)
                    world = await invariants.load(db)
                    if scenario.check is None:
                        invariants.assert_none(invariants.violations(world))
                    invariants.assert_none(invariants.conservation_problems(world, baseline))
                    invariants.assert_none(oracle.problems(world, rules, now))
                    if scenario.history:
                        invariants.assert_none(await oracle.history_problems(db, world))
                    if label == "plain run" and index == len(phases) - 1:
                        await liveness(scenario, db, ctx, outcome)
                except AssertionError as exc:
                    return (
                        f"{label} [flow: {outcome.flow}, competitor: {outcome.competitor}], {phase}: {exc}",
                        outcome,
                    )
        except Exception:  # a bug that is not an invariant: report it with its traceback
            return f"{label}: unexpected error\n{traceback.format_exc(limit=-6)}", outcome
    return None, outcome


async def count_steps(
    scenario: Scenario,
    client: Any,
    setup: Callable[[Any], Awaitable[Any]] | None = None,
    competitor: str | None = None,
) -> list[tuple[int, str, str]]:
    """The numbered steps of the flow (or of one competitor) run alone, on a fresh database."""
    async with fresh_database(client) as db:
        ctx = await (setup or scenario.setup)(db)
        _set_outcome(ctx, Outcome())
        stepper = Stepper()
        db_stepped = SteppedDatabase(db, stepper)
        operation = scenario.flow if competitor is None else scenario.competitors[competitor]
        with contextlib.suppress(AppError):
            await operation(db_stepped, ctx)
        return stepper.trace


def sample(
    scenario: Scenario,
    kind: str,
    space: list[dict[str, Any]],
    report: Report,
    size: int | None = None,
    *,
    stratified: bool = False,
) -> list[dict[str, Any]]:
    """A deterministic sample of `space` (seeded by scenario and kind), recorded in the report.

    `stratified` (an ordered space: the points of a flow): the last point, and one point from each of
    `size - 1` equal stretches of the rest, so a sample covers the start, the middle and the end of a
    flow rather than whatever a plain draw happens to cluster on."""
    import random

    size = int(SAMPLE) if size is None and SAMPLE != "all" else size
    draw = random.Random(f"{scenario.name}|{kind}")
    if size is None or len(space) <= size:
        chosen = space
    elif stratified and size >= 2:
        rest = len(space) - 1
        bounds = [rest * i // (size - 1) for i in range(size)]
        chosen = [space[draw.randrange(lo, hi)] for lo, hi in itertools.pairwise(bounds)] + [space[-1]]
    else:
        chosen = sorted(draw.sample(space, size), key=lambda s: tuple(s.values()))
    if len(chosen) < len(space):
        names = {"crash": "c", "at": "@", "competitor_crash": "cc", "recovery_crash": "rc", "competitor": ""}
        which = ["/".join(f"{names[k]}{v}" for k, v in s.items()) for s in chosen]
        report.sampled[kind] = (len(chosen), len(space), which)
    return chosen


async def plan_of(
    scenario: Scenario, client: Any, setup: Prepared, report: Report
) -> list[tuple[str, dict[str, Any]]]:
    n = report.steps
    plan: list[tuple[str, dict[str, Any]]] = []

    size = min(p for p in (scenario.points, POINTS) if p is not None) if (scenario.points or POINTS) else None

    def points(kind: str, space: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return space if size is None else sample(scenario, kind, space, report, size, stratified=True)

    if scenario.crashes:
        plan.append(("crash", {}))  # k = N+1: the plain run (liveness), recovery still runs
        plan += [("crash", s) for s in points("crash", [{"crash": k} for k in range(1, n + 1)])]
    for name in scenario.competitors:
        space = [{"competitor": name, "at": k} for k in range(1, n + 2)]
        plan += [(f"×{name}", s) for s in points(f"×{name}", space)]
    if not scenario.crashes:
        plan.insert(0, ("plain", {}))
    if not scenario.combinations or SAMPLE == "0":
        return plan
    if scenario.crashes:
        for name in scenario.competitors:
            space = [
                {"competitor": name, "at": j, "crash": k}
                for k in range(1, n + 1)
                for j in range(1, n + 2)
                if j != k
            ]
            plan += [(f"crash×{name}", s) for s in sample(scenario, f"crash×{name}", space, report)]
    for name in scenario.competitors:
        m = len(await count_steps(scenario, client, setup, competitor=name))
        space = [
            {"competitor": name, "at": j, "competitor_crash": c}
            for j in range(1, n + 2)
            for c in range(1, m + 1)
        ]
        plan += [(f"crashed {name}", s) for s in sample(scenario, f"crashed {name}", space, report)]
    if scenario.crashes and scenario.recover is None and n:
        # The recovery's steps, counted once after a crash half-way (a pass that ends before the
        # chosen step is not crashed: that schedule is a plain crash-and-recover).
        counter = Stepper()
        await run_schedule(scenario, client, setup=setup, crash=(n + 1) // 2, counter=counter)
        space = [
            {"crash": k, "recovery_crash": r} for k in range(1, n + 1) for r in range(1, counter.count + 1)
        ]
        plan += [("recovery crashed", s) for s in sample(scenario, "recovery crashed", space, report)]
    return plan


async def explore(scenario: Scenario, *, record: bool = True) -> Report:
    """Every crash point and every (competitor, point) of one scenario, and a deterministic sample of
    the generated combinations; returns the report."""
    report = Report(scenario.name)
    started = time.perf_counter()
    with exploring():
        async with database_client() as client:
            setup = Prepared(scenario)
            await setup.prepare(client)
            report.trace = await count_steps(scenario, client, setup)
            report.steps = len(report.trace)
            for kind, schedule in await plan_of(scenario, client, setup, report):
                failure, _ = await run_schedule(scenario, client, setup=setup, **schedule)
                report.schedules[kind] = report.schedules.get(kind, 0) + 1
                if failure:
                    report.failures.append(failure)
                    if FAIL_FAST:
                        break
    report.seconds = time.perf_counter() - started
    if record:
        REPORTS.append(report)
    return report


def step_names(report: Report) -> str:
    return "\n".join(f"  {n:>3} {collection}.{op}" for n, collection, op in report.trace)


def assert_explored(report: Report, show: int = 6) -> None:
    if not report.failures:
        return
    shown = "\n- ".join(report.failures[:show])
    more = len(report.failures) - show
    raise AssertionError(
        f"{report.scenario}: {len(report.failures)} of {report.total} schedules broke the invariants:\n- "
        f"{shown}"
        + (f"\n… and {more} more" if more > 0 else "")
        + f"\nsteps of the flow:\n{step_names(report)}"
    )
