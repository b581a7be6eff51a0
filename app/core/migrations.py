"""Index migration: bring each collection's indexes to what the repositories declare, never fail serving.

`migrate_indexes(db, repositories)` compares `list_indexes` with the declared `IndexModel`s:

* **missing** (no index of that name and no index on those keys): created within the build budget,
  a collection's missing indexes in one `createIndexes` command (one by one again when the server
  refuses it, so each failure is reported against its own index), with commit quorum `majority` on a replica set or sharded cluster (a voting member
  that is down cannot stall the build forever; standalone servers and the embedded engine take no
  commit quorum);
* **conflicting** (same name with other keys/options, or same keys under another name): reported,
  left as they are; MongoDB would refuse to create the declared one anyway;
* **obsolete** (neither declared nor conflicting, `_id_` aside): reported;
* **failed** (the server refused the build, e.g. existing data violates a new unique index): reported.

With `drop_obsolete=True` (the explicit `allmine-live migrate-indexes --drop-obsolete`) obsolete and
conflicting indexes are dropped and the declared ones created in their place. An unavailable database
raises (the caller retries later); nothing else does. See docs/decisions.md, "Index migrations".
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pymongo
import structlog
from pymongo.errors import PyMongoError
from pymongo.operations import IndexModel

from app.core.db import Database, is_embedded, note_failure, outages
from app.core.errors import database_unavailable

log = structlog.get_logger("app.migrations")

# Options that make two indexes on the same keys different indexes; server-added fields (`v`, `ns`,
# `background`, text/2dsphere versions) are not compared.
COMPARED_OPTIONS = ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds", "collation")


@dataclass
class IndexProblem:
    collection: str
    name: str
    detail: str

    def __str__(self) -> str:
        return f"{self.collection}.{self.name}: {self.detail}"


@dataclass
class MigrationReport:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    conflicts: list[IndexProblem] = field(default_factory=list)
    obsolete: list[IndexProblem] = field(default_factory=list)
    failed: list[IndexProblem] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Every declared index exists as declared and nothing else is left."""
        return not (self.conflicts or self.obsolete or self.failed)

    def lines(self) -> list[str]:
        return [
            *(f"created {name}" for name in self.created),
            *(f"dropped {name}" for name in self.dropped),
            *(f"conflict {problem}" for problem in self.conflicts),
            *(f"obsolete {problem}" for problem in self.obsolete),
            *(f"failed {problem}" for problem in self.failed),
        ]


def declared_indexes(repositories: Iterable[type[Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """`{collection: {index name: IndexModel document}}` over the given repository classes."""
    declared: dict[str, dict[str, dict[str, Any]]] = {}
    for repository in repositories:
        collection = declared.setdefault(repository.collection_name, {})
        for model in repository.indexes:
            spec = dict(model.document)
            previous = collection.setdefault(spec["name"], spec)
            if _normalized(previous) != _normalized(spec):
                raise ValueError(
                    f"{repository.__name__}: index {repository.collection_name}.{spec['name']} is declared "
                    "twice with different keys or options"
                )
    return declared


async def migrate_indexes(
    db: Database,
    repositories: Sequence[type[Any]],
    *,
    drop_obsolete: bool = False,
    build_timeout_seconds: float = 600.0,
) -> MigrationReport:
    report = MigrationReport()
    quorum = await _commit_quorum(db)
    present = set(await db.list_collection_names())
    for collection_name, wanted in declared_indexes(repositories).items():
        collection = db[collection_name]
        existing: dict[str, Mapping[str, Any]] = {}
        if collection_name in present:  # a collection not created yet has no index to compare
            existing = {doc["name"]: doc for doc in await (await collection.list_indexes()).to_list()}
        by_keys = {_keys(doc): name for name, doc in existing.items()}
        to_create: list[dict[str, Any]] = []
        accounted = {"_id_"}
        for name, spec in wanted.items():
            if name in existing:
                accounted.add(name)
                if _normalized(existing[name]) == _normalized(spec):
                    continue
                in_the_way = name
                detail = f"exists with {_describe(existing[name])}, declared {_describe(spec)}"
            elif by_keys.get(_keys(spec), "_id_") != "_id_":
                in_the_way = by_keys[_keys(spec)]
                accounted.add(in_the_way)
                detail = f"its keys are indexed as {in_the_way!r} ({_describe(existing[in_the_way])})"
            else:
                to_create.append(spec)
                continue
            if drop_obsolete:
                await _drop(collection, in_the_way, report)
                to_create.append(spec)
            else:
                report.conflicts.append(IndexProblem(collection_name, name, detail))
        for name in existing.keys() - accounted:
            if drop_obsolete:
                await _drop(collection, name, report)
            else:
                detail = f"not declared ({_describe(existing[name])})"
                report.obsolete.append(IndexProblem(collection_name, name, detail))
        await _create(collection, to_create, quorum, build_timeout_seconds, report)
    # One summary line; each change at debug, each problem (operator action needed) at warning.
    for line in report.lines():
        (log.debug if line.startswith(("created", "dropped")) else log.warning)(
            "index_migration", change=line
        )
    log.info(
        "index_migration_done", created=len(report.created), dropped=len(report.dropped),
        conflicts=len(report.conflicts), obsolete=len(report.obsolete), failed=len(report.failed),
    )  # fmt: skip
    return report


async def _drop(collection: Any, name: str, report: MigrationReport) -> None:
    await collection.drop_index(name)
    report.dropped.append(f"{collection.name}.{name}")


async def _create(
    collection: Any, specs: list[dict[str, Any]], quorum: str | None, budget: float, report: MigrationReport
) -> None:
    """Build `specs` in one command; when the server refuses it, build them one by one so that each
    failure is reported against its own index and the others still get built."""
    if not specs:
        return
    options = {} if quorum is None else {"commitQuorum": quorum}
    models = [
        IndexModel(list(spec["key"].items()), **{k: v for k, v in spec.items() if k != "key"})
        for spec in specs
    ]
    try:
        with pymongo.timeout(budget):
            await collection.create_indexes(models, **options)
    except PyMongoError as exc:
        if database_unavailable(exc) is not None:
            raise
        if len(specs) == 1:
            report.failed.append(IndexProblem(collection.name, specs[0]["name"], f"not created: {exc}"))
            return
        for spec in specs:
            await _create(collection, [spec], quorum, budget, report)
        return
    report.created.extend(f"{collection.name}.{spec['name']}" for spec in specs)


async def _commit_quorum(db: Database) -> str | None:
    """`majority` where MongoDB accepts a commit quorum (replica sets, mongos), else None."""
    if is_embedded(db):
        return None
    hello = await db.command("hello")
    return "majority" if "setName" in hello or hello.get("msg") == "isdbgrid" else None


def _keys(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple((field, _number(direction)) for field, direction in dict(spec["key"]).items())


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _normalized(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    options = {name: spec.get(name) for name in COMPARED_OPTIONS}
    options["unique"], options["sparse"] = bool(options["unique"]), bool(options["sparse"])
    return _keys(spec), tuple(sorted((k, repr(_plain(v))) for k, v in options.items()))


def _plain(value: Any) -> Any:
    """Nested options as plain dicts: PyMongo's `list_indexes` decodes them as `SON`, whose repr differs."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _describe(spec: Mapping[str, Any]) -> str:
    options = ", ".join(f"{name}={spec[name]!r}" for name in COMPARED_OPTIONS if spec.get(name))
    keys = ", ".join(f"{field}: {direction}" for field, direction in _keys(spec))
    return f"keys {{{keys}}}" + (f", {options}" if options else "")


class DatabasePreparation:
    """Start-up work that needs the database: the index migration, then `after` steps (the demo seed).

    Runs until it succeeds, retrying with a capped backoff while the database is unavailable, so the
    process serves `/health` (and `/ready` 503) during an outage instead of exiting. `ready` turns true
    once every step has run; `/ready` reports 503 until then. `first_attempt` is set when the first
    try has ended either way: start-up waits for it, so a reachable database is ready at once.
    """

    initial_backoff = 1.0

    def __init__(
        self,
        db: Database,
        repositories: Sequence[type[Any]],
        *,
        after: Sequence[Callable[[], Awaitable[Any]]] = (),
        build_timeout_seconds: float = 600.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        max_backoff: float = 30.0,
    ) -> None:
        self.db, self.repositories, self.after = db, repositories, after
        self.build_timeout_seconds, self.sleep, self.max_backoff = build_timeout_seconds, sleep, max_backoff
        self.ready = False
        self.first_attempt = asyncio.Event()
        self.report: MigrationReport | None = None
        self.attempts = 0

    async def run(self) -> None:
        backoff = self.initial_backoff
        while True:
            self.attempts += 1
            try:
                if self.report is None:
                    self.report = await migrate_indexes(
                        self.db, self.repositories, build_timeout_seconds=self.build_timeout_seconds
                    )
                for step in self.after:
                    await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let start-up work end the process; retry later
                if not note_failure(exc, "startup"):
                    log.exception("database_preparation_failed", attempt=self.attempts)
                self.first_attempt.set()
                await self.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            outages.recovered()
            self.ready = True
            self.first_attempt.set()
            log.info("database_prepared", attempts=self.attempts)
            return
