"""The embedded engine's `$group` of `$first` values per ObjectId key (`app.core.embedded._first_per_key`,
the latest funding per stream of `GET /funded`) answers exactly as mongomock-ng's own stages: same rows,
same key order in each row, same order of rows (ties included), or None where it leaves them the work."""

from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock_ng
import pytest
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st
from mongomock_ng.aggregate import process_pipeline

from app.core import embedded_fidelity
from app.core.embedded import EmbeddedAsyncClient, _first_per_key

embedded_fidelity.install()  # the stages as our engine runs them (a `$group` of nothing gives no row)
DATABASE = mongomock_ng.MongoClient()["db"]
KEYS = [ObjectId() for _ in range(4)]
TIMES = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n) for n in range(3)]  # ties on purpose

rows = st.lists(
    st.fixed_dictionaries(
        {"_id": st.builds(ObjectId), "streamId": st.sampled_from(KEYS), "at": st.sampled_from(TIMES)},
        optional={"by": st.sampled_from(KEYS)},
    ),
    max_size=20,
)
sorts = st.lists(
    st.tuples(st.sampled_from(["last", "_id", "by"]), st.sampled_from([1, -1])),
    max_size=3,
    unique_by=lambda x: x[0],
)


def stock(rows: list[dict[str, Any]], stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(process_pipeline([dict(row) for row in rows], DATABASE, stages, None))


@settings(max_examples=300, deadline=None)
@given(rows, st.booleans(), sorts, st.none() | st.integers(1, 6))
def test_same_rows_in_the_same_order_as_mongomock(
    rows: list[dict[str, Any]], with_by: bool, sort: list[tuple[str, int]], limit: int | None
) -> None:
    group: dict[str, Any] = {"_id": "$streamId", "last": {"$first": "$at"}}
    if with_by:
        group["by"] = {"$first": "$by"}
    stages: list[dict[str, Any]] = [{"$group": group}]
    if sort:
        stages.append({"$sort": dict(sort)})
    if limit is not None:
        stages.append({"$limit": limit})
    fast = _first_per_key(rows, stages)
    if fast is None:  # left to the stock stages: only for a missing field or a sort on one
        assert (with_by and any("by" not in row for row in rows)) or any(field == "by" for field, _ in sort)
        return
    expected = stock(rows, stages)
    assert [list(row.items()) for row in fast] == [list(row.items()) for row in expected]


@pytest.mark.parametrize(
    "stages",
    [
        [{"$group": {"_id": "$streamId", "n": {"$sum": 1}}}],
        [{"$group": {"_id": "$streamId", "last": {"$last": "$at"}}}],
        [{"$group": {"_id": "$a.b", "last": {"$first": "$at"}}}],
        [{"$group": {"_id": "$streamId", "last": {"$first": "$a.b"}}}],
        [{"$group": {"_id": "$streamId", "last": {"$first": "$at"}}}, {"$project": {"last": 1}}],
        [{"$group": {"_id": "$streamId", "last": {"$first": "$at"}}}, {"$limit": 0}],
        [{"$group": {"_id": "$streamId", "last": {"$first": "$at"}}}, {"$sort": {"other": 1}}],
        [{"$match": {}}],
    ],
)
def test_other_pipelines_are_left_to_mongomock(stages: list[dict[str, Any]]) -> None:
    rows = [{"_id": ObjectId(), "streamId": KEYS[0], "at": TIMES[0], "a": {"b": 1}}]
    assert _first_per_key(rows, stages) is None


def test_keys_and_values_it_cannot_order_are_left_to_mongomock() -> None:
    group = [{"$group": {"_id": "$k", "last": {"$first": "$v"}}}, {"$sort": {"last": -1}}]
    assert _first_per_key([{"k": "text", "v": TIMES[0]}], group) is None  # keys: ObjectIds only
    assert _first_per_key([{"v": TIMES[0]}], group) is None  # a missing key
    mixed = [{"k": KEYS[0], "v": TIMES[0]}, {"k": KEYS[1], "v": 3}]
    assert _first_per_key(mixed, group) is None  # values of two types under one sort
    naive = [{"k": KEYS[0], "v": TIMES[0]}, {"k": KEYS[1], "v": TIMES[1].replace(tzinfo=None)}]
    assert _first_per_key(naive, group) is None


async def test_the_engine_uses_it_for_a_leading_match_and_sort() -> None:
    client = EmbeddedAsyncClient(tz_aware=True, inline=True)
    coll = client["db"]["fundings"]
    a, b = ObjectId(), ObjectId()
    await coll.insert_many(
        [
            {"user": 1, "streamId": a, "at": TIMES[0]},
            {"user": 1, "streamId": b, "at": TIMES[1]},
            {"user": 1, "streamId": a, "at": TIMES[2]},
            {"user": 2, "streamId": b, "at": TIMES[2]},
        ]
    )
    pipeline = [
        {"$match": {"user": 1}},
        {"$sort": {"at": -1, "_id": -1}},
        {"$group": {"_id": "$streamId", "last": {"$first": "$at"}}},
        {"$sort": {"last": -1, "_id": -1}},
        {"$limit": 5},
    ]
    assert await (await coll.aggregate(pipeline)).to_list() == [
        {"last": TIMES[2], "_id": a},
        {"last": TIMES[1], "_id": b},
    ]
    await client.close()
