"""The rule plugin's own tests: each differential check fires on a planted difference between the engine
and mongod 7.0 (and stays quiet on agreement); the mongod models agree with the server's documented rules.

A planted violation is taken from the recorder before the test ends (`violations()`), so these tests pass
while showing that the same command in any other test would fail it.
"""

from datetime import datetime
from pathlib import Path

import pytest
from pymongo import IndexModel
from pymongo.errors import DuplicateKeyError

from app.core.embedded import EmbeddedAsyncClient
from tests.mongo_rules import model, plugin, semantics

pytestmark = pytest.mark.skipif(not plugin.ENABLED, reason="MONGO_RULES=0")


@pytest.fixture
async def db():
    client = EmbeddedAsyncClient(tz_aware=True, inline=True)
    plugin.REC.take()
    yield client["rules"]
    plugin.REC.take()
    await client.close()


def violations() -> list[str]:
    return [v.rule for v in plugin.REC.take()]


async def test_calls_are_attributed_past_every_engine_module(db):
    engine_modules = {path.name for path in plugin.ROOT.joinpath("app", "core").glob("embedded*.py")}
    assert {"embedded.py", "embedded_index.py", "embedded_rules.py"} <= engine_modules
    assert {Path(name).name for name in plugin.ENGINE_FILES} == engine_modules
    await db.c.insert_one({"_id": 1})
    seen: list[str] = []
    real = plugin.call_site
    plugin.call_site = lambda: seen.append(real()) or seen[-1]  # type: ignore[assignment]
    try:
        await db.c.find({"_id": 1}).to_list()
    finally:
        plugin.call_site = real
    assert seen and not any(site.startswith("app/core/embedded") for site in seen), seen


async def test_filter_matching_differently_fires(db):
    await db.c.insert_many([{"_id": 1, "x": True}, {"_id": 2, "x": 1}, {"_id": 3}])
    assert await db.c.count_documents({"x": 1}) == 2  # the engine: 1 == True; mongod: bool is not a number
    assert violations() == ["match.engine-differs"]
    await db.c.find({"x": {"$gte": None}}).to_list()  # mongod: null AND missing match
    assert violations() == ["match.engine-differs"]
    await db.c.find({"_id": {"$in": [1, 2]}, "x": {"$exists": True}}).to_list()
    assert violations() == []


async def test_sort_order_differing_fires(db):
    await db.s.insert_many([{"_id": 1, "v": [5, 1]}, {"_id": 2, "v": 3}])
    await db.s.find({}).sort("v", 1).to_list()  # mongod sorts an array by its smallest element
    assert violations() == ["sort.engine-order-differs"]
    await db.s.find({}).sort("_id", -1).to_list()
    assert violations() == []


async def test_post_image_differing_fires(db):
    await db.p.insert_one({"_id": 1, "n": 1})
    await db.p.update_one({"_id": 1}, {"$max": {"n": True}})  # mongod: a bool sorts after every number
    assert violations() == ["update.engine-result-differs"]
    await db.p.update_one({"_id": 1}, {"$inc": {"n": 1.5}, "$set": {"a.b": 1}})
    assert violations() == []


async def test_missed_and_false_duplicates_fire(db):
    await db.u.create_index("a.b", unique=True)
    await db.u.insert_one({"a": [{"b": 1}]})
    await db.u.insert_one({"a": {"b": 1}})  # mongod: both have the key 1
    assert violations() == ["index.unique-violation-missed"]
    # Sparse: the in-memory index's unique check (mongod's key order, true ≠ 1) leaves sparse indexes to
    # mongomock's scan, whose `True == 1` is the false duplicate the plugin must catch.
    await db.t.create_index("k", unique=True, sparse=True)
    await db.t.insert_one({"k": True})
    with pytest.raises(DuplicateKeyError):
        await db.t.insert_one({"k": 1})  # mongod: true and 1 are different keys
    assert violations() == ["index.engine-false-duplicate"]


async def test_static_rules_mongod_accepts_but_that_mislead_fire(db):
    await db.v.insert_one({"_id": 1})
    await db.v.update_one({"_id": 1}, {"$set": {"at": "$$NOW"}})
    await db.v.update_one({"_id": 1}, {"$set": {"half": {"$divide": ["$n", 2]}}})
    await db.v.find_one({"at": {"$lte": "$$NOW"}})
    await db.v.create_indexes([IndexModel([("a", 1), ("b", 1)], expireAfterSeconds=60)])
    assert violations() == [
        "update.variable-in-operator-update",
        "update.expression-in-operator-update",
        "filter.variable-outside-expr",
        "index.ttl-compound",
    ]


async def test_aggregate_and_distinct_are_checked_and_agree(db):
    await db.g.insert_many([{"k": "a", "n": 2}, {"k": "b", "n": 3}, {"k": "a", "n": 4}])
    rows = await (
        await db.g.aggregate([{"$match": {"n": {"$gt": 1}}}, {"$group": {"_id": "$k", "t": {"$sum": "$n"}}}])
    ).to_list()
    assert sorted((r["_id"], r["t"]) for r in rows) == [("a", 6), ("b", 3)]
    assert sorted(await db.g.distinct("k")) == ["a", "b"]
    assert violations() == []
    before = dict(plugin.REC.checked)
    await db.g.distinct("k", {"n": 2})
    assert plugin.REC.checked["distinct"] == before.get("distinct", 0) + 1


def test_mongod_models():
    """The models against mongod's documented answers."""
    assert semantics.match({"_id": 2}, {"x": {}}) is False
    assert semantics.match({"x": True}, {"x": 1}) is False
    assert semantics.match({"_id": 2}, {"x": None}) is True
    assert semantics.match({"x": [1, 5]}, {"x": 5}) is True
    assert semantics.match({"x": None}, {"x": {"$lte": datetime(2024, 1, 1)}}) is False
    assert semantics.match({"x": [1]}, {"x": {"$all": []}}) is False
    assert semantics.match({"x": [{"y": 1}]}, {"x.y": 1}) is True
    post = model.apply_update({"_id": 1, "n": 1}, {"$inc": {"n": 1.5}, "$set": {"a.b": 1}}, inserting=False)
    assert post == {"_id": 1, "n": 2.5, "a": {"b": 1}}
    pipeline = [{"$set": {"w": {"$add": ["$w", {"$floor": {"$divide": ["$n", 2]}}]}}}]
    post = model.apply_update({"_id": 1, "w": 10, "n": 9}, pipeline, inserting=False)
    assert post is not None and post["w"] == 14.0 and type(post["w"]) is float
    assert model.same({"w": 100.0}, {"w": 100}) is not None
    assert semantics.sort_documents([{"v": 3}, {"v": [5, 1]}], [("v", 1)]) == [{"v": [5, 1]}, {"v": 3}]


async def test_budget_is_per_call_site_and_command_shape(db):
    """Commands of one call site are budgeted by shape: values do not make a new shape, fields and
    operators do (a shared repository helper gets a budget for each command it sends)."""
    await db.b.insert_many([{"_id": i, "x": i} for i in range(3)])
    assert plugin.shape({"x": 1}) == plugin.shape({"x": 2}) != plugin.shape({"x": {"$gt": 1}})
    assert plugin.shape({"_id": {"$in": [1, 2]}}) == plugin.shape({"_id": {"$in": [3]}})
    before = plugin.REC.checked["filter"]
    for flt in ({"x": 1}, {"x": 2}, {"x": 3}, {"x": 4}, {"x": {"$gt": 1}}, {"y": 1}):
        await db.b.count_documents(flt)  # one call site, three shapes
    assert plugin.REC.checked["filter"] - before == min(4, plugin.CAP_PER_TEST, plugin.CAP) + 2
    assert violations() == []
