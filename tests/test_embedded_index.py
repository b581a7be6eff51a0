"""The embedded engine's in-memory indexes (app/core/embedded_index.py) answer exactly as mongomock's scan.

Two engines hold the same documents and indexes: the app's (index-backed plans) and a plain mongomock-ng
client (scan, copy, stable sort). Hypothesis drives random filters, sorts, skips, limits, counts and
writes (inserts, updates, replaces, deletes) against both and requires identical answers after every
step. Values avoid the two places where mongomock itself departs from mongod (booleans equal to 1/0,
an ObjectId equal to its string inside an array), where the index follows mongod.
"""

import asyncio
import os
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import mongomock_ng
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core import embedded_index
from app.core.embedded import EmbeddedAsyncClient

# Random histories per property: `make test` runs 80 (its time budget, issue 25); `make test-deep` (or
# INDEX_MAX_EXAMPLES=N) digs deeper.
MAX_EXAMPLES = int(os.environ.get("INDEX_MAX_EXAMPLES", "80"))

INDEXES = [
    IndexModel([("a", ASCENDING), ("t", DESCENDING), ("_id", DESCENDING)], name="a_t"),
    IndexModel([("b", DESCENDING), ("_id", ASCENDING)], name="b_desc"),
    IndexModel([("tags", ASCENDING), ("a", ASCENDING)], name="tags_a"),
    IndexModel([("n.x", ASCENDING)], sparse=True, name="nx_sparse"),
    IndexModel([("k", ASCENDING), ("a", ASCENDING)], name="k_a"),
    IndexModel([("t", ASCENDING)], partialFilterExpression={"b": {"$type": "string"}}, name="t_partial"),
]
UNIQUE = IndexModel([("u", ASCENDING), ("b", DESCENDING)], unique=True, name="u_unique")
BASE = datetime(2026, 1, 1)

numbers = st.sampled_from([0, 1, 2, 1.0, 2.5])
strings = st.sampled_from(["", "a", "ab", "b", "é"])
dates = st.integers(0, 3).map(lambda d: BASE + timedelta(days=d))
mixed = st.one_of(numbers, strings, dates, st.none(), st.just({"z": 1}), st.just([1, 2]), st.just([]))
FIELD_VALUES: dict[str, Any] = {
    "a": st.one_of(numbers, st.none()),
    "b": st.one_of(strings, st.none(), numbers),
    "t": st.one_of(dates, st.none()),
    "tags": st.one_of(st.lists(st.integers(0, 4), max_size=3), st.integers(0, 4)),
    "n": st.one_of(
        st.fixed_dictionaries({}, optional={"x": st.one_of(numbers, st.none())}), st.just([{"x": 1}])
    ),
    "k": mixed,
    # (no empty array: mongod indexes it as `undefined`, which the fidelity rules do not model)
    "u": st.one_of(st.integers(0, 12), st.lists(st.integers(0, 12), min_size=1, max_size=2)),
}
QUERY_FIELDS = ["a", "b", "t", "tags", "n.x", "k"]
SCALARS: dict[str, Any] = {
    "a": st.one_of(numbers, st.none()),
    "b": st.one_of(strings, st.none()),
    "t": st.one_of(dates, st.none()),
    "tags": st.integers(0, 4),
    "n.x": st.one_of(numbers, st.none()),
    "k": st.one_of(numbers, strings, dates, st.none()),
}


@st.composite
def documents(draw: Any) -> dict[str, Any]:
    # Most fields present, so that filters find something; any of them may be missing.
    missing = draw(st.sets(st.sampled_from(list(FIELD_VALUES)), max_size=2))
    return {field: draw(values) for field, values in FIELD_VALUES.items() if field not in missing}


@st.composite
def conditions(draw: Any, field: str) -> Any:
    value = SCALARS[field]
    kind = draw(st.sampled_from(["eq", "$eq", "$in", "range", "two", "$ne", "$exists", "$nin"]))
    if kind == "eq":
        return draw(value)
    if kind == "$in":
        return {"$in": draw(st.lists(value, max_size=3))}
    if kind == "$nin":
        return {"$nin": draw(st.lists(value, max_size=2))}
    if kind == "$exists":
        return {"$exists": draw(st.booleans())}
    if kind in ("$eq", "$ne"):
        return {kind: draw(value)}
    ops = draw(
        st.lists(
            st.sampled_from(["$gt", "$gte", "$lt", "$lte"]),
            min_size=1,
            max_size=2 if kind == "two" else 1,
            unique=True,
        )
    )
    return {op: draw(value.filter(lambda v: v is not None)) for op in ops}


@st.composite
def filters(draw: Any) -> dict[str, Any]:
    fields = draw(st.lists(st.sampled_from(QUERY_FIELDS), max_size=2, unique=True))
    found: dict[str, Any] = {field: draw(conditions(field)) for field in fields}
    if draw(st.integers(0, 5)) == 0:
        branches = draw(st.lists(st.sampled_from(QUERY_FIELDS), min_size=1, max_size=2))
        found["$or"] = [{field: draw(conditions(field))} for field in branches]
    return found


sorts = st.lists(
    st.tuples(st.sampled_from(["a", "t", "b", "_id", "k"]), st.sampled_from([1, -1])),
    max_size=3,
    unique_by=lambda item: item[0],
)


@st.composite
def projections(draw: Any) -> dict[str, Any] | None:
    """None (whole documents), plain ones (the engine's own fast path: top-level fields all in or all
    out, `_id` either way) and others mongomock answers itself (a dotted path)."""
    kind = draw(st.sampled_from(["none", "include", "exclude", "dotted"]))
    if kind == "none":
        return None
    names = draw(st.lists(st.sampled_from([*FIELD_VALUES, "missing"]), min_size=1, max_size=3, unique=True))
    flag = 0 if kind == "exclude" else draw(st.sampled_from([1, True]))
    projection: dict[str, Any] = dict.fromkeys(names, flag)
    if kind == "dotted":  # with a date, which mongomock's own code leaves naive: made aware after
        projection.update({"n.x": 1, "t": 1})
    if draw(st.booleans()):
        projection["_id"] = draw(st.sampled_from([0, 1, False, True]))
    return projection


@st.composite
def steps(draw: Any) -> tuple[str, dict[str, Any]]:
    kind = draw(
        st.sampled_from(
            ["find", "find", "find", "count", "update", "delete", "insert", "replace", "one_and_update"]
        )
    )
    step: dict[str, Any] = {"filter": draw(filters())}
    if kind == "find":
        step.update(sort=draw(sorts), skip=draw(st.integers(0, 3)), limit=draw(st.integers(0, 5)))
        step["projection"] = draw(projections())
    elif kind == "count":  # bounded like page totals (`limit`), or paged (`skip`)
        step.update(skip=draw(st.integers(0, 3)), limit=draw(st.one_of(st.none(), st.integers(1, 5))))
    elif kind in ("update", "one_and_update"):
        field = draw(st.sampled_from(list(FIELD_VALUES)))
        if draw(st.booleans()):
            step["update"] = {"$set": {field: draw(FIELD_VALUES[field])}}
        else:
            step["update"] = {"$unset": {field: ""}}
        step["many"] = draw(st.booleans())
        step["sort"] = draw(sorts)
    elif kind in ("insert", "replace"):
        step["doc"] = draw(documents())
    return kind, step


def engines(unique: bool = False) -> tuple[Any, Any]:
    indexed = EmbeddedAsyncClient(inline=True)._sync["db"]["things"]
    plain = mongomock_ng.MongoClient(tz_aware=True)["db"]["things"]
    for collection in (indexed, plain):
        collection.create_indexes([*INDEXES, UNIQUE] if unique else INDEXES)
    return indexed, plain


def run(collection: Any, kind: str, step: dict[str, Any]) -> Any:
    query = step["filter"]
    try:
        if kind == "find":
            cursor = collection.find(query, step["projection"])
            if step["sort"]:
                cursor = cursor.sort(step["sort"])
            # Field order too: mongomock's projection puts an included `_id` last.
            return [list(doc.items()) for doc in cursor.skip(step["skip"]).limit(step["limit"])]
        if kind == "count":
            window = {"skip": step["skip"], **({"limit": step["limit"]} if step["limit"] else {})}
            return collection.count_documents(query, **window)
        if kind == "update":
            method = collection.update_many if step["many"] else collection.update_one
            result = method(query, step["update"])
            return result.matched_count, result.modified_count
        if kind == "one_and_update":
            return collection.find_one_and_update(query, step["update"], sort=step["sort"] or None)
        if kind == "delete":
            return collection.delete_many(query).deleted_count
        if kind == "insert":
            return collection.insert_one(dict(step["doc"], _id=step["id"])).inserted_id
        if kind == "replace":
            return collection.replace_one(query, dict(step["doc"])).matched_count
    except Exception as exc:  # both engines must refuse alike
        return type(exc).__name__
    raise AssertionError(kind)


@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents(), min_size=3, max_size=25), st.lists(steps(), min_size=1, max_size=12))
def test_indexed_answers_equal_the_scan(
    initial: list[dict[str, Any]], plan: list[tuple[str, dict[str, Any]]]
) -> None:
    indexed, plain = engines(unique=True)
    for number, doc in enumerate(initial):
        assert run(indexed, "insert", {"filter": {}, "doc": doc, "id": number}) == run(
            plain, "insert", {"filter": {}, "doc": doc, "id": number}
        )
    for number, (kind, step) in enumerate(plan):
        step["id"] = 1000 + number
        assert run(indexed, kind, step) == run(plain, kind, step), (kind, step)
        # The state too, in insertion order, and every index answering its own full scan.
        assert list(indexed.find()) == list(plain.find())


def test_plans_use_the_index_and_counts_read_no_document() -> None:
    indexed, _ = engines()
    indexed.insert_many([{"_id": i, "a": i % 10, "t": BASE + timedelta(minutes=i)} for i in range(2000)])
    indexes = embedded_index.index_set(indexed)
    assert indexes is not None
    plan = indexes.plan({"a": 3, "t": {"$lt": BASE + timedelta(minutes=500)}}, [("t", -1), ("_id", -1)])
    assert plan is not None and plan.index.name == "a_t" and plan.sort_width == 2 and not plan.backward
    assert plan.count() == 50  # bounds, not a scan
    assert indexed.count_documents({"a": 3}) == 200
    newest = list(indexed.find({"a": 3}).sort([("t", -1), ("_id", -1)]).limit(2))
    assert [doc["_id"] for doc in newest] == [1993, 1983]
    oldest = list(indexed.find({"a": 3}).sort([("t", 1), ("_id", 1)]).limit(1))
    assert oldest[0]["_id"] == 3
    # No index for the field: mongod would scan, and so does the engine.
    assert indexes.plan({"zzz": 1}) is None


@pytest.mark.parametrize("direction", [1, -1])
def test_sorts_merged_across_in_bounds(direction: int) -> None:
    """`a: {$in: [...]}` then a sort on the next index field: each point's range is in order and the
    ranges are merged, equal sort keys across points in insertion order (mongomock's stable sort)."""
    indexed, plain = engines()
    docs = [{"_id": i, "a": i % 3, "t": BASE + timedelta(days=(i * 7) % 4), "k": i % 2} for i in range(40)]
    for collection in (indexed, plain):
        collection.insert_many(docs)
    indexes = embedded_index.index_set(indexed)
    assert indexes is not None
    for query, sort in (
        ({"a": {"$in": [0, 2]}}, [("t", direction)]),
        (
            {"a": {"$in": [0, 1, 2]}, "t": {"$gte": BASE + timedelta(days=1)}},
            [("t", direction), ("_id", direction)],
        ),
        ({"a": {"$in": [2, 0]}}, [("a", -direction), ("t", direction)]),
        ({"a": {"$in": [0, 2]}, "k": 1}, [("t", direction)]),
    ):
        plan = indexes.plan(query, sort)
        assert plan is not None and plan.served and len(plan.ranges) > 1, (query, sort)
        found = list(indexed.find(query).sort(sort).limit(25))
        assert [doc["_id"] for doc in found] == [doc["_id"] for doc in plain.find(query).sort(sort).limit(25)]


def test_a_narrow_plan_beats_walking_a_served_sort() -> None:
    """Like a guest's few streams among every stream's dates: the `k` bounds hold 3 documents, the
    served sort would walk 300 to find them; the engine reads the 3 and sorts them (as mongod would)."""
    indexed, plain = engines()
    docs = [
        {"_id": i, "a": 1, "t": BASE + timedelta(minutes=i), "k": i if i % 100 == 0 else "x"}
        for i in range(300)
    ]
    for collection in (indexed, plain):
        collection.insert_many(docs)
    indexes = embedded_index.index_set(indexed)
    assert indexes is not None
    query, sort = {"a": 1, "k": {"$in": [0, 100, 200]}}, [("t", -1), ("_id", -1)]
    plan = indexes.plan(query, sort)
    assert plan is not None and plan.index.name == "k_a" and not plan.served
    assert list(indexed.find(query).sort(sort)) == list(plain.find(query).sort(sort))
    # Covered by its bounds, a served sort stays: every entry it walks is an answer.
    served = indexes.plan({"a": 1}, sort)
    assert served is not None and served.served and served.index.name == "a_t"


def test_a_bounded_count_reads_no_more_than_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """`count_documents(..., limit=n)` (page totals, viewer counts) on a filter the bounds do not state
    whole checks candidates until n match, not every one of them."""
    indexed, plain = engines()
    docs = [{"_id": i, "a": 1, "b": "x", "t": BASE} for i in range(300)]
    for collection in (indexed, plain):
        collection.insert_many(docs)
    checked: list[Any] = []  # stored documents checked (planning checks values, not documents)
    applies = embedded_index.filter_applies

    def counted(filter: Any, doc: Any) -> bool:
        if "_id" in doc:
            checked.append(doc["_id"])
        return bool(applies(filter, doc))

    monkeypatch.setattr(embedded_index, "filter_applies", counted)
    query = {"a": 1, "b": "x"}  # `a` bounds it; `b` is checked on each candidate
    assert (
        indexed.count_documents(query, limit=5, skip=2) == plain.count_documents(query, limit=5, skip=2) == 5
    )
    assert len(checked) == 7
    assert indexed.count_documents({"a": 1}, limit=5) == 5  # covered: from the bounds


def test_writes_keep_the_index_in_step() -> None:
    indexed, _ = engines()
    indexed.insert_many([{"_id": i, "a": 1} for i in range(10)])
    indexed.update_many({"a": 1, "_id": {"$gte": 5}}, {"$set": {"a": 2}})
    indexed.delete_one({"_id": 0})
    assert indexed.count_documents({"a": 1}) == 4
    assert indexed.count_documents({"a": 2}) == 5
    indexed.drop()
    indexed.create_indexes(INDEXES)
    assert indexed.count_documents({"a": 2}) == 0


def test_concurrent_writers_through_the_adapter() -> None:
    """Tasks writing and reading at once through the async adapter (its worker thread) keep the
    index equal to the scan."""

    async def scenario() -> None:
        client = EmbeddedAsyncClient()
        collection = client["db"]["things"]
        await collection.create_indexes(INDEXES)

        async def writer(offset: int) -> None:
            for i in range(60):
                await collection.insert_one({"_id": offset + i, "a": i % 4, "t": BASE + timedelta(minutes=i)})
                await collection.update_many({"a": i % 4, "_id": {"$lt": offset + i}}, {"$inc": {"n.x": 1}})
                if i % 7 == 0:
                    await collection.delete_many({"a": 3, "_id": {"$lt": offset + i}})

        async def reader() -> None:
            for _ in range(60):
                docs = await collection.find({"a": 1}).sort([("t", -1), ("_id", -1)]).limit(5).to_list()
                assert all(doc["a"] == 1 for doc in docs)
                await asyncio.sleep(0)

        await asyncio.gather(*(writer(1000 * n) for n in range(4)), reader(), reader())
        sync = client._sync["db"]["things"]
        plain = mongomock_ng.MongoClient(tz_aware=True)["db"]["things"]
        plain.insert_many(list(sync.find()))
        for query in ({"a": 1}, {"a": {"$gte": 2}}, {"n.x": {"$gt": 3}}, {}):
            want = list(plain.find(query).sort([("t", -1), ("_id", -1)]))
            assert await collection.find(query).sort([("t", -1), ("_id", -1)]).to_list() == want
            assert await collection.count_documents(query) == len(want)
        await client.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("value", [float("nan"), b"bytes", {"sub": 1}, [[1]]])
def test_values_the_index_cannot_order_stay_findable(value: Any) -> None:
    indexed, plain = engines()
    for collection in (indexed, plain):
        collection.insert_many([{"_id": 1, "k": value, "a": 1}, {"_id": 2, "k": 2, "a": 1}])
    for query in ({"k": 2}, {"k": {"$gte": 0}}, {"k": value} if not isinstance(value, float) else {"a": 1}):
        assert list(indexed.find(query).sort("k", 1)) == list(plain.find(query).sort("k", 1))
        assert indexed.count_documents(query) == plain.count_documents(query)


@settings(max_examples=60, deadline=None)
@given(st.lists(documents(), min_size=1, max_size=25), st.lists(SCALARS["b"], max_size=4), st.data())
def test_grouped_counts_equal_the_pipeline(
    initial: list[dict[str, Any]], values: list[Any], data: Any
) -> None:
    """`$match` + `$group` by a field with `$sum: 1`, answered from index counts, as mongomock's pipeline."""
    client = EmbeddedAsyncClient(inline=True)
    indexed, plain = client._sync["db"]["things"], mongomock_ng.MongoClient(tz_aware=True)["db"]["things"]
    for collection in (indexed, plain):
        collection.create_indexes(INDEXES)
        collection.insert_many([dict(doc, _id=number) for number, doc in enumerate(initial)], ordered=False)
    match: dict[str, Any] = {"b": {"$in": values}}
    if data.draw(st.booleans()):
        match["_id"] = data.draw(
            st.one_of(st.integers(0, 30).map(lambda n: {"$gte": n}), st.just({"$ne": 3}))
        )
    pipeline = [{"$match": match}, {"$group": {"_id": "$b", "n": {"$sum": 1}}}]
    rows = embedded_index.group_counts(indexed, pipeline)
    if rows is not None:
        want = list(plain.aggregate(pipeline))
        assert rows_of(rows) == rows_of(want)
    cursor = asyncio.run(client["db"]["things"].aggregate(pipeline))
    got = asyncio.run(cursor.to_list())
    assert rows_of(got) == rows_of(plain.aggregate(pipeline))


@settings(max_examples=60, deadline=None)
@given(st.lists(documents(), min_size=1, max_size=25), filters(), sorts.filter(bool), st.integers(1, 6))
def test_match_then_sort_pipelines_equal_mongomock(
    initial: list[dict[str, Any]], match: dict[str, Any], sort: list[tuple[str, int]], limit: int
) -> None:
    """`$match`, `$sort` (read through the cursor, an index may serve it), then further stages: the
    rows of mongomock's own pipeline, in the same order."""
    client = EmbeddedAsyncClient(inline=True)
    plain = mongomock_ng.MongoClient(tz_aware=True)["db"]["things"]
    indexed = client._sync["db"]["things"]
    for collection in (indexed, plain):
        collection.create_indexes(INDEXES)
        collection.insert_many([dict(doc, _id=number) for number, doc in enumerate(initial)], ordered=False)
    pipeline = [
        {"$match": match},
        {"$sort": dict(sort)},
        {"$group": {"_id": "$a", "first": {"$first": "$_id"}, "n": {"$sum": 1}}},
        {"$sort": {"first": -1}},
        {"$limit": limit},
    ]
    try:
        want: Any = list(plain.aggregate(pipeline))
    except Exception as exc:
        want = type(exc).__name__
    try:
        got: Any = asyncio.run(asyncio.run(client["db"]["things"].aggregate(pipeline)).to_list())
    except Exception as exc:
        got = type(exc).__name__
    assert got == want


def rows_of(rows: Any) -> list[str]:
    return sorted(repr(sorted(row.items())) for row in rows)


TTL_NOW = BASE + timedelta(days=10)
ttl_dates = st.integers(-3, 3).map(lambda m: TTL_NOW - timedelta(seconds=60 + m))
ttl_values = st.one_of(
    ttl_dates,
    ttl_dates.map(lambda d: d.replace(tzinfo=UTC)),
    st.none(),
    strings,
    numbers,
    st.lists(st.one_of(ttl_dates, strings), max_size=3),
    ttl_dates.map(lambda d: {"z": d}),
)


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(
    st.lists(st.fixed_dictionaries({}, optional={"e": ttl_values}), min_size=1, max_size=25),
    st.lists(
        st.tuples(st.integers(-4, 4), st.fixed_dictionaries({}, optional={"e": ttl_values})), max_size=6
    ),
)
def test_ttl_expiry_from_the_index_equals_the_scan(
    initial: list[dict[str, Any]], steps: list[tuple[int, dict[str, Any]]]
) -> None:
    """TTL expiry read from the TTL index's entries (the engine) expires what mongomock's test of every
    stored document expires, at every clock and after inserts."""
    clock = [TTL_NOW - timedelta(days=1)]  # the engine also expires before a write's unique check
    with mock.patch("mongomock_ng.utcnow", lambda: clock[0].replace(tzinfo=UTC)):
        indexed, plain = engines()
        ttl = IndexModel([("e", ASCENDING)], expireAfterSeconds=60, name="e_ttl")
        for collection in (indexed, plain):
            collection.create_indexes([ttl])
            collection.insert_many([dict(doc, _id=number) for number, doc in enumerate(initial)])
        for number, (seconds, doc) in enumerate(steps):
            clock[0] = max(clock[0], TTL_NOW + timedelta(seconds=seconds))  # a clock never goes back
            assert list(indexed.find({"a": {"$gte": 0}})) == list(plain.find({"a": {"$gte": 0}}))
            assert list(indexed.find()) == list(plain.find())
            for collection in (indexed, plain):
                collection.insert_one(dict(doc, _id=100 + number))
        assert list(indexed.find()) == list(plain.find())
