"""pytest plugin: a test fails when a command it sends to the embedded engine breaks a mongod 7.0 rule
that needs the stored documents to see.

The engine itself refuses what mongod refuses by a command's arguments (app.core.embedded_rules) and
by the document an update meets (app.core.embedded_fidelity), always on. This plugin adds the costlier
differential checks, on in `make test` and CI (loaded by tests/conftest.py; `MONGO_RULES=0` turns it off
for a measurement). It wraps `EmbeddedCollection` / `EmbeddedCursor` (the app's only way to the engine)
and, on the engine's thread around each call:

* filters: a mongod-semantics matcher (tests.mongo_rules.semantics) against the engine's own matcher,
  on every stored document of the collection;
* sorts: the order mongod gives (BSON type brackets, arrays by min/max element) against the engine's;
* updates: the post-image mongod stores (tests.mongo_rules.model) against what the engine stored;
* unique indexes: re-checked with mongod's key rules after each write (a duplicate the engine missed),
  and a DuplicateKeyError the engine raised that mongod would not;
* aggregations and distinct: mongod's answer against the engine's;
* static rules mongod accepts but that do not do what the code means: a `$$VAR` or an expression in an
  operator update (stored literally), `$$VAR` compared outside `$expr`, a TTL option on a compound index
  (mongod ignores it: nothing ever expires).

Checks are capped per call site and command shape (the money harness repeats the same commands thousands
of times, and every test sends the same few hundred shapes), so each shape is judged in several states
and the cost stays moderate (docs/decisions.md, "Rule checks").
Findings are attributed to the test that runs; the test fails at the end of its call (or teardown)
with the call site and an example.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mongomock_ng import helpers as _mm_helpers
from mongomock_ng.collection import Collection as _SyncCollection
from mongomock_ng.filtering import filter_applies
from pymongo.errors import DuplicateKeyError

from app.core import embedded, embedded_rules
from tests.mongo_rules import model, semantics

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = str(ROOT / "app") + os.sep
# Every module of the engine adapter (embedded.py and its embedded_*.py parts: rules, fidelity, index,
# $$NOW, sessions): a call is attributed to the first frame outside them, or every call would share the
# budget of one engine line and the checks would stop after CAP calls per process.
ENGINE_FILES = {str(path) for path in (ROOT / "app" / "core").glob("embedded*.py")}
TESTS_DIR = str(ROOT / "tests") + os.sep
OWN_DIR = str(Path(__file__).resolve().parent) + os.sep
# Differential checks per (kind, call site, command shape): per test and per process. A shape is the
# command's structure (collection, operation, fields, operators and value types, not the values; `shape`):
# a shared helper (app/core/repository.py's `get` serves every collection) gets a budget per command it
# sends rather than one budget for all of them, and each shape is judged in a few states of a few tests
# instead of hundreds of times (the cost of `make test`, issue 25).
CAP = int(os.environ.get("MONGO_RULES_CAP", "10"))
CAP_PER_TEST = int(os.environ.get("MONGO_RULES_CAP_PER_TEST", "3"))
MAX_DOCS_SCANNED = 2000


@dataclass(frozen=True)
class Violation:
    rule: str
    site: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] at {self.site}: {self.message}"


class Recorder:
    """The violations of the running test, and per-site budgets of the differential checks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.violations: list[Violation] = []
        self.budget: Counter[tuple[str, str, Any]] = Counter()
        self.test_budget: Counter[tuple[str, str, Any]] = Counter()
        self.checked: Counter[str] = Counter()

    def allow(self, kind: str, site: str) -> bool:
        key = (kind, site, getattr(site, "shape", None))
        with self.lock:
            self.test_budget[key] += 1
            if self.test_budget[key] > CAP_PER_TEST:
                return False
            self.budget[key] += 1
            allowed = self.budget[key] <= CAP
            if allowed:
                self.checked[kind] += 1
            return allowed

    def add(self, rule: str, site: str, message: str) -> None:
        with self.lock:
            self.violations.append(Violation(rule, site, message[:600]))

    def new_test(self) -> None:
        with self.lock:
            self.test_budget.clear()
            self.violations = []

    def take(self) -> list[Violation]:
        with self.lock:
            found, self.violations = self.violations, []
        return found


REC = Recorder()


_FILE_KINDS: dict[str, tuple[int, str]] = {}  # filename -> (0 app, 1 tests, 2 other), relative path


def _file_kind(filename: str) -> tuple[int, str]:
    kind = _FILE_KINDS.get(filename)
    if kind is None:
        if filename.startswith(APP_DIR) and filename not in ENGINE_FILES:
            kind = (0, os.path.relpath(filename, ROOT))
        elif filename.startswith(TESTS_DIR) and not filename.startswith(OWN_DIR):
            kind = (1, os.path.relpath(filename, ROOT))
        else:
            kind = (2, "")
        _FILE_KINDS[filename] = kind
    return kind


def call_site() -> str:
    """The first frame in app/ outside the engine adapter, else the first in tests/ outside this plugin."""
    frame = sys._getframe(2)
    fallback = "<unknown>"
    while frame is not None:
        code = frame.f_code
        kind, path = _file_kind(code.co_filename)
        if kind == 0:
            return f"{path}:{frame.f_lineno} {code.co_name}"
        if kind == 1 and fallback == "<unknown>":
            fallback = f"{path}:{frame.f_lineno} {code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return fallback


class Site(str):
    """A call site (`call_site()`) with the shape of the command sent from it (`shape`)."""

    shape: Any = None


def at(site: str, *parts: Any, exact: Any = None) -> Site:
    """`site` marked with the shapes of `parts` and `exact` as it is (sort specs, field names)."""
    marked = Site(site)
    marked.shape = (tuple(shape(part) for part in parts), exact)
    return marked


def shape(value: Any, depth: int = 0) -> Any:
    """The structure of a command part: field names and operators kept, values reduced to their type
    (a list to the set of its items' shapes), so `{"_id": 1}` and `{"_id": 2}` are one shape and
    `{"_id": {"$in": [...]}}` another."""
    if depth > 6:
        return "…"
    if isinstance(value, Mapping):
        return tuple((_field(key), shape(item, depth + 1)) for key, item in value.items())
    if isinstance(value, list | tuple):
        return ("[]", frozenset(shape(item, depth + 1) for item in value[:20]))
    return type(value).__name__


_ID_IN_NAME = re.compile(r"[0-9a-f]{8,}|\d+")


@functools.lru_cache(maxsize=4096)
def _field(name: Any) -> Any:
    """A field name with the ids and numbers in it (`opInFlight.<movement id>`, `a.0`) made one name."""
    return _ID_IN_NAME.sub("#", name) if isinstance(name, str) else name


def short(value: Any, limit: int = 240) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _guarded(check: Callable[..., None]) -> Callable[..., None]:
    """A checker bug must not change what the app sees: it is reported as a violation of its own."""

    def run(*args: Any, **kwargs: Any) -> None:
        try:
            check(*args, **kwargs)
        except Exception as exc:
            REC.add(
                "checker.error", kwargs.get("site", "?"), f"{check.__name__}: {type(exc).__name__}: {exc}"
            )

    run.__name__ = check.__name__
    return run


# ------------------------------------------------------------------------------------------------------
# static rules mongod accepts but which do not do what the code means


def static_findings(op: str, b: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    update = b.get("update")
    if isinstance(update, Mapping):
        for operator in ("$set", "$setOnInsert", "$push", "$addToSet", "$min", "$max"):
            body = update.get(operator)
            for path, value in body.items() if isinstance(body, Mapping) else ():
                if isinstance(value, str) and value.startswith("$$"):
                    yield (
                        "update.variable-in-operator-update",
                        f"{operator}.{path} = {value!r} is stored as a literal string (variables exist only "
                        "in pipeline updates)",
                    )
                if (
                    semantics.is_operator_doc(value)
                    and next(iter(value)) in embedded_rules.EXPRESSION_OPERATORS
                ) and operator in ("$set", "$setOnInsert"):
                    yield (
                        "update.expression-in-operator-update",
                        f"{operator}.{path} = {short(value)} is stored as a document, not evaluated",
                    )
    yield from _filter_variables(b.get("filter"))
    ttl = op == "create_index" and b.get("expireAfterSeconds") is not None
    if ttl and len(embedded_rules.index_keys(b.get("keys"))) != 1:
        yield (
            "index.ttl-compound",
            f"{b.get('name')}: expireAfterSeconds on a compound index; mongod ignores it and never "
            "expires a document",
        )


def _filter_variables(flt: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(flt, Mapping):
        return
    for key, value in flt.items():
        if key in ("$and", "$or", "$nor") and isinstance(value, list):
            for entry in value:
                yield from _filter_variables(entry)
        elif isinstance(key, str) and not key.startswith("$"):
            operands = value.values() if semantics.is_operator_doc(value) else [value]
            for operand in operands:
                if isinstance(operand, str) and operand.startswith("$$"):
                    yield (
                        "filter.variable-outside-expr",
                        f"{key}: compares with the literal string {operand!r} (variables exist only in $expr)",
                    )


# ------------------------------------------------------------------------------------------------------
# differential checks, on the engine's thread


def _store_docs(sync: Any) -> list[Mapping[str, Any]]:
    return list(sync._store.documents)[:MAX_DOCS_SCANNED]


def _engine_filter(flt: Any) -> Any:
    """The filter as the engine matches it (datetimes made naive UTC, truncated to milliseconds)."""
    return _mm_helpers.patch_datetime_awareness_in_document(flt)


@_guarded
def filter_diff(sync: Any, flt: Any, *, where: str, site: str) -> None:
    if not isinstance(flt, Mapping) or not flt or not REC.allow("filter", site):
        return
    engine_filter = _engine_filter(flt)
    for doc in _store_docs(sync):
        mine = semantics.match(doc, flt)
        if mine is None:
            continue
        try:
            engine_says = bool(filter_applies(engine_filter, doc))
        except Exception:
            continue
        if engine_says != mine:
            REC.add(
                "match.engine-differs",
                site,
                f"{where}: filter {short(flt, 300)} {'matches' if mine else 'does not match'} on mongod, "
                f"{'matches' if engine_says else 'does not match'} on the engine: {short(doc, 300)}",
            )
            return


@_guarded
def sort_diff(sync: Any, flt: Any, sort: Any, *, where: str, site: str) -> None:
    pairs = embedded_rules.sort_pairs(sort)
    if not pairs or not all(isinstance(k, str) and semantics.is_number(d) for k, d in pairs):
        return
    if not REC.allow("sort", site):
        return
    spec = [(k, int(d)) for k, d in pairs]
    engine_order = list(sync.find(flt or {}, sort=spec))
    mongod_order = semantics.sort_documents(engine_order, spec)
    a = [semantics.sort_signature(d, spec) for d in engine_order]
    b = [semantics.sort_signature(d, spec) for d in mongod_order]
    if a != b:
        first = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
        REC.add(
            "sort.engine-order-differs",
            site,
            f"{where}: sort {spec}: position {first}: the engine has {short(engine_order[first], 200)}, "
            f"mongod {short(mongod_order[first], 200)}",
        )


def _targets(sync: Any, op: str, flt: Any, sort: Any) -> list[Any]:
    """The `_id`s of the stored documents the engine is about to modify."""
    if not isinstance(flt, Mapping):
        return []
    if op == "update_many":
        engine_filter = _engine_filter(flt)
        return [d["_id"] for d in _store_docs(sync) if filter_applies(engine_filter, d)]
    pairs = embedded_rules.sort_pairs(sort) if sort is not None else None
    cursor = sync.find(flt, sort=pairs) if pairs else sync.find(flt)
    return [doc["_id"] for doc in cursor.limit(1)]


def snapshots(sync: Any, op: str, b: Mapping[str, Any]) -> list[tuple[Any, dict[str, Any], bool]]:
    """(id, pre-image, inserting) of what an update is about to change."""
    ids = _targets(sync, op, b.get("filter"), b.get("sort"))
    if ids:
        return [(i, copy.deepcopy(sync._store[i]), False) for i in ids[:20] if i in sync._store]
    if b.get("upsert") and isinstance(b.get("filter"), Mapping):
        return [(None, upsert_seed(_engine_filter(b["filter"])), True)]
    return []


def upsert_seed(flt: Mapping[str, Any]) -> dict[str, Any]:
    """The document an upsert starts from: the filter's equality fields (top level and $and)."""
    seed: dict[str, Any] = {}

    def put(path: str, value: Any) -> None:
        node = seed
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def collect(node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            if key == "$and" and isinstance(value, list):
                for entry in value:
                    collect(entry)
            elif not key.startswith("$"):
                if not semantics.is_operator_doc(value):
                    put(key, value)
                elif "$eq" in value:
                    put(key, value["$eq"])

    collect(flt)
    return seed


@_guarded
def post_image_diff(
    sync: Any,
    b: Mapping[str, Any],
    before: list[tuple[Any, dict[str, Any], bool]],
    result: Any,
    *,
    where: str,
    site: str,
) -> None:
    update = b.get("update")
    if not before or not isinstance(update, Mapping | list):
        return
    engine_update = _engine_filter(update)
    for _id, pre, inserting in before:
        if inserting:
            _id = getattr(result, "upserted_id", None)
            if _id is None and isinstance(result, Mapping):
                _id = result.get("_id")
            if _id is None:
                continue
            pre = {**pre, "_id": _id}
        if _id not in sync._store:
            continue
        expected = model.apply_update(pre, engine_update, inserting=inserting)
        if expected is None:
            continue  # not modelled ($pull, positional paths, $$NOW...): no opinion
        difference = model.same(expected, sync._store[_id])
        if difference:
            REC.add(
                "update.engine-result-differs",
                site,
                f"{where}: mongod would store another value (mongod vs engine) at {difference}; update {short(update)}",
            )
            return


@_guarded
def aggregate_diff(sync: Any, pipeline: Any, engine_rows: list[Any], *, where: str, site: str) -> None:
    if not isinstance(pipeline, list) or not REC.allow("aggregate", site):
        return
    mine = model.run_pipeline(list(sync.find({})), pipeline)
    if mine is None:
        return
    names = [next(iter(stage)) for stage in pipeline]
    last_group = max((i for i, n in enumerate(names) if n == "$group"), default=-1)
    ordered = last_group == -1 or "$sort" in names[last_group:]
    difference = model.compare_outputs(list(engine_rows), mine, ordered)
    if difference:
        REC.add("aggregate.engine-result-differs", site, f"{where}: mongod vs engine: {difference}")


@_guarded
def distinct_diff(sync: Any, b: Mapping[str, Any], result: Any, *, where: str, site: str) -> None:
    key, flt = b.get("key"), b.get("filter") or {}
    if not isinstance(key, str) or not isinstance(result, list) or not REC.allow("distinct", site):
        return
    values: list[Any] = []
    for doc in _store_docs(sync):
        matched = semantics.match(doc, flt) if flt else True
        if matched is None:
            return
        if not matched:
            continue
        for value in semantics.resolve(doc, key).values:
            for item in value if isinstance(value, list | tuple) else [value]:
                if not any(semantics.equal(item, x) for x in values):
                    values.append(item)
    missing = [v for v in values if not any(semantics.equal(v, x) for x in result)]
    extra = [v for v in result if not any(semantics.equal(v, x) for x in values)]
    if missing or extra or len(result) != len(values):
        REC.add(
            "distinct.engine-result-differs",
            site,
            f"{where}: distinct {key!r}: mongod {len(values)} values, engine {len(result)} "
            f"(missing {short(missing, 120)}, extra {short(extra, 120)})",
        )


def _unique_indexes(sync: Any) -> list[Mapping[str, Any]]:
    return [ix for ix in sync._store.indexes.values() if ix.get("unique")]


def _keys_of(doc: Mapping[str, Any], index: Mapping[str, Any]) -> list[tuple[Any, ...]] | None:
    return semantics.index_keys(
        doc,
        list(index["key"]),
        sparse=bool(index.get("sparse")),
        partial=index.get("partialFilterExpression"),
    )


@_guarded
def unique_after_write(sync: Any, ids: list[Any], *, where: str, site: str) -> None:
    indexes = _unique_indexes(sync)
    if not ids or not indexes or not REC.allow("unique", site):
        return
    docs = _store_docs(sync)
    written = [(_id, sync._store[_id]) for _id in ids if _id in sync._store]
    for index in indexes:
        # every stored document's keys once, bucketed (`key_bucket`): a written document is compared with
        # the keys of its buckets only, so an insert_many of n rows costs ~n, not n x n, comparisons
        buckets: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], Mapping[str, Any]]]] = {}
        for other in docs:
            for key in _keys_of(other, index) or ():
                buckets.setdefault(semantics.key_bucket(key), []).append((key, other))
        for _id, doc in written:
            for mine in _keys_of(doc, index) or ():
                for theirs, other in buckets.get(semantics.key_bucket(mine), ()):
                    if other.get("_id") == _id and type(other.get("_id")) is type(_id):
                        continue
                    if semantics.key_equal(mine, theirs):
                        REC.add(
                            "index.unique-violation-missed",
                            site,
                            f"{where}: unique index {list(index['key'])}: mongod refuses (E11000); the "
                            f"engine stored {short(doc, 200)} beside {short(other, 200)}",
                        )
                        return


@_guarded
def false_duplicate(sync: Any, doc: Any, *, where: str, site: str) -> None:
    """The engine raised DuplicateKeyError on an insert: does mongod's key model agree?"""
    if not isinstance(doc, Mapping) or ("_id" in doc and doc["_id"] in sync._store):
        return
    for index in _unique_indexes(sync):
        mine = _keys_of(doc, index)
        if mine == []:
            return  # unsure
        for other in _store_docs(sync) if mine else ():
            theirs = _keys_of(other, index)
            if theirs == []:
                return
            if theirs and any(semantics.key_equal(x, y) for x in mine for y in theirs):
                return  # mongod refuses too
    REC.add(
        "index.engine-false-duplicate",
        site,
        f"{where}: the engine raised DuplicateKeyError; mongod's key rules find no clash for {short(doc, 300)}",
    )


# ------------------------------------------------------------------------------------------------------
# wrapping the adapter

WRITE_OPS = frozenset(
    {"update_one", "update_many", "find_one_and_update", "replace_one", "find_one_and_replace"}
)
FILTER_OPS = WRITE_OPS | {
    "find_one",
    "count_documents",
    "delete_one",
    "delete_many",
    "find_one_and_delete",
    "distinct",
}
SORTED_OPS = frozenset({"find_one", "find_one_and_update", "find_one_and_delete", "find_one_and_replace"})
WRAPPED = (
    "insert_one", "insert_many", "find_one", "update_one", "update_many", "replace_one", "delete_one",
    "delete_many", "find_one_and_update", "find_one_and_delete", "find_one_and_replace", "count_documents",
    "distinct", "create_index",
)  # fmt: skip
_inside = threading.local()  # set while a judged call runs: the engine's own inner calls are not judged


def judged(
    op: str, sync: Any, call: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The engine call `op` (on the engine's thread), with the differential checks around it."""
    b = embedded_rules.bind(op, args, kwargs)
    where = f"{sync.name}.{op}"
    document = b.get("document")
    keys = tuple(document) if isinstance(document, Mapping) else None
    site = at(call_site(), b.get("filter"), b.get("update"), exact=(where, repr(b.get("sort")), keys))
    for rule, message in static_findings(op, b):
        REC.add(rule, site, f"{where}: {message}")
    flt = b.get("filter")
    if op == "find_one" and flt is not None and not isinstance(flt, Mapping):
        flt = {"_id": flt}
    if op in FILTER_OPS:
        filter_diff(sync, flt, where=where, site=site)
    if op in SORTED_OPS and b.get("sort") is not None:
        sort_diff(sync, flt, b["sort"], where=where, site=site)
    modelled = op in WRITE_OPS and b.get("update") is not None and REC.allow("post-image", site)
    before = snapshots(sync, op, b) if modelled else []
    ids = [i for i, _, inserting in before if not inserting]
    try:
        result = call(sync, *args, **kwargs)
    except DuplicateKeyError:
        if op == "insert_one":
            false_duplicate(sync, b.get("document"), where=where, site=site)
        raise
    written: list[Any] = []
    if op == "insert_one":
        written = [result.inserted_id]
    elif op == "insert_many":
        written = list(result.inserted_ids)
    elif op in WRITE_OPS:
        written = list(ids)
        upserted = getattr(result, "upserted_id", None)
        if upserted is not None:
            written.append(upserted)
        if isinstance(result, Mapping) and "_id" in result and result["_id"] not in written:
            written.append(result["_id"])
    if before:
        post_image_diff(sync, b, before, result, where=where, site=site)
    if op == "distinct":
        distinct_diff(sync, b, result, where=where, site=site)
    if written:
        unique_after_write(sync, written, where=where, site=site)
    return result


def install() -> None:
    """Wrap the engine's collection methods (what the adapter finally calls, whatever it does before) and
    the adapter's cursor read and aggregation."""
    if getattr(_SyncCollection, "_mongo_rules", False):
        return
    for op in WRAPPED:

        def make(op: str, stock: Callable[..., Any]) -> Callable[..., Any]:
            def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                if getattr(_inside, "busy", False):
                    return stock(self, *args, **kwargs)
                _inside.busy = True
                try:
                    return judged(op, self, stock, args, kwargs)
                finally:
                    _inside.busy = False

            method.__name__ = method.__qualname__ = op
            return method

        setattr(_SyncCollection, op, make(op, getattr(_SyncCollection, op)))

    cls = embedded.EmbeddedCollection
    original_aggregate = cls._aggregate

    def _aggregate(self: Any, pipeline: list[Any]) -> list[Any]:
        where = f"{self.name}.aggregate"
        site = at(call_site(), pipeline, exact=where)
        _inside.busy = True
        try:
            if pipeline and isinstance(pipeline[0], Mapping) and "$match" in pipeline[0]:
                filter_diff(self._sync, pipeline[0]["$match"], where=where, site=site)
            rows: list[Any] = original_aggregate(self, pipeline)
            aggregate_diff(self._sync, pipeline, rows, where=where, site=site)
        finally:
            _inside.busy = False
        return rows

    cls._aggregate = _aggregate  # type: ignore[method-assign]

    cursor_cls = embedded.EmbeddedCursor
    original_read = cursor_cls._read

    def _read(self: Any) -> Any:
        if self._find is None:
            return original_read(self)
        sync, args, kwargs = self._find
        b = embedded_rules.bind("find", args, kwargs)
        where = f"{sync.name}.find"
        sorts = [option_args for name, option_args, _ in self._options if name == "sort"]
        sort = sorts[-1][0] if sorts else b.get("sort")
        site = at(call_site(), b.get("filter"), exact=(where, repr(sort)))
        _inside.busy = True
        try:
            filter_diff(sync, b.get("filter"), where=where, site=site)
            if sort is not None:
                sort_diff(sync, b.get("filter"), sort, where=where, site=site)
            return original_read(self)
        finally:
            _inside.busy = False

    cursor_cls._read = _read  # type: ignore[method-assign]
    _SyncCollection._mongo_rules = True  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------------------
# pytest hooks

ENABLED = os.environ.get("MONGO_RULES", "1") != "0"


def pytest_configure(config: pytest.Config) -> None:
    if ENABLED:
        install()


def pytest_runtest_setup(item: pytest.Item) -> None:
    REC.new_test()


def _fail_on_violations(when: str) -> None:
    found = REC.take()
    if found:
        lines = "\n".join(f"  {v}" for v in dict.fromkeys(map(str, found)))
        pytest.fail(f"mongod 7.0 rules broken during {when} (tests/mongo_rules):\n{lines}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    _fail_on_violations("the test")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    result = yield
    _fail_on_violations("teardown")
    return result


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ENABLED and REC.checked:
        checked = ", ".join(f"{kind} {n}" for kind, n in sorted(REC.checked.items()))
        terminalreporter.write_line(f"mongo rules (this process): {checked}")
