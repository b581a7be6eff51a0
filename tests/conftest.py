"""Shared fixtures: one app per test process, a fresh database (and AIOZ fake) per test, over HTTP.

Building an app's routes costs far more than a test, so each process (each xdist worker) builds the app
for the default settings once. Every test still starts clean: the `app` fixture enters the app's
lifespan per test, which creates a new database client (a new in-memory engine, or with
`MONGODB_TEST_URL` a database dropped after the test) and a new AIOZ fake, and it restores the app's
state, dependency overrides and media directory. A test (or class/module) that overrides `settings`
gets an app of its own built from them.
"""

import asyncio
import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir

from app.core.config import Settings
from app.core.logging import configure_logging
from app.main import create_app

# the money harness summary (xdist controller included); mongod 7.0 rule checks on every engine call; a
# whole-suite run's time for `make bench` (var/test-run.json)
pytest_plugins = ["tests.money.report", "tests.mongo_rules.plugin", "tests.run_record"]

MONGODB_TEST_URL = os.environ.get("MONGODB_TEST_URL")

UserFactory = Callable[..., Awaitable[tuple[dict[str, Any], str]]]

# Nothing a test does writes into the repository: uploads go to a directory of this process, removed at
# exit, and Hypothesis (schemathesis) keeps no example database and puts its caches in the user's cache
# directory, not `.hypothesis/`: its table of the characters UTF-8 encodes takes ~4 s per process to
# build, so it is built once per machine (written atomically, so concurrent workers are safe).
_PROCESS_TMP = Path(tempfile.mkdtemp(prefix="allmine-tests-"))
atexit.register(shutil.rmtree, _PROCESS_TMP, True)
_USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
set_hypothesis_home_dir(str(_USER_CACHE / "allmine-live-tests" / "hypothesis"))
hypothesis_settings.register_profile("allmine-tests", database=None)
hypothesis_settings.load_profile("allmine-tests")


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_env": "test",
        "mongodb_url": MONGODB_TEST_URL,
        "mongodb_db": f"test_{uuid.uuid4().hex[:12]}",
        "seed_demo": False,
        "embedded_engine_thread": False,  # no thread hop per engine call (see app.core.embedded)
        "background_tasks": False,
        "log_level": "WARNING",
        "ranking_max_age_seconds": 0,
        "media_dir": str(_PROCESS_TMP / f"media-{uuid.uuid4().hex[:8]}"),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


class _SharedApp:
    """The process's app for the default settings, and the state it had right after `create_app`."""

    def __init__(self) -> None:
        self.settings = make_settings()
        self.app = create_app(self.settings)
        self.state = dict(self.app.state._state)

    def reset(self) -> None:
        """Back to the state `create_app` left: per-test values gone, loop-bound locks new."""
        fresh = {k: asyncio.Lock() if isinstance(v, asyncio.Lock) else v for k, v in self.state.items()}
        self.app.state._state.clear()
        self.app.state._state.update(fresh)
        self.app.dependency_overrides.clear()
        media = Path(self.settings.media_dir)
        if not media.is_dir() or any(media.iterdir()):  # an empty one is left as is (rmdir is slow here)
            shutil.rmtree(media, ignore_errors=True)
            media.mkdir(parents=True)
        self.restore_logging()

    def restore_logging(self) -> None:
        """`create_app` configures the process's logging; an app built by a test may have changed it."""
        json_logs = self.settings.is_production if self.settings.log_json is None else self.settings.log_json
        configure_logging(self.settings.log_level, json=json_logs)


_shared: _SharedApp | None = None


def shared_app() -> _SharedApp:
    global _shared
    if _shared is None:
        _shared = _SharedApp()
    return _shared


@pytest.fixture
def settings() -> Settings:
    """The default test settings; override this fixture to get an app built from other settings."""
    return shared_app().settings


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    shared = shared_app()
    own = settings is not shared.settings
    if own:
        application = create_app(settings)
    else:
        application = shared.app
        shared.reset()
    try:
        async with application.router.lifespan_context(application):
            try:
                if MONGODB_TEST_URL:
                    await _prepared(application)
                yield application
            finally:
                if MONGODB_TEST_URL:
                    await application.state.mongo_client.drop_database(settings.mongodb_db)
    finally:
        if own:
            shared.restore_logging()
        else:
            shared.reset()


async def _prepared(application: FastAPI, within: float = 60.0) -> None:
    """On a real server start-up waits for the index migration a few seconds at most, then serves while
    it goes on (app.main); every test here assumes a prepared database (unique indexes in place), so it
    starts once the migration of its fresh database has finished."""
    preparation = getattr(application.state, "database_preparation", None)
    deadline = asyncio.get_running_loop().time() + within
    while preparation is not None and not preparation.ready:
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"the test database was not prepared within {within} s")
        await asyncio.sleep(0.02)


@pytest.fixture
def db(app: FastAPI) -> Any:
    return app.state.db


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
def make_user(client: httpx.AsyncClient) -> UserFactory:
    """Create a user through the dev endpoint; returns (user, access token)."""

    async def factory(username: str | None = None, **fields: Any) -> tuple[dict[str, Any], str]:
        body = {"username": username or f"u{uuid.uuid4().hex[:10]}", **fields}
        response = await client.post("/api/v1/dev/users", json=body)
        assert response.status_code == 201, response.text
        data = response.json()["data"]
        return data["user"], data["accessToken"]

    return factory


# Modules with the suite's longest tests (seconds each: real browsers, app subprocesses, the money
# harness), run first. xdist's worksteal splits the list into one contiguous run per worker and an idle
# worker takes the far end of another's queue, so with the long tests first the run ends on short ones
# instead of one worker finishing a 10 s test while the other waits. Order only: every test still runs.
LONG_FIRST = (
    "tests/browser/",
    "tests/realtime/test_asyncapi.py",
    "tests/realtime/test_redis_fanout.py",
    "tests/money/test_money_harness.py",
    "tests/money/test_rules_harness.py",
    "tests/test_cli.py",
    "tests/test_core_config.py",
    "tests/test_engine_growth.py",
    "tests/reliability/test_concurrency.py",
    "tests/test_bench_floor.py",
    "tests/test_openapi_client.py",
    "tests/test_embedded_index.py",
    "tests/realtime/test_ban_join_race.py",
    "tests/realtime/test_js_client.py",
)


def _long_first_rank(item: pytest.Item) -> int:
    return next(
        (rank for rank, prefix in enumerate(LONG_FIRST) if item.nodeid.startswith(prefix)), len(LONG_FIRST)
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_long_first_rank)  # stable: each module keeps its order (and its module fixtures)
