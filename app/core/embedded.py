"""In-process MongoDB look-alike behind PyMongo's async API (mongomock-ng on one worker thread).

Repositories are written once against `pymongo.AsyncMongoClient`; with `MONGODB_URL` unset the app
hands them this adapter instead. Rules (docs/decisions.md, "Embedded engine"):

* every engine call runs on ONE dedicated worker thread, which makes each operation atomic with
  respect to the others, as single-document writes are on mongod (a bigger pool overspends
  conditional updates); `EmbeddedAsyncClient(inline=True)` runs them on the event loop's thread
  instead, after one yield (`EMBEDDED_ENGINE_THREAD=false`, the test suite): as atomic, every call
  still a suspension point, no thread hop;
* cursors are built synchronously and read on the worker at the first `__anext__`/`to_list`;
* sessions are causally consistent (trivially: one copy of the data, every operation in order) and
  refuse what PyMongo refuses (an ended session, another client's); transactions and change streams
  raise instead of silently doing nothing;
* every call first passes `embedded_rules.check_call` on the engine's thread, as a server judges the
  commands it receives (what mongod 7.0 refuses is refused, with its
  code), and `embedded_fidelity` makes the engine answer like mongod where mongomock-ng does not;
* `$$NOW` in pipeline updates is the client's server clock (app.core.embedded_now).
"""

import asyncio
import collections
import contextlib
import itertools
import operator
import queue
import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import bson
import mongomock_ng
from bson.son import SON
from mongomock_ng import filtering as _filtering
from mongomock_ng import helpers as _helpers
from mongomock_ng.aggregate import process_pipeline
from mongomock_ng.collection import Collection as _SyncCollection
from mongomock_ng.collection import Cursor as _SyncCursor
from mongomock_ng.collection import _cast_document_class, _copy_field
from mongomock_ng.filtering import filter_applies
from pymongo import IndexModel

from app.core import embedded_fidelity, embedded_index, embedded_rules
from app.core.embedded_now import ServerClock, set_server_clock
from app.core.embedded_session import EmbeddedSession, use_session
from app.core.timeutils import utcnow

Document = dict[str, Any]
_IDENTITY_CACHE_SIZE = 256


_Call = tuple["asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class _Worker:
    """ONE thread running engine calls in order; the event loop pays one wake-up per batch of answers.

    `loop.run_in_executor` costs ~80 µs of event-loop CPU per call (concurrent future, chaining,
    callbacks); a plain queue and one `call_soon_threadsafe` per drained batch cost ~15-30 µs (bench
    figures in docs/benchmarks.md, "Findings"). Calls queued while the thread was busy run back to back
    and their answers reach the loop together.
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="embedded-mongo", daemon=True)
        self._thread.start()

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._calls.put((future, fn, args, kwargs))
        return await future

    def _serve(self) -> None:
        calls = self._calls
        while (call := calls.get()) is not None:
            done: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
            while call is not None:
                future, fn, args, kwargs = call
                try:
                    outcome = (future, True, fn(*args, **kwargs))
                except BaseException as exc:  # handed to the awaiting task, as run_in_executor does
                    outcome = (future, False, exc)
                done.setdefault(future.get_loop(), []).append(outcome)
                try:
                    call = calls.get_nowait()
                except queue.Empty:
                    call = None
                else:
                    if call is None:  # shutdown after this batch
                        calls.put(None)
                        break
            for loop, outcomes in done.items():
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody awaits these
                    loop.call_soon_threadsafe(_deliver, outcomes)

    def shutdown(self) -> None:
        self._calls.put(None)


def _deliver(outcomes: list[tuple["asyncio.Future[Any]", bool, Any]]) -> None:
    for future, succeeded, value in outcomes:
        if future.cancelled():
            continue
        if succeeded:
            future.set_result(value)
        else:
            future.set_exception(value)


class _InlineWorker:
    """Each call on the event loop's thread after one yield, so other tasks still interleave between
    engine calls exactly where they would with the worker thread."""

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return fn(*args, **kwargs)

    def shutdown(self) -> None:
        pass


Worker = _Worker | _InlineWorker  # what runs the engine's calls: its thread, or the event loop's


def _judged(op: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """On the engine's thread: the call judged by mongod's rules (what mongod refuses, refused, as the
    server itself judges a command: not the client's event loop), then run."""
    embedded_rules.check_call(op, args, kwargs)
    return fn(*args, **kwargs)


def _on_worker(*names: str) -> Callable[[type], type]:
    """Class decorator adding `async def name(...)` that runs `self._sync.name(...)` on the worker."""

    def decorate(cls: type) -> type:
        for name in names:

            def make(name: str) -> Callable[..., Any]:
                async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                    if "session" in kwargs:
                        use_session(self.database.client, kwargs.pop("session"))
                    return await self._worker.run(_judged, name, getattr(self._sync, name), args, kwargs)

                method.__name__ = method.__qualname__ = name
                return method

            setattr(cls, name, make(name))
        return cls

    return decorate


class EmbeddedCursor:
    """AsyncCursor / AsyncCommandCursor look-alike.

    A `find()` cursor records its query, sort, skip and limit and builds mongomock's cursor on the
    worker at the first read: building it costs event-loop CPU otherwise, and one call reads it all.
    """

    def __init__(
        self,
        worker: Worker,
        find: tuple[Any, tuple[Any, ...], dict[str, Any]] | None = None,
        docs: list[Document] | None = None,
    ) -> None:
        self._worker, self._find = worker, find
        self._options: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self._docs = None if docs is None else collections.deque(docs)

    def sort(self, *args: Any, **kwargs: Any) -> "EmbeddedCursor":
        self._options.append(("sort", args, kwargs))
        return self

    def skip(self, n: int) -> "EmbeddedCursor":
        self._options.append(("skip", (n,), {}))
        return self

    def limit(self, n: int) -> "EmbeddedCursor":
        self._options.append(("limit", (n,), {}))
        return self

    def hint(self, index: Any) -> "EmbeddedCursor":
        return self  # the engine has no planner; accepted for portability

    def batch_size(self, _n: int) -> "EmbeddedCursor":
        return self

    def _read(self) -> list[Document]:
        assert self._find is not None
        collection, args, kwargs = self._find
        embedded_rules.check_find(args, kwargs, self._options)
        cursor = collection.find(*args, **kwargs)
        for name, option_args, option_kwargs in self._options:
            cursor = getattr(cursor, name)(*option_args, **option_kwargs)
        return list(cursor)

    async def _load(self) -> collections.deque[Document]:
        if self._docs is None:
            self._docs = collections.deque(await self._worker.run(self._read))
        return self._docs

    def __aiter__(self) -> "EmbeddedCursor":
        return self

    async def __anext__(self) -> Document:
        docs = await self._load()
        if not docs:
            raise StopAsyncIteration
        return docs.popleft()

    next = __anext__

    async def to_list(self, length: int | None = None) -> list[Document]:
        docs = await self._load()
        if length is None or length >= len(docs):  # the usual case: everything, in one copy
            everything = list(docs)
            docs.clear()
            return everything
        return [docs.popleft() for _ in range(length)]

    async def close(self) -> None:
        self._docs = collections.deque()

    async def __aenter__(self) -> "EmbeddedCursor":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@_on_worker(
    "insert_one", "insert_many", "find_one", "update_one", "update_many", "replace_one", "delete_one",
    "delete_many", "find_one_and_update", "find_one_and_delete", "find_one_and_replace", "count_documents",
    "estimated_document_count", "distinct", "bulk_write", "drop_index", "drop_indexes", "index_information",
    "drop",
)  # fmt: skip
class EmbeddedCollection:
    def __init__(self, database: "EmbeddedDatabase", sync_collection: Any, worker: Worker) -> None:
        self.database, self._sync, self._worker = database, sync_collection, worker
        self.name, self.full_name = sync_collection.name, sync_collection.full_name

    def find(self, *args: Any, **kwargs: Any) -> EmbeddedCursor:
        if "session" in kwargs:
            use_session(self.database.client, kwargs.pop("session"))
        return EmbeddedCursor(self._worker, find=(self._sync, args, kwargs))

    async def aggregate(self, pipeline: list[Document], **kwargs: Any) -> EmbeddedCursor:
        if "session" in kwargs:
            use_session(self.database.client, kwargs.pop("session"))
        docs = await self._worker.run(self._judged_aggregate, pipeline, kwargs)
        return EmbeddedCursor(self._worker, docs=docs)

    def _judged_aggregate(self, pipeline: list[Document], kwargs: dict[str, Any]) -> list[Document]:
        embedded_rules.check_call("aggregate", (pipeline,), kwargs)  # on the engine's thread, as mongod
        return self._aggregate(pipeline)

    def _aggregate(self, pipeline: list[Document]) -> list[Document]:
        # mongomock-ng copies the whole collection before the first stage; a leading $match is a find().
        if pipeline and list(pipeline[0]) == ["$match"]:
            counted = embedded_index.group_counts(self._sync, pipeline)
            if counted is not None:
                return counted
            cursor, rest = self._sync.find(pipeline[0]["$match"]), pipeline[1:]
            # A `$sort` right after is the cursor's sort (the same stable sort; an index may serve it).
            if rest and list(rest[0]) == ["$sort"] and _plain_sort(rest[0]["$sort"]):
                cursor, rest = cursor.sort(list(rest[0]["$sort"].items())), rest[1:]
            rows = list(cursor)
            grouped = _first_per_key(rows, rest)
            if grouped is not None:
                return grouped
            return list(process_pipeline(rows, self._sync.database, rest, None))
        return list(self._sync.aggregate(pipeline))

    async def list_indexes(self, **kwargs: Any) -> EmbeddedCursor:
        if "session" in kwargs:
            use_session(self.database.client, kwargs.pop("session"))
        # PyMongo decodes listIndexes with `document_class=SON`: nested options are SON too.
        docs = await self._worker.run(lambda: [_son(doc) for doc in self._sync.list_indexes(**kwargs)])
        return EmbeddedCursor(self._worker, docs=docs)

    async def create_index(self, keys: Any, **kwargs: Any) -> str:
        if "session" in kwargs:
            use_session(self.database.client, kwargs.pop("session"))
        embedded_rules.check_call("create_index", (keys,), kwargs)
        options = {k: v for k, v in kwargs.items() if k not in embedded_rules.COMMAND_OPTIONS}
        name: str = await self._worker.run(self._create_indexes, [IndexModel(keys, **options)])
        return name

    async def create_indexes(self, indexes: list[IndexModel], **kwargs: Any) -> list[str]:
        if "session" in kwargs:
            use_session(self.database.client, kwargs.pop("session"))
        embedded_rules.check_call("create_indexes", (indexes,), kwargs)
        await self._worker.run(self._create_indexes, indexes)
        return [str(model.document["name"]) for model in indexes]

    def _create_indexes(self, models: list[IndexModel]) -> str:
        """On the worker: mongod's name/option conflicts with the indexes there, then the builds."""
        specs = [dict(model.document) for model in models]
        embedded_rules.check_index_build(self._sync.list_indexes(), specs)
        for spec in specs:
            options = {k: v for k, v in spec.items() if k != "key"}
            self._sync.create_index(list(spec["key"].items()), **options)
        return str(specs[-1]["name"])

    # Options given to `get_collection`/`with_options` are recorded like PyMongo's (durable repositories
    # pin them); the engine has one copy of the data, so they change nothing here.
    @property
    def write_concern(self) -> Any:
        return self._sync.write_concern

    @property
    def read_preference(self) -> Any:
        return self._sync.read_preference

    @property
    def read_concern(self) -> Any:
        return self._sync.read_concern

    def with_options(self, **kwargs: Any) -> "EmbeddedCollection":
        return EmbeddedCollection(self.database, self._sync.with_options(**kwargs), self._worker)

    async def watch(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("change streams are not available on the embedded engine")


@_on_worker("list_collection_names", "drop_collection")
class EmbeddedDatabase:
    def __init__(self, client: "EmbeddedAsyncClient", sync_database: Any, worker: Worker) -> None:
        self.client, self._sync, self._worker = client, sync_database, worker
        self.name = sync_database.name
        # Repositories are built per request: mongomock's `with_options` costs ~60 µs a call, and its
        # collections are stateless views on the database's store (safe to keep across drops).
        self._collections: dict[tuple[str, str], EmbeddedCollection] = {}
        self._by_identity: dict[tuple[Any, ...], tuple[EmbeddedCollection, tuple[Any, ...]]] = {}

    def get_collection(self, name: str, **kwargs: Any) -> EmbeddedCollection:
        # Repositories pass the same option objects every time (`DURABLE_OPTIONS`): found by identity
        # first (the repr of a WriteConcern alone costs ~10 µs); the cache entry holds the options, so
        # an id cannot be reused while it is cached.
        fast = (name, *kwargs, *map(id, kwargs.values()))
        found = self._by_identity.get(fast)
        if found is not None:
            return found[0]
        key = (name, repr(sorted(kwargs.items())))
        collection = self._collections.get(key)
        if collection is None:
            collection = EmbeddedCollection(self, self._sync.get_collection(name, **kwargs), self._worker)
            self._collections[key] = collection
        if len(self._by_identity) < _IDENTITY_CACHE_SIZE:  # bounded: callers may build options per call
            self._by_identity[fast] = (collection, tuple(kwargs.values()))
        return collection

    __getitem__ = get_collection

    def __getattr__(self, name: str) -> EmbeddedCollection:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get_collection(name)

    async def command(self, command: str | Document, **kwargs: Any) -> Document:
        name = command if isinstance(command, str) else next(iter(command))
        if name.lower() in {"ping", "hello", "ismaster"}:
            return {"ok": 1.0}
        result: Document = await self._worker.run(self._sync.command, command, **kwargs)
        return result


class EmbeddedAsyncClient:
    """`pymongo.AsyncMongoClient` look-alike holding the whole database in process memory."""

    def __init__(self, *, inline: bool = False, clock: ServerClock = utcnow, **kwargs: Any) -> None:
        kwargs.setdefault("tz_aware", True)
        self._sync = mongomock_ng.MongoClient(**kwargs)
        # A marker of our own, read by the patches below, which are scoped to our clients.
        vars(self._sync)["_speedups"] = True
        self._worker = _InlineWorker() if inline else _Worker()
        embedded_fidelity.install()
        _install_speedups()  # after: the index's unique check falls back to the fidelity rules' scan
        self.set_server_clock(clock)

    def set_server_clock(self, clock: ServerClock) -> None:
        """The engine's server clock, which `$$NOW` reads (app.core.embedded_now); tests pass a manual one."""
        set_server_clock(self._sync, clock)

    def get_database(self, name: str, **kwargs: Any) -> EmbeddedDatabase:
        return EmbeddedDatabase(self, self._sync.get_database(name, **kwargs), self._worker)

    __getitem__ = get_database

    async def aconnect(self) -> None:
        return None

    async def drop_database(self, name: str) -> None:
        await self._worker.run(self._sync.drop_database, name)

    async def list_database_names(self) -> list[str]:
        names: list[str] = await self._worker.run(self._sync.list_database_names)
        return names

    def start_session(
        self,
        causal_consistency: bool | None = None,
        default_transaction_options: Any = None,
        snapshot: bool = False,
    ) -> "EmbeddedSession":
        if snapshot:
            raise NotImplementedError("snapshot sessions are not available on the embedded engine")
        return EmbeddedSession(self, causal_consistency is not False)

    async def close(self) -> None:
        self._worker.shutdown()

    async def __aenter__(self) -> "EmbeddedAsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _plain_sort(spec: Any) -> bool:
    """A `$sort` stage of fields and directions only (no `$meta`)."""
    return (
        isinstance(spec, dict)
        and bool(spec)
        and all(type(d) is int and d in (1, -1) and not k.startswith("$") for k, d in spec.items())
    )


# How `_first_per_key` orders the values of a sorted field, per type: in BSON order, ObjectIds by their bytes.
_FIRST_ORDER: dict[type, Callable[[Any], Any]] = {
    bson.ObjectId: operator.attrgetter("binary"),
    datetime: lambda value: value,
}


def _first_per_key(rows: list[Document], rest: list[Document]) -> list[Document] | None:
    """`[{$group: {_id: "$k", a: {$first: "$f"}, …}}, {$sort: …}?, {$limit: n}?]` over `rows`, as
    mongomock-ng's stages answer it (groups in ascending key order, accumulators then `_id`, its $sort's
    stable sorts), without its BSON comparisons in Python (the latest fundings per stream: ~1 ms of the
    engine's CPU per `GET /funded`). Only top-level fields, ObjectId keys and ObjectId or datetime values
    of one type per field, all present: None for anything else (the stock stages answer it)."""
    if not rest or list(rest[0]) != ["$group"] or type(rest[0]["$group"]) is not dict:
        return None
    group = dict(rest[0]["$group"])
    key_path = group.pop("_id", None)
    sources: dict[str, str] = {}
    for name, spec in [("_id", {"$first": key_path}), *group.items()]:
        path = spec.get("$first") if type(spec) is dict and len(spec) == 1 else None
        if type(path) is not str or not path.startswith("$") or "." in path or path.startswith("$$"):
            return None
        if name != "_id" and ("." in name or name.startswith("$")):
            return None
        sources[name] = path[1:]
    tail, sort, limit = rest[1:], None, None
    if tail and list(tail[0]) == ["$sort"]:
        sort, tail = tail[0]["$sort"], tail[1:]
        if not _plain_sort(sort) or not set(sort) <= set(sources):
            return None
    if tail and list(tail[0]) == ["$limit"]:
        limit, tail = tail[0]["$limit"], tail[1:]
        if type(limit) is not int or limit <= 0:
            return None
    if tail:
        return None
    key_field = sources.pop("_id")
    firsts: dict[bytes, Document] = {}
    for row in rows:
        key = row.get(key_field)
        if type(key) is not bson.ObjectId:
            return None
        if key.binary not in firsts:
            if any(source not in row for source in sources.values()):
                return None
            firsts[key.binary] = {**{name: row[source] for name, source in sources.items()}, "_id": key}
    grouped = [firsts[binary] for binary in sorted(firsts)]
    for field, direction in reversed(list((sort or {}).items())):
        kinds = {type(doc[field]) for doc in grouped}
        if len(kinds) > 1 or not kinds <= set(_FIRST_ORDER):
            return None
        if kinds:
            order = _FIRST_ORDER[kinds.pop()]

            def sort_key(doc: Document, field: str = field, order: Callable[[Any], Any] = order) -> Any:
                return order(doc[field])

            try:
                grouped.sort(key=sort_key, reverse=direction < 0)
            except TypeError:  # naive and aware datetimes together: the stock stage says what it does
                return None
    return grouped[:limit] if limit is not None else grouped


def _son(value: Any) -> Any:
    if isinstance(value, dict):
        return SON((key, _son(item)) for key, item in value.items())
    return value


_MISSING = object()
# Values a stored document shares with its copies: immutable, so handing out the same object is a copy.
# Anything else (dict subclasses, tuples, Regex…) takes mongomock-ng's own code.
_IMMUTABLE_VALUES = frozenset(
    {str, int, float, bool, type(None), bytes, datetime, bson.ObjectId, bson.Decimal128}
)


# The same without `datetime`: leaves an aware copy hands out as they are (its datetimes get a zone).
_PLAIN_VALUES = _IMMUTABLE_VALUES - {datetime}
_DICTS = frozenset({dict, collections.OrderedDict})  # upserts store OrderedDicts: copied as dicts


# The three below test each value's type inline before recursing: most values are leaves, and a call
# per leaf was most of the cost of copying a document (the ranking snapshot: 100 [id, count] pairs).
def _copy_document(value: Any) -> Any:
    """mongomock-ng's `_copy_field(value, dict)` without `copy.copy` on every immutable leaf."""
    kind = type(value)
    if kind in _DICTS:
        return {
            key: item if type(item) in _IMMUTABLE_VALUES else _copy_document(item)
            for key, item in value.items()
        }
    if kind in _IMMUTABLE_VALUES:
        return value
    if kind is list:
        return [item if type(item) in _IMMUTABLE_VALUES else _copy_document(item) for item in value]
    return _copy_field(value, dict)


def _aware_document(value: Any) -> Any:
    """mongomock-ng's `make_datetime_timezone_aware_in_document`, dispatching on the exact type first."""
    kind = type(value)
    if kind in _DICTS:
        return {
            key: item if type(item) in _PLAIN_VALUES else _aware_document(item) for key, item in value.items()
        }
    if kind is datetime:
        return value.replace(tzinfo=_helpers.utc)
    if kind in _IMMUTABLE_VALUES:
        return value
    if kind is list:
        return [item if type(item) in _PLAIN_VALUES else _aware_document(item) for item in value]
    return _STOCK_AWARE(value)


_STOCK_AWARE: Callable[[Any], Any] = _helpers.make_datetime_timezone_aware_in_document


def _copy_aware(value: Any) -> Any:
    """`_aware_document(_copy_document(value))` in one pass: a fresh copy with aware datetimes."""
    kind = type(value)
    if kind in _DICTS:
        return {
            key: item if type(item) in _PLAIN_VALUES else _copy_aware(item) for key, item in value.items()
        }
    if kind is datetime:
        return value.replace(tzinfo=_helpers.utc)
    if kind in _IMMUTABLE_VALUES:
        return value
    if kind is list:
        return [item if type(item) in _PLAIN_VALUES else _copy_aware(item) for item in value]
    return _STOCK_AWARE(_copy_field(value, dict))


class _Aware:
    """The `container` our cursors hand to `_copy_only_fields` on a `tz_aware` client: the copy is
    made timezone-aware in the same pass (mongomock-ng copies, then rebuilds every document again)."""


def _plain_projection(fields: Any) -> tuple[bool, bool] | None:
    """(include, keep `_id`) of a projection of top-level fields only, all included or all excluded
    (`_id` aside), with no operator: the projections `_copy_only_fields` answers itself. None otherwise."""
    if type(fields) is not dict or not fields:
        return None
    include = None
    keep_id = True
    for field, flag in fields.items():
        if type(flag) not in (int, bool) or flag not in (0, 1) or "." in field or field.startswith("$"):
            return None
        if field == "_id":
            keep_id = bool(flag)
        elif include is None:
            include = bool(flag)
        elif include is not bool(flag):
            return None  # mixed: mongomock's own code refuses it
    if include is None:
        return None  # `_id` alone
    return include, keep_id


# (the projection, its items, its verdict) of the last projection judged: a cursor hands the same one
# for every document. Swapped as one tuple (engines of two clients may run on two threads); the items
# are compared too, since a caller could change a projection it reuses.
_last_projection: list[tuple[Any, Any, tuple[bool, bool] | None]] = [(None, None, None)]


def _plain_projection_of(fields: Any) -> tuple[bool, bool] | None:
    """`_plain_projection(fields)`, remembered for the last projection (one per cursor read)."""
    if type(fields) is not dict:
        return _plain_projection(fields)
    items = tuple(fields.items())
    last = _last_projection[0]
    if last[0] is fields and last[1] == items:
        return last[2]
    verdict = _plain_projection(fields)
    _last_projection[0] = (fields, items, verdict)
    return verdict


def _project(
    doc: Any, fields: dict[str, Any], include: bool, keep_id: bool, copy: Callable[[Any], Any]
) -> Any:
    """mongomock-ng's `_project_by_spec` for a plain projection: the same keys in the same order
    (an included `_id` last, as mongomock puts it back), each value copied by `copy`."""
    if include:
        projected = {key: copy(item) for key, item in doc.items() if key in fields and key != "_id"}
        if keep_id and "_id" in doc:
            projected["_id"] = copy(doc["_id"])
        return projected
    projected = {key: copy(item) for key, item in doc.items() if key == "_id" or key not in fields}
    if not keep_id:
        projected.pop("_id", None)
    return projected


# Ids whose dict look-up in the store is exactly BSON equality with the stored `_id` (Python's `True == 1`
# and `1 == 1.0` are why numbers are not here).
_KEY_TYPES = frozenset({bson.ObjectId, str})


def _keyed_only(ids: Any) -> bool:
    """`_id: {$in: ids}` found by key answers the `_id` condition exactly: a list of ObjectIds or strings."""
    return type(ids) is list and all(type(i) in _KEY_TYPES for i in ids)


def _rest_matches(filter: dict[str, Any], doc: Any) -> bool:
    """Whether `doc`, found by its `_id`, meets the filter's other conditions, answered here only when
    each is a top-level `field: None` met by a missing or null value (the soft-delete scope `deletedAt:
    None` of every by-id read), or `field: <ObjectId or string>` met by an equal value of the same type
    (a shard key beside the `_id`). Anything else: False, and the caller asks mongomock's
    `filter_applies` (False means "not known here", never "no match": arrays, operators, other types)."""
    for field, wanted in filter.items():
        if field == "_id":
            continue
        if "." in field or field.startswith("$"):
            return False
        stored = doc.get(field)
        if wanted is None:
            if stored is not None:
                return False
        elif type(wanted) not in _KEY_TYPES or type(stored) is not type(wanted) or stored != wanted:
            return False
    return True


def _install_speedups() -> None:
    """Small fixes for mongomock-ng hot paths; 1 and 2 are active only for collections of our clients.

    1. A filter with a plain `_id` equality or `_id: {$in: [...]}` looks documents up by key instead of
       scanning (results in the order of the ids: MongoDB promises no order without a sort either).
    2. Cursor iteration in O(n) and lazy: stock `Cursor.__next__` copies the remaining results on every
       call and computes every match first; ours reads skip + limit documents of the result generator.
    3. `field: {$in: [ObjectId, …]}` on an ObjectId value is a set lookup: stock `$in` compares the value
       with every listed id (a batch of 500 creators made each document cost 500 BSON comparisons).
       Only that case, whose answer is plain equality of ObjectIds, so it is safe for every client (the
       filter's operator table is global); everything else keeps the stock code.
    4. Documents read back are copied (and made timezone-aware) by exact-type dispatch, sharing
       immutable leaves instead of `copy.copy`-ing each one: the same documents for a fraction of the
       cost (the money harness, nearly all reads, 39 s -> 27 s). Same answers, so safe for every client.
       For our clients also: a plain projection (top-level fields, all in or all out) copies only the
       fields it keeps, and a cursor of a `tz_aware` client copies and makes aware in one pass
       (`_Aware`) instead of copying, then rebuilding every document (issue 25: list pages).
    5. In-memory indexes of the collection's index set (app/core/embedded_index.py, installed here).
    They patch private methods, hence the pinned mongomock-ng version and tests/test_embedded.py.
    """
    if getattr(_SyncCollection._iter_documents, "speedup", False):
        return
    scan: Callable[[Any, Any], Any] = _SyncCollection._iter_documents
    step: Callable[[Any], Any] = _SyncCursor.__next__

    def enabled(collection: Any) -> bool:
        flag: bool = vars(collection.database.client).get("_speedups", False)
        return flag

    def _iter_documents(self: Any, filter: Any) -> Any:
        _id = filter.get("_id", _MISSING) if isinstance(filter, dict) else _MISSING
        if isinstance(_id, dict) and list(_id) == ["$in"] and enabled(self):
            store = self._store
            store._remove_expired_documents()  # once, not once per id and probe
            try:
                with store._rwlock.reader():
                    stored = store._documents
                    found = [doc for i in dict.fromkeys(_id["$in"]) if (doc := stored.get(i)) is not None]
            except TypeError:  # unhashable ids: fall back to the scan
                return scan(self, filter)
            if _keyed_only(_id["$in"]):
                return iter(
                    [doc for doc in found if _rest_matches(filter, doc) or filter_applies(filter, doc)]
                )
            return iter([doc for doc in found if filter_applies(filter, doc)])
        if (
            _id is _MISSING
            or isinstance(_id, dict | list | re.Pattern | bson.regex.Regex)
            or not enabled(self)
        ):
            return scan(self, filter)
        try:
            doc = self._store[_id]
        except (KeyError, TypeError):
            return iter(())
        keyed = type(_id) in _KEY_TYPES and _rest_matches(filter, doc)
        return iter([doc] if keyed or filter_applies(filter, doc) else [])

    def __next__(self: Any) -> Any:
        if not enabled(self.collection):
            return step(self)
        # Read lazily: `find_one` and `limit(n)` copy n documents, not every match (the index serves
        # sorts in order, app/core/embedded_index.py). Restarted when rewound or re-sorted.
        live = vars(self).get("_live")
        if live is None or live[0] is not self._factory or live[2] != self._emitted:
            skip = self._skip or 0
            stop = skip + abs(self._limit) if self._limit else None
            if self.collection.codec_options.tz_aware:  # copied aware in one pass (`_Aware`)
                docs = self.collection._get_dataset(self._spec, self._sort, self._projection, _Aware)
            else:
                docs = self._factory()
            live = self._live = [
                self._factory,
                itertools.islice(docs, skip + self._emitted, stop),
                self._emitted,
            ]
        doc = next(live[1])  # StopIteration ends the cursor
        self._emitted = live[2] = self._emitted + 1
        return _cast_document_class(doc, self.collection.codec_options.document_class)

    operators: dict[str, Any] = _filtering._filterer_inst._operator_map
    stock_in: Callable[[Any, Any], bool] = operators["$in"]
    # (the `$in` list, its ids as a set or None) of the last filter: one filter, many documents. Swapped
    # as one tuple, so engines on two threads never pair one list with the other's set.
    last: list[tuple[Any, set[Any] | None]] = [(None, None)]

    def in_op(value: Any, listed: Any) -> bool:
        if type(value) is bson.ObjectId and isinstance(listed, list):
            cached = last[0]
            if cached[0] is not listed:
                only_ids = all(type(item) is bson.ObjectId for item in listed)
                cached = last[0] = (listed, set(listed) if only_ids else None)
            if cached[1] is not None:
                return value in cached[1]
        return stock_in(value, listed)

    operators["$in"] = in_op

    copy_only_fields: Callable[..., Any] = _SyncCollection._copy_only_fields

    def _copy_only_fields(self: Any, doc: Any, fields: Any, container: Any, filter: Any = None) -> Any:
        aware = container is _Aware
        if aware or container is dict:
            copy = _copy_aware if aware else _copy_document
            if not fields:  # no projection: the whole document
                return copy(doc)
            plain = _plain_projection_of(fields) if enabled(self) else None  # stock for other clients
            if plain is not None:
                return _project(doc, fields, *plain, copy)
        if aware:  # mongomock's own projection, then aware as its cursor makes it
            projected = copy_only_fields(self, doc, fields, dict, filter=filter)
            return None if projected is None else _aware_document(projected)
        return copy_only_fields(self, doc, fields, container, filter=filter)

    _SyncCollection._copy_only_fields = _copy_only_fields  # type: ignore[method-assign]
    _helpers.make_datetime_timezone_aware_in_document = _aware_document
    _iter_documents.speedup = True  # type: ignore[attr-defined]
    # Deliberate monkeypatches of mongomock-ng's methods (see above); mypy rightly flags any such assignment.
    _SyncCollection._iter_documents = _iter_documents  # type: ignore[method-assign]
    _SyncCursor.__next__ = _SyncCursor.next = __next__  # type: ignore[method-assign]
    embedded_index.install(enabled)
