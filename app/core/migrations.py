"""Index migration: bring each collection's indexes to what the repositories declare, never fail serving.

`migrate_indexes(db, repositories)` compares `list_indexes` with the declared `IndexModel`s (keys in
order and options, as plain values: PyMongo decodes the listing with SON):

* **missing** (no index of that name and no index on those keys): created, a collection's missing
  indexes in one `createIndexes` command (one by one again when the server refuses it, so each failure
  is reported against its own index), with commit quorum `majority` on a replica set or sharded
  cluster (a voting member that is down cannot stall the build forever; standalone servers take none),
  without a client deadline (a build aborted by `maxTimeMS` restarts from zero); a build still running
  when the wait ends is reported as **building** and left to finish;
* **conflicting** (same name with other keys/options, or same keys under another name): reported,
  left as they are; MongoDB would refuse to create the declared one anyway;
* **obsolete** (neither declared nor conflicting, `_id_` aside): reported;
* **kept** (undeclared but supporting the planned or the cluster's shard key): never dropped;
* **failed** (the server refused the build, e.g. existing data violates a new unique index): reported,
  counted, and logged as an error when money requires the index (`Repository.required_indexes`).

With `drop_obsolete=True` (the explicit `allmine-live migrate-indexes --drop-obsolete`) obsolete and
conflicting indexes are dropped and the declared ones created in their place, except those supporting
a shard key. An unavailable database raises (the caller retries later); nothing else does. See
docs/decisions.md, "Index migrations".
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pymongo
import structlog
from prometheus_client import Counter
from pymongo.errors import PyMongoError
from pymongo.operations import IndexModel

from app.core.db import Database, note_failure, outages
from app.core.errors import database_unavailable
from app.core.plain import plain

log = structlog.get_logger("app.migrations")

INDEX_BUILD_FAILURES = Counter(
    "index_build_failures_total",
    "Index builds the server refused or that failed, by index; `required` says whether money's "
    "exactly-once rests on it (money writes answer 503 until it exists).",
    ("index", "required"),
)

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
    building: list[str] = field(default_factory=list)  # still building on the server when the wait ended
    kept: list[str] = field(default_factory=list)  # undeclared but supporting a shard key: never dropped

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
            *(f"building {name}" for name in self.building),
            *(f"kept {name}" for name in self.kept),
        ]


def declared_indexes(repositories: Iterable[type[Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """`{collection: {index name: IndexModel document}}` over the given repository classes."""
    declared: dict[str, dict[str, dict[str, Any]]] = {}
    for repository in repositories:
        collection = declared.setdefault(repository.collection_name, {})
        for model in repository.indexes:
            spec = dict(model.document)
            previous = collection.setdefault(spec["name"], spec)
            if previous is not spec and _normalized(previous) != _normalized(spec):
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
    build_timeout_seconds: float | None = 600.0,
) -> MigrationReport:
    """`build_timeout_seconds`: how long to wait for the builds before reporting them as still building
    (None: until they end); never a deadline sent to the server."""
    report = MigrationReport()
    required = required_index_names(repositories)
    planned = planned_shard_keys(repositories)
    quorum = await _commit_quorum(db)
    present = set(await db.list_collection_names())
    for collection_name, wanted in declared_indexes(repositories).items():
        collection = db[collection_name]
        existing: dict[str, Mapping[str, Any]] = {}
        if collection_name in present:  # a collection not created yet has no index to compare
            existing = {doc["name"]: doc for doc in await (await collection.list_indexes()).to_list()}
        by_keys = {_keys(doc): name for name, doc in existing.items()}
        shard_keys = [planned[collection_name]] if collection_name in planned else []
        if drop_obsolete and existing:  # before dropping anything: the shard key the cluster really uses
            shard_keys += await _live_shard_key(db, collection_name)
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
            if drop_obsolete and not supports_shard_key(existing[in_the_way], shard_keys):
                await _drop(collection, in_the_way, report)
                to_create.append(spec)
            else:
                if drop_obsolete:
                    detail += "; not dropped: it supports the shard key"
                report.conflicts.append(IndexProblem(collection_name, name, detail))
        for name in existing.keys() - accounted:
            if supports_shard_key(existing[name], shard_keys):  # mongod refuses to drop the last one
                report.kept.append(f"{collection_name}.{name} (supports the shard key)")
            elif drop_obsolete:
                await _drop(collection, name, report)
            else:
                detail = f"not declared ({_describe(existing[name])})"
                report.obsolete.append(IndexProblem(collection_name, name, detail))
        await _create(collection, to_create, quorum, build_timeout_seconds, report, required)
    for problem in report.failed:
        note_build_failure(f"{problem.collection}.{problem.name}", problem.detail, required)
    # One summary line; each change at debug, a build left running at info, each problem (operator
    # action needed) at warning.
    for line in report.lines():
        level = log.debug if line.startswith(("created", "dropped", "kept")) else log.warning
        (log.info if line.startswith("building") else level)("index_migration", change=line)
    log.info(
        "index_migration_done", created=len(report.created), dropped=len(report.dropped),
        conflicts=len(report.conflicts), obsolete=len(report.obsolete), failed=len(report.failed),
        building=len(report.building), kept=len(report.kept),
    )  # fmt: skip
    return report


ShardKey = tuple[tuple[str, Any], ...]


def planned_shard_keys(repositories: Iterable[type[Any]]) -> dict[str, ShardKey]:
    """`{collection: shard key}` of the sharding plan (`Repository.shard_key`)."""
    return {
        repository.collection_name: tuple(repository.shard_key)
        for repository in repositories
        if getattr(repository, "shard_key", None)
    }


def supports_shard_key(index: Mapping[str, Any], shard_keys: Iterable[ShardKey]) -> bool:
    """True when the index's keys start with a shard key's fields (hashed where the key is hashed):
    such an index may be the one the cluster routes and splits chunks with."""
    keys = _keys(index)
    for shard_key in shard_keys:
        prefix = keys[: len(shard_key)]
        if len(prefix) == len(shard_key) and all(
            field == key_field and (direction == "hashed") == (key_direction == "hashed")
            for (field, direction), (key_field, key_direction) in zip(prefix, shard_key, strict=True)
        ):
            return True
    return False


async def _live_shard_key(db: Database, collection_name: str) -> list[ShardKey]:
    """The collection's shard key as the cluster's catalogue says (`config.collections`, what
    `sh.shardCollection` wrote), [] when unsharded; a catalogue we may not read is logged, not fatal
    (the planned shard keys are protected anyway)."""
    try:
        doc = await db.client["config"]["collections"].find_one(
            {"_id": f"{db.name}.{collection_name}"}, {"key": True, "dropped": True}
        )
    except PyMongoError as exc:
        if database_unavailable(exc) is not None:
            raise
        log.warning("shard_key_unknown", collection=collection_name, error=str(exc)[:300])
        return []
    if doc is None or doc.get("dropped") or not doc.get("key"):
        return []
    return [tuple((field, plain(direction)) for field, direction in dict(doc["key"]).items())]


async def _drop(collection: Any, name: str, report: MigrationReport) -> None:
    await collection.drop_index(name)
    report.dropped.append(f"{collection.name}.{name}")


async def _create(
    collection: Any,
    specs: list[dict[str, Any]],
    quorum: str | None,
    wait: float | None,
    report: MigrationReport,
    required: set[str],
) -> None:
    """Build `specs` in one command; when the server refuses it, build them one by one so that each
    failure is reported against its own index and the others still get built.

    The command carries no client deadline: under `timeoutMS` PyMongo would send `maxTimeMS`, and a
    build interrupted by it is aborted and starts again from zero on the next try (SERVER-46595), so a
    long build would never finish. The migration waits `wait` seconds for it (None: until it ends);
    a build still running then is reported as **building** and left to finish on the server (its
    command stays open in the background; `listIndexes` shows the index once it is ready).
    """
    if not specs:
        return
    options = {} if quorum is None else {"commitQuorum": quorum}
    models = [
        IndexModel(list(spec["key"].items()), **{k: v for k, v in spec.items() if k != "key"})
        for spec in specs
    ]
    build = asyncio.ensure_future(_build_without_deadline(collection, models, options))
    done, _ = await asyncio.wait({build}, timeout=wait)
    if not done:
        names = [f"{collection.name}.{spec['name']}" for spec in specs]
        report.building.extend(names)
        _builds_in_progress.add(build)
        build.add_done_callback(partial(_build_ended, names, required))
        return
    try:
        build.result()
    except PyMongoError as exc:
        if database_unavailable(exc) is not None:
            raise
        if len(specs) == 1:
            report.failed.append(IndexProblem(collection.name, specs[0]["name"], f"not created: {exc}"))
            return
        for spec in specs:
            await _create(collection, [spec], quorum, wait, report, required)
        return
    report.created.extend(f"{collection.name}.{spec['name']}" for spec in specs)


# Builds that outlived the migration's wait: referenced until they end (a task nobody holds may be
# collected), their outcome logged then.
_builds_in_progress: set["asyncio.Future[None]"] = set()


async def _build_without_deadline(collection: Any, models: list[IndexModel], options: dict[str, Any]) -> None:
    with pymongo.timeout(0):  # 0: no deadline at all (None would fall back to the client's timeoutMS)
        await collection.create_indexes(models, **options)


def cancel_builds_in_progress() -> None:
    """At shutdown, before the client closes: stop following builds (the server goes on with them)."""
    for build in list(_builds_in_progress):
        build.cancel()


def _build_ended(names: list[str], required: set[str], build: "asyncio.Future[None]") -> None:
    _builds_in_progress.discard(build)
    if build.cancelled():
        return
    exc = build.exception()
    if exc is None:
        log.info("index_build_finished", indexes=names)
        return
    for name in names:
        note_build_failure(name, f"{type(exc).__name__}: {str(exc)[:300]}", required)


def required_index_names(repositories: Iterable[type[Any]]) -> set[str]:
    """`collection.index` of every index a repository requires (`Repository.required_indexes`)."""
    return {
        f"{repository.collection_name}.{name}"
        for repository in repositories
        for name in getattr(repository, "required_indexes", ())
    }


def note_build_failure(index: str, detail: str, required: set[str]) -> None:
    """A failed build: counted; logged as an error when money's exactly-once rests on the index."""
    is_required = index in required
    INDEX_BUILD_FAILURES.labels(index, "true" if is_required else "false").inc()
    if is_required:
        log.error("required_index_build_failed", index=index, error=detail, effect="money writes answer 503")
    else:
        log.warning("index_build_failed", index=index, error=detail)


async def _commit_quorum(db: Database) -> str | None:
    """`majority` where MongoDB accepts a commit quorum (replica sets, mongos), else None (standalone
    servers refuse one). One path on both engines: the embedded engine answers `hello` like a
    standalone server (no `setName`)."""
    hello = await db.command("hello")
    return "majority" if "setName" in hello or hello.get("msg") == "isdbgrid" else None


def _keys(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple((field, plain(direction)) for field, direction in dict(spec["key"]).items())


def _normalized(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    """Keys in order and the compared options as plain values: PyMongo decodes `listIndexes` with
    `SON` (nested options included), the declarations are dicts; `repr` would tell them apart."""
    options = {name: plain(spec.get(name)) for name in COMPARED_OPTIONS}
    options["unique"], options["sparse"] = bool(options["unique"]), bool(options["sparse"])
    return _keys(spec), options


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


def same_index(existing: Mapping[str, Any], declared: Mapping[str, Any]) -> bool:
    """True when a listed index is the declared one: same keys in order and same compared options."""
    return _normalized(existing) == _normalized(declared)
