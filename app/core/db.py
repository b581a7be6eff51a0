"""MongoDB client lifecycle: a real server when `MONGODB_URL` is set, the embedded engine otherwise.

Also the database's availability as the app sees it: a bounded `ping` for `/ready`, and `outages`,
which logs an outage once (not once per failing request or pass) and its end.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Annotated, Any, cast

import pymongo
import structlog
from fastapi import Depends, Request
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from app.core.config import Settings
from app.core.embedded import EmbeddedAsyncClient
from app.core.errors import database_unavailable

log = structlog.get_logger("app.db")

# Repositories are typed against PyMongo's async API. With `MONGODB_URL` unset they get the embedded
# look-alike (app.core.embedded), which mirrors that API without subclassing it: `create_client` is the
# one place that says so (tests/test_embedded.py holds the adapter to PyMongo's behaviour).
Document = dict[str, Any]
Client = AsyncMongoClient[Document]
Database = AsyncDatabase[Document]
Collection = AsyncCollection[Document]

PING_TIMEOUT_SECONDS = 1.0


def create_client(settings: Settings) -> Client:
    """The one client of the process; no I/O here (PyMongo connects in the background)."""
    if settings.mongodb_url is None:
        log.info("database_engine", engine="embedded", note="in-memory; data is lost on restart")
        return cast(Client, EmbeddedAsyncClient(tz_aware=True, inline=not settings.embedded_engine_thread))
    log.info("database_engine", engine="mongodb", timeout_ms=settings.mongodb_timeout_ms)
    return AsyncMongoClient(
        settings.mongodb_url.get_secret_value(),
        tz_aware=True,
        appname="allmine-live",
        # One budget per operation (server selection, connection, retries, w:majority waits): a hung
        # socket, an unreachable server or a missing majority ends in a timeout error (503) instead of a
        # request waiting forever. Under timeoutMS, serverSelectionTimeoutMS no longer applies.
        timeoutMS=settings.mongodb_timeout_ms,
    )


class OutageLog:
    """Log a database outage once when it starts, then at most every `remind_every` seconds, and its end.

    `failed` is called for every failure a request or a background pass meets; `recovered` by whatever
    sees the database answer again (a successful readiness ping, background pass or index migration).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, remind_every: float = 60.0) -> None:
        self.clock, self.remind_every = clock, remind_every
        self.down_since: float | None = None
        self._last_logged = 0.0
        self._suppressed = 0

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    def failed(self, exc: BaseException, where: str) -> None:
        now = self.clock()
        reason = f"{type(exc).__name__}: {str(exc)[:300]}"
        if self.down_since is None:
            self.down_since = self._last_logged = now
            self._suppressed = 0
            log.error("database_unavailable", where=where, error=reason)
        elif now - self._last_logged >= self.remind_every:
            log.warning(
                "database_still_unavailable",
                seconds=round(now - self.down_since, 1),
                failures_since_last_log=self._suppressed + 1,
                where=where,
                error=reason,
            )
            self._last_logged, self._suppressed = now, 0
        else:
            self._suppressed += 1

    def recovered(self) -> None:
        if self.down_since is not None:
            log.info("database_available_again", outage_seconds=round(self.clock() - self.down_since, 1))
            self.down_since = None


outages = OutageLog()


def note_failure(exc: BaseException, where: str) -> bool:
    """Record `exc` in the outage log when it means "database unavailable"; True if it did."""
    if database_unavailable(exc) is None:
        return False
    outages.failed(exc, where)
    return True


async def ping(db: Database, within: float = PING_TIMEOUT_SECONDS) -> bool:
    """True when the database answers a ping within `within` seconds."""
    try:
        async with asyncio.timeout(within + 0.5):  # the driver's own bound below normally ends it first
            with pymongo.timeout(within):
                await db.command("ping")
    except Exception as exc:  # any failure means "not ready"
        outages.failed(exc, "ping")
        return False
    outages.recovered()
    return True


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


Db = Annotated[Database, Depends(get_db)]
