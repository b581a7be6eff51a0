"""Money's exactly-once rests on unique indexes: no money write before they exist and are ready.

A retried ledger movement, funding or rental is applied once because its second insert hits a unique
index (`idempotency`, `rental_unique`). Without it — a build that failed on existing duplicates, the
same name with other options, a build still running — the retry is applied twice. Repositories name
those indexes (`Repository.required_indexes`); `RequiredIndexes` lists the collections' indexes
(`listIndexes` shows an index only once its build is done) and compares them with the declarations.
While one is missing `/ready` answers 503 naming it and `refuse_money_writes_while_missing` answers
money writes 503 before they write anything. See docs/decisions.md, "Money waits for its indexes".
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any

import structlog
from fastapi import Depends, Request
from prometheus_client import Gauge

from app.core.db import Database
from app.core.errors import DatabaseUnavailable
from app.core.migrations import declared_indexes, same_index

log = structlog.get_logger("app.required_indexes")

REQUIRED_INDEX_READY = Gauge(
    "required_index_ready",
    "1 when a unique index money's exactly-once rests on exists as declared and is ready, else 0.",
    ("index",),
)
RECHECK_WHILE_MISSING_SECONDS = 5.0  # a request refused for a missing index looks again this often
RECHECK_WHILE_READY_SECONDS = 60.0  # /ready notices an index dropped later within this time


class RequiredIndexes:
    def __init__(
        self, db: Database, repositories: Iterable[type[Any]], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db, self.clock = db, clock
        declared = declared_indexes(repositories := list(repositories))
        self.wanted: dict[str, dict[str, Mapping[str, Any]]] = {}
        for repository in repositories:
            for name in repository.required_indexes:
                self.wanted.setdefault(repository.collection_name, {})[name] = declared[
                    repository.collection_name
                ][name]
        self.missing: list[str] = self.names()  # nothing is known to be ready before the first check
        self.checked_at: float | None = None
        self._lock = asyncio.Lock()

    def names(self) -> list[str]:
        return sorted(f"{collection}.{name}" for collection, specs in self.wanted.items() for name in specs)

    @property
    def ready(self) -> bool:
        return not self.missing

    async def check(self) -> list[str]:
        """List the indexes again; the required ones that are missing, not as declared, or still building."""
        present = set(await self.db.list_collection_names())
        missing: list[str] = []
        for collection, specs in self.wanted.items():
            listed: dict[str, Mapping[str, Any]] = {}
            if collection in present:
                cursor = await self.db[collection].list_indexes()
                listed = {doc["name"]: doc for doc in await cursor.to_list()}
            for name, spec in specs.items():
                if name not in listed or not same_index(listed[name], spec):
                    missing.append(f"{collection}.{name}")
        missing.sort()
        for index in self.names():
            REQUIRED_INDEX_READY.labels(index).set(0 if index in missing else 1)
        if missing and missing != self.missing:
            log.error("required_indexes_missing", indexes=missing, effect="money writes answer 503")
        elif not missing and self.missing:
            log.info("required_indexes_ready", indexes=self.names())
        self.missing, self.checked_at = missing, self.clock()
        return missing

    async def current(self) -> list[str]:
        """The missing indexes, checked again when the last look is older than its recheck period."""
        period = RECHECK_WHILE_MISSING_SECONDS if self.missing else RECHECK_WHILE_READY_SECONDS
        if self.checked_at is None or self.clock() - self.checked_at >= period:
            async with self._lock:  # one listing at a time, however many requests are waiting
                if self.checked_at is None or self.clock() - self.checked_at >= period:
                    await self.check()
        return self.missing


def unavailable_detail(missing: list[str]) -> str:
    return "money is paused until these unique indexes are ready: " + ", ".join(missing)


async def refuse_money_writes_while_missing(request: Request) -> None:
    """Route dependency of every money write: 503, before anything is written, while a required unique
    index is missing (an app built without the guard, e.g. by a script, is not guarded)."""
    required: RequiredIndexes | None = getattr(request.app.state, "required_indexes", None)
    if required is None:
        return
    if await required.current():  # lists the indexes again only when the last look is stale
        raise DatabaseUnavailable(unavailable_detail(required.missing))


# `dependencies=[MONEY_WRITE]` on every route that moves money or makes money due (refunds, payouts).
MONEY_WRITE = Depends(refuse_money_writes_while_missing)


def paused_while_missing(
    required: RequiredIndexes, job: Callable[[Any], Awaitable[Any]]
) -> Callable[[Any], Coroutine[Any, Any, Any]]:
    """A background pass that moves money: it fails (503, logged once as an outage, counted as a failed
    pass) instead of running while a required index is missing."""

    async def run(now: Any) -> Any:
        if await required.current():
            raise DatabaseUnavailable(unavailable_detail(required.missing))
        return await job(now)

    return run
