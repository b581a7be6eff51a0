"""Database outages (issue 12 items 1-4): the process stays up, /ready says 503, requests answer the 503
envelope within the budget, driver errors meaning "unavailable" map to 503 and are logged once.

Nothing here needs a server: `mongodb://127.0.0.1:1` refuses connections at once, and fakes raise the
driver errors the embedded engine cannot produce.
"""

import asyncio
from typing import Any

import httpx
import pytest
from bson import ObjectId
from fastapi import Depends, FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.topology import Topology as AsyncTopology
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
    WTimeoutError,
)
from starlette.types import Receive, Scope, Send

from app import main as app_main
from app.core import db as core_db
from app.core import migrations
from app.core.background import RELEASE_TIMEOUT_SECONDS
from app.core.db import OutageLog, create_client, ping
from app.core.envelope import install_error_handlers
from app.core.errors import TOO_SLOW, UNREACHABLE, WRITE_UNCONFIRMED, database_unavailable
from app.core.middleware import EdgeMiddleware
from app.core.migrations import DatabasePreparation
from app.core.security import create_access_token
from app.main import create_app
from tests.conftest import make_settings

UNREACHABLE_URL = "mongodb://127.0.0.1:1"
BUDGET_MS = 300


class RecordingLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __getattr__(self, level: str) -> Any:
        return lambda event, **_: self.events.append((level, event))


@pytest.fixture
def outage_log(monkeypatch: pytest.MonkeyPatch) -> RecordingLog:
    recording = RecordingLog()
    monkeypatch.setattr(core_db, "log", recording)
    monkeypatch.setattr(core_db, "outages", fresh := OutageLog())
    import app.core.envelope as envelope

    monkeypatch.setattr(envelope, "outages", fresh)
    monkeypatch.setattr(migrations, "outages", fresh)
    return recording


# --- settings and client -----------------------------------------------------------------------------


def test_timeout_setting_becomes_the_clients_operation_budget():
    settings = make_settings(mongodb_url=UNREACHABLE_URL, mongodb_timeout_ms=1234)
    client = create_client(settings)  # connects lazily: no server needed
    assert isinstance(client, AsyncMongoClient)
    assert client.options.timeout == pytest.approx(1.234)


def test_timeout_default_and_environment(monkeypatch: pytest.MonkeyPatch):
    assert make_settings().mongodb_timeout_ms == 8000
    monkeypatch.setenv("MONGODB_TIMEOUT_MS", "2500")
    from app.core.config import Settings

    assert Settings(_env_file=None).mongodb_timeout_ms == 2500


# --- the black-box check, in process -----------------------------------------------------------------


# No wall-clock bounds below (docs: speed goals live in bench/): what keeps start-up and requests short
# while the database is down is that every server selection the driver makes is given the budget (or
# the ping's 1 s) as its timeout, observed at the driver, and that start-up waits for one attempt at
# most. HANG_GUARD only turns a hang (the failure these guard against never ends) into a failure: it is
# far above the slowest start-up seen on a loaded machine (10 s) and never reached by a passing run.
HANG_GUARD_SECONDS = 120


@pytest.fixture
def selection_timeouts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    """(operation, timeout) of every server selection the driver makes: how long it may wait for a
    server (PyMongo's default, without a budget, is 30 s)."""
    seen: list[tuple[str, float]] = []
    original = AsyncTopology._select_servers_loop

    async def recorded(self: Any, selector: Any, *args: Any, **kw: Any) -> Any:
        timeout, operation = (
            args[0],
            args[1],
        )  # (selector, timeout, operation, ...) as select_servers calls it
        seen.append((str(getattr(operation, "value", operation)), timeout))
        return await original(self, selector, *args, **kw)

    monkeypatch.setattr(AsyncTopology, "_select_servers_loop", recorded)
    return seen


@pytest.fixture
async def down_app(tmp_path: Any, outage_log: RecordingLog, selection_timeouts: list[Any]) -> Any:
    settings = make_settings(
        mongodb_url=UNREACHABLE_URL,
        mongodb_timeout_ms=BUDGET_MS,
        app_env="development",
        seed_demo=True,  # wanted in development: must wait for the database, not crash start-up
        background_tasks=True,
        reconcile_interval_seconds=0.05,
        media_dir=str(tmp_path / "media"),
    )
    application = create_app(settings)
    lifespan = application.router.lifespan_context(application)
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        await lifespan.__aenter__()
    preparation = application.state.database_preparation
    application.state.test_startup = {"ready": preparation.ready, "selections": list(selection_timeouts)}
    try:
        yield application
    finally:
        await lifespan.__aexit__(None, None, None)


async def test_database_down_at_start_the_app_serves_health_and_answers_503(
    down_app, outage_log, selection_timeouts
):
    budget = BUDGET_MS / 1000
    startup = down_app.state.test_startup
    # Served while the database is still unreachable; every server selection start-up made (its
    # first, failed attempt) was allowed the budget, not the driver's 30 s default.
    assert startup["ready"] is False
    assert startup["selections"] and all(timeout <= budget for _, timeout in startup["selections"])
    transport = httpx.ASGITransport(app=down_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        health = await http.get("/health")
        assert health.status_code == 200

        selection_timeouts.clear()
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            ready = await http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["errors"] == ["Service unavailable", "database is not reachable"]
        pings = [timeout for operation, timeout in selection_timeouts if operation == "ping"]
        assert pings and all(timeout <= core_db.PING_TIMEOUT_SECONDS for timeout in pings)

        token = create_access_token(down_app.state.settings, ObjectId())
        for _ in range(3):
            selection_timeouts.clear()
            async with asyncio.timeout(HANG_GUARD_SECONDS):
                answer = await http.get(
                    "/api/v1/users/me/transactions", headers={"Authorization": f"Bearer {token}"}
                )
            body = answer.json()
            assert answer.status_code == 503, body
            assert body["isSuccess"] is False and body["statusCode"] == 503 and body["data"] is None
            assert body["errors"] == ["Service unavailable", UNREACHABLE]
            assert answer.headers["Retry-After"] == "5"
            assert answer.headers["X-Request-ID"]
            # the request's reads (and the loops' passes meanwhile) waited for a server within the budget
            assert selection_timeouts and all(timeout <= budget for _, timeout in selection_timeouts)
        await asyncio.sleep(0.2)  # background loops keep failing meanwhile
    assert not down_app.state.database_preparation.ready
    # One outage, one log line: not one per request, ping, background pass or start-up retry.
    assert [event for _, event in outage_log.events].count("database_unavailable") == 1


async def test_start_up_waits_for_at_most_one_attempt_of_the_preparation(tmp_path, outage_log, monkeypatch):
    """A database that never answers (a blackholed network: server selection that does not end) holds
    start-up for STARTUP_WAIT_SECONDS at most: the app serves while the first attempt still waits."""
    never = asyncio.Event()
    calls: list[bool] = []

    async def waiting_for_a_server(*_: Any, **__: Any) -> Any:
        calls.append(True)
        await never.wait()

    monkeypatch.setattr(migrations, "migrate_indexes", waiting_for_a_server)
    monkeypatch.setattr(app_main, "STARTUP_WAIT_SECONDS", 0.05)
    settings = make_settings(
        mongodb_url=UNREACHABLE_URL,
        mongodb_timeout_ms=BUDGET_MS,
        background_tasks=False,
        media_dir=str(tmp_path / "media"),
    )
    application = create_app(settings)
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        async with application.router.lifespan_context(application):
            preparation = application.state.database_preparation
            assert calls == [True] and not preparation.first_attempt.is_set() and not preparation.ready
            transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                assert (await http.get("/health")).status_code == 200


async def test_unavailable_database_stops_neither_the_loops_nor_a_prompt_shutdown(
    tmp_path, outage_log, selection_timeouts
):
    settings = make_settings(
        mongodb_url=UNREACHABLE_URL,
        mongodb_timeout_ms=BUDGET_MS,
        background_tasks=True,
        reconcile_interval_seconds=0.05,
        media_dir=str(tmp_path / "media"),
    )
    application = create_app(settings)
    lifespan = application.router.lifespan_context(application)
    await lifespan.__aenter__()
    await asyncio.sleep(BUDGET_MS / 1000 * 3)  # several failed passes of every loop
    tasks = application.state.background_tasks
    assert len(tasks) == 4 and not any(task.done() for task in tasks)  # preparation + 3 leased loops
    selection_timeouts.clear()
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        await lifespan.__aexit__(None, None, None)
    # Loops cancelled together all end (one by one, PyMongo 4.20 deadlocks: they would still be pending
    # after the shutdown wait), and a lease release waits for a server at most its own bound.
    assert all(task.done() for task in tasks)
    bound = max(BUDGET_MS / 1000, RELEASE_TIMEOUT_SECONDS)
    assert all(timeout <= bound for _, timeout in selection_timeouts)


# --- readiness ---------------------------------------------------------------------------------------


class HangingDb:
    async def command(self, *_: Any, **__: Any) -> dict:
        await asyncio.Event().wait()  # never answers
        return {"ok": 1}


async def test_ping_is_bounded_even_when_the_database_hangs(outage_log):
    async with asyncio.timeout(HANG_GUARD_SECONDS):  # an unbounded ping never returns at all
        assert await ping(HangingDb(), within=0.05) is False


async def test_ready_waits_for_the_index_migration(app, client):
    assert (await client.get("/ready")).status_code == 200
    app.state.database_preparation.ready = False
    answer = await client.get("/ready")
    assert answer.status_code == 503
    assert answer.json()["errors"][1] == "database indexes are being prepared"


async def test_preparation_retries_until_the_database_answers(db, monkeypatch, outage_log):
    real, failures = migrations.migrate_indexes, [ServerSelectionTimeoutError("down")] * 3
    seeded: list[bool] = []
    pauses: list[float] = []

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real(*args, **kwargs)

    async def no_sleep(seconds: float) -> None:
        pauses.append(seconds)

    async def seed() -> None:
        seeded.append(True)

    monkeypatch.setattr(migrations, "migrate_indexes", flaky)
    preparation = DatabasePreparation(db, [], after=[seed], sleep=no_sleep, max_backoff=3)
    await preparation.run()
    assert preparation.ready and preparation.attempts == 4 and seeded == [True]
    assert pauses == [1, 2, 3]
    events = [event for _, event in outage_log.events]
    assert events.count("database_unavailable") == 1 and events.count("database_available_again") == 1


# --- mapping driver errors ---------------------------------------------------------------------------

DRIVER_ERRORS = [
    (ServerSelectionTimeoutError("no primary"), UNREACHABLE),
    (ConnectionFailure("refused"), UNREACHABLE),
    (AutoReconnect("connection reset"), UNREACHABLE),
    (NotPrimaryError("not primary", {"code": 10107}), UNREACHABLE),
    (OperationFailure("shutting down", code=91), UNREACHABLE),
    (OperationFailure("interrupted", code=11602), UNREACHABLE),
    (OperationFailure("retryable", code=1, details={"errorLabels": ["RetryableWriteError"]}), UNREACHABLE),
    (NetworkTimeout("socket timed out"), TOO_SLOW),
    (WaitQueueTimeoutError("pool exhausted"), TOO_SLOW),
    (ExecutionTimeout("operation exceeded time limit", code=50), TOO_SLOW),
    (WTimeoutError("waiting for replication timed out", code=64), WRITE_UNCONFIRMED),
    (
        BulkWriteError({"writeErrors": [], "writeConcernErrors": [{"code": 64, "errmsg": "wtimeout"}]}),
        WRITE_UNCONFIRMED,
    ),
]


@pytest.mark.parametrize(("error", "message"), DRIVER_ERRORS, ids=lambda v: type(v).__name__)
def test_unavailability_errors_are_classified(error, message):
    mapped = database_unavailable(error)
    assert mapped is not None and mapped.status_code == 503 and mapped.messages[1] == message


@pytest.mark.parametrize(
    "error",
    [OperationFailure("bad $set", code=2), DuplicateKeyError("E11000", code=11000), ValueError("x")],
    ids=lambda v: type(v).__name__,
)
def test_other_errors_are_not_unavailability(error):
    assert database_unavailable(error) is None


def _raiser(error: BaseException) -> Any:
    async def dependency() -> None:
        raise error

    return dependency


def _app_raising(error: BaseException) -> FastAPI:
    """The app's error handling (one mapping, `app.core.envelope`) around routes that raise `error`."""
    application = FastAPI()
    install_error_handlers(application)
    application.add_middleware(EdgeMiddleware)

    async def in_route() -> None:
        raise error

    application.add_api_route("/route", in_route)
    application.add_api_route("/dependency", lambda: None, dependencies=[Depends(_raiser(error))])
    return application


async def _get(application: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get(path)


@pytest.mark.parametrize(("error", "message"), DRIVER_ERRORS, ids=lambda v: type(v).__name__)
async def test_route_and_dependency_errors_answer_the_503_envelope(error, message, outage_log):
    application = _app_raising(error)
    for path in ("/route", "/dependency"):
        answer = await _get(application, path)
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["errors"] == ["Service unavailable", message] and body["data"] is None
        assert answer.headers["Retry-After"] == "5"


async def test_other_driver_errors_stay_500(outage_log):
    answer = await _get(_app_raising(OperationFailure("unknown operator: $foo", code=2)), "/route")
    assert answer.status_code == 500
    assert answer.json()["errors"] == ["Internal server error"]
    assert outage_log.events == []


async def test_last_resort_middleware_maps_unavailability_too():
    async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
        raise ServerSelectionTimeoutError("no servers")

    transport = httpx.ASGITransport(app=EdgeMiddleware(raw_app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.get("/anything")
    assert answer.status_code == 503
    assert answer.json()["errors"] == ["Service unavailable", UNREACHABLE]


# --- logged once per outage --------------------------------------------------------------------------


def test_outage_log_logs_start_reminders_and_end_with_an_injected_clock(monkeypatch):
    recording = RecordingLog()
    monkeypatch.setattr(core_db, "log", recording)
    now = [100.0]
    outages = OutageLog(clock=lambda: now[0], remind_every=60)
    error = ServerSelectionTimeoutError("down")
    for _ in range(70):  # one failure a second for 70 s: the start, one reminder after 60 s
        outages.failed(error, "GET /x")
        now[0] += 1
    outages.recovered()
    outages.recovered()
    outages.failed(error, "GET /x")
    assert recording.events == [
        ("error", "database_unavailable"),
        ("warning", "database_still_unavailable"),
        ("info", "database_available_again"),
        ("error", "database_unavailable"),
    ]
