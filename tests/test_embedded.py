"""Contract of the embedded engine: the PyMongo-async behaviours the repositories rely on.

Each contract test runs on the embedded adapter and, when `MONGODB_TEST_URL` is set, on a real
MongoDB too, so a difference between the two shows up as a failing pair. Tests about the adapter
itself (sessions refused, the by-`_id` speed-up) run on the embedded engine only.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import mongomock_ng
import pytest
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError, InvalidOperation

from app.core.embedded import EmbeddedAsyncClient
from tests.conftest import MONGODB_TEST_URL

ENGINES = ["embedded", *(["mongodb"] if MONGODB_TEST_URL else [])]


@pytest.fixture(params=ENGINES)
async def mdb(request) -> AsyncIterator[Any]:
    name = f"contract_{uuid.uuid4().hex[:12]}"
    if request.param == "embedded":
        client: Any = EmbeddedAsyncClient(tz_aware=True)
    else:
        client = AsyncMongoClient(MONGODB_TEST_URL, tz_aware=True, serverSelectionTimeoutMS=5000)
    try:
        yield client[name]
    finally:
        if request.param == "mongodb":
            await client.drop_database(name)
        await client.close()


@pytest.fixture
async def embedded() -> AsyncIterator[EmbeddedAsyncClient]:
    client = EmbeddedAsyncClient(tz_aware=True)
    yield client
    await client.close()


async def names(cursor) -> list[str]:
    return [doc["name"] async for doc in cursor]


class TestFind:
    @pytest.fixture
    async def people(self, mdb):
        await mdb.people.insert_many(
            [
                {"name": "ada", "age": 36, "team": "b", "deletedAt": None},
                {"name": "bob", "age": 25, "team": "a", "deletedAt": None},
                {"name": "cy", "age": 25, "team": "b"},
                {"name": "dee", "age": 41, "team": "a", "deletedAt": datetime(2026, 1, 1, tzinfo=UTC)},
                {"name": "eve", "age": 30, "team": "a", "deletedAt": None},
            ]
        )
        return mdb.people

    async def test_sort_skip_limit(self, people):
        cursor = people.find({}).sort([("age", ASCENDING), ("name", DESCENDING)]).skip(1).limit(3)
        assert await names(cursor) == ["bob", "eve", "ada"]

    async def test_soft_delete_filter_matches_null_and_missing(self, people):
        assert sorted(await names(people.find({"deletedAt": None}))) == ["ada", "bob", "cy", "eve"]

    async def test_to_list_length_and_projection(self, people):
        cursor = people.find({"team": "a"}, {"_id": 0, "name": 1}).sort("name", ASCENDING)
        assert await cursor.to_list(2) == [{"name": "bob"}, {"name": "dee"}]
        assert await cursor.to_list() == [{"name": "eve"}]

    async def test_find_one_and_count(self, people):
        assert (await people.find_one({"name": "cy"}))["age"] == 25
        assert await people.find_one({"name": "nobody"}) is None
        assert await people.count_documents({"age": {"$gte": 30}}) == 3
        assert await people.count_documents({"team": "a", "deletedAt": None}) == 2
        assert await people.count_documents({}) == 5

    async def test_in_or_regex(self, people):
        query = {"$or": [{"name": {"$regex": "^A", "$options": "i"}}, {"age": {"$in": [41, 30]}}]}
        assert sorted(await names(people.find(query))) == ["ada", "dee", "eve"]


class TestUpdates:
    async def test_conditional_find_one_and_update(self, mdb):
        _id = (await mdb.wallets.insert_one({"credits": 10})).inserted_id
        after = await mdb.wallets.find_one_and_update(
            {"_id": _id, "credits": {"$gte": 7}},
            {"$inc": {"credits": -7}},
            return_document=ReturnDocument.AFTER,
        )
        assert after["credits"] == 3
        refused = await mdb.wallets.find_one_and_update(
            {"_id": _id, "credits": {"$gte": 7}},
            {"$inc": {"credits": -7}},
            return_document=ReturnDocument.AFTER,
        )
        assert refused is None
        before = await mdb.wallets.find_one_and_update({"_id": _id}, {"$inc": {"credits": 5}})
        assert before["credits"] == 3
        assert (await mdb.wallets.find_one({"_id": _id}))["credits"] == 8

    async def test_projection_on_find_one_and_update(self, mdb):
        _id = (await mdb.wallets.insert_one({"credits": 1, "secret": "x"})).inserted_id
        doc = await mdb.wallets.find_one_and_update(
            {"_id": _id},
            {"$inc": {"credits": 1}},
            projection={"credits": 1},
            return_document=ReturnDocument.AFTER,
        )
        assert doc == {"_id": _id, "credits": 2}

    async def test_upsert_with_set_on_insert(self, mdb):
        for minute in (15, 30):
            await mdb.reminders.update_one(
                {"userId": 1, "streamId": 2},
                {"$set": {"minute": minute}, "$setOnInsert": {"createdAt": "first"}},
                upsert=True,
            )
        docs = await mdb.reminders.find({}, {"_id": 0}).to_list()
        assert docs == [{"userId": 1, "streamId": 2, "minute": 30, "createdAt": "first"}]

    async def test_find_one_and_update_upsert_returns_new_document(self, mdb):
        doc = await mdb.counters.find_one_and_update(
            {"_id": "views"}, {"$inc": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        assert doc == {"_id": "views", "n": 1}

    async def test_push_each_slice_keeps_the_last_n(self, mdb):
        _id = (await mdb.users.insert_one({"appliedTxs": []})).inserted_id
        for batch in ([1, 2, 3], [4, 5], [6]):
            await mdb.users.update_one(
                {"_id": _id}, {"$push": {"appliedTxs": {"$each": batch, "$slice": -4}}}
            )
        assert (await mdb.users.find_one({"_id": _id}))["appliedTxs"] == [3, 4, 5, 6]

    async def test_ne_on_array_member(self, mdb):
        _id = (await mdb.users.insert_one({"appliedTxs": ["a", "b"]})).inserted_id
        assert await mdb.users.find_one({"_id": _id, "appliedTxs": {"$ne": "a"}}) is None
        assert await mdb.users.find_one({"_id": _id, "appliedTxs": {"$ne": "c"}}) is not None

    async def test_concurrent_conditional_decrements_never_overspend(self, mdb):
        _id = (await mdb.wallets.insert_one({"credits": 100})).inserted_id

        async def spend() -> bool:
            doc = await mdb.wallets.find_one_and_update(
                {"_id": _id, "credits": {"$gte": 1}}, {"$inc": {"credits": -1}}
            )
            return doc is not None

        outcomes = await asyncio.gather(*(spend() for _ in range(300)))
        assert outcomes.count(True) == 100
        assert (await mdb.wallets.find_one({"_id": _id}))["credits"] == 0


class TestAggregate:
    async def test_group_sort(self, mdb):
        await mdb.views.insert_many(
            [{"creator": "a", "viewer": v} for v in (1, 2, 2, 3)]
            + [{"creator": "b", "viewer": v} for v in (1, 1)]
        )
        cursor = await mdb.views.aggregate(
            [
                {"$group": {"_id": "$creator", "viewers": {"$addToSet": "$viewer"}, "views": {"$sum": 1}}},
                {"$project": {"unique": {"$size": "$viewers"}, "views": 1}},
                {"$sort": {"unique": -1, "_id": 1}},
            ]
        )
        assert await cursor.to_list() == [
            {"_id": "a", "views": 4, "unique": 3},
            {"_id": "b", "views": 2, "unique": 1},
        ]

    async def test_lookup(self, mdb):
        users = await mdb.users.insert_many([{"name": "ada"}, {"name": "bob"}])
        ada, bob = users.inserted_ids
        await mdb.streams.insert_many([{"title": "s1", "creatorId": ada}, {"title": "s2", "creatorId": bob}])
        cursor = await mdb.streams.aggregate(
            [
                {"$match": {"creatorId": {"$in": [ada, bob]}}},
                {
                    "$lookup": {
                        "from": "users",
                        "localField": "creatorId",
                        "foreignField": "_id",
                        "as": "creator",
                    }
                },
                {"$unwind": "$creator"},
                {"$sort": {"title": 1}},
                {"$project": {"_id": 0, "title": 1, "creator": "$creator.name"}},
            ]
        )
        assert [doc async for doc in cursor] == [
            {"title": "s1", "creator": "ada"},
            {"title": "s2", "creator": "bob"},
        ]


class TestIndexes:
    async def test_duplicate_key_error_names_the_key(self, mdb):
        await mdb.users.create_index([("usernameLower", ASCENDING)], unique=True, name="username_unique")
        await mdb.users.insert_one({"usernameLower": "ada"})
        with pytest.raises(DuplicateKeyError) as caught:
            await mdb.users.insert_one({"usernameLower": "ada"})
        assert caught.value.code == 11000
        assert caught.value.details["keyPattern"] == {"usernameLower": 1}
        assert caught.value.details["keyValue"] == {"usernameLower": "ada"}

    async def test_duplicate_on_update_too(self, mdb):
        await mdb.users.create_index("usernameLower", unique=True)
        await mdb.users.insert_many([{"usernameLower": "ada"}, {"usernameLower": "bob"}])
        with pytest.raises(DuplicateKeyError):
            await mdb.users.find_one_and_update({"usernameLower": "bob"}, {"$set": {"usernameLower": "ada"}})

    async def test_partial_unique_index(self, mdb):
        await mdb.live_streams.create_indexes(
            [
                IndexModel(
                    [("creatorId", ASCENDING)],
                    unique=True,
                    partialFilterExpression={"status": "active"},
                    name="one_active_per_creator",
                )
            ]
        )
        creator = ObjectId()
        await mdb.live_streams.insert_many([{"creatorId": creator, "status": "ended"} for _ in range(2)])
        first = (await mdb.live_streams.insert_one({"creatorId": creator, "status": "active"})).inserted_id
        with pytest.raises(DuplicateKeyError):
            await mdb.live_streams.insert_one({"creatorId": creator, "status": "active"})
        await mdb.live_streams.insert_one({"creatorId": ObjectId(), "status": "active"})
        await mdb.live_streams.update_one({"_id": first}, {"$set": {"status": "ended"}})
        await mdb.live_streams.insert_one(
            {"creatorId": creator, "status": "active"}
        )  # the slot is free again

    async def test_create_indexes_is_idempotent_and_listed(self, mdb):
        model = IndexModel([("a", ASCENDING), ("b", DESCENDING)], name="a_b")
        for _ in range(2):
            assert await mdb.things.create_indexes([model]) == ["a_b"]
        info = await mdb.things.index_information()
        assert set(info) == {"_id_", "a_b"} and info["a_b"]["key"] == [("a", 1), ("b", -1)]
        listed = await (await mdb.things.list_indexes()).to_list()
        assert sorted(index["name"] for index in listed) == ["_id_", "a_b"]


class TestDatetimes:
    async def test_aware_utc_round_trip_truncated_to_milliseconds(self, mdb):
        sent = datetime(2026, 1, 15, 10, 30, 0, 123_456, tzinfo=UTC)
        await mdb.events.insert_one({"_id": 1, "at": sent})
        back = (await mdb.events.find_one({"_id": 1}))["at"]
        assert back.tzinfo is not None and back.utcoffset() == timedelta(0)
        assert back == sent.replace(microsecond=123_000)

    async def test_other_offsets_are_stored_as_the_same_instant(self, mdb):
        istanbul = datetime(2026, 1, 15, 13, 30, tzinfo=timezone(timedelta(hours=3)))
        await mdb.events.insert_one({"_id": 1, "at": istanbul})
        back = (await mdb.events.find_one({"_id": 1}))["at"]
        assert back == datetime(2026, 1, 15, 10, 30, tzinfo=UTC)
        assert (
            await mdb.events.count_documents({"at": {"$gte": datetime(2026, 1, 15, 10, 30, tzinfo=UTC)}}) == 1
        )


async def test_ping_command(mdb):
    assert (await mdb.command("ping"))["ok"] == 1.0


class TestSessions:
    """Causally consistent sessions (app.core.sessions) run the same code on both engines."""

    async def test_causal_session_reads_its_writes(self, mdb):
        async with mdb.client.start_session(causal_consistency=True) as session:
            assert session.options.causal_consistency is True
            await mdb.things.insert_one({"_id": 1, "n": 1}, session=session)
            await mdb.things.update_one({"_id": 1}, {"$inc": {"n": 1}}, session=session)
            assert (await mdb.things.find_one({"_id": 1}, session=session))["n"] == 2
            assert [d["n"] async for d in mdb.things.find({}, session=session)] == [2]
            assert await mdb.things.count_documents({}, session=session) == 1
            assert session.operation_time is not None  # advanced by every operation

    async def test_ended_session_is_refused(self, mdb):
        session = mdb.client.start_session(causal_consistency=True)
        await session.end_session()
        assert session.has_ended
        with pytest.raises(InvalidOperation):
            await mdb.things.find_one({}, session=session)

    async def test_session_of_another_client_is_refused(self, mdb):
        embedded = isinstance(mdb.client, EmbeddedAsyncClient)
        other = EmbeddedAsyncClient(tz_aware=True) if embedded else AsyncMongoClient(MONGODB_TEST_URL)
        try:
            with pytest.raises(InvalidOperation):
                await mdb.things.insert_one({"x": 1}, session=other.start_session())
        finally:
            await other.close()


class TestAdapterOnly:
    async def test_transactions_are_refused(self, embedded):
        session = embedded.start_session(causal_consistency=True)
        assert not session.in_transaction
        with pytest.raises(NotImplementedError):
            session.start_transaction()
        with pytest.raises(NotImplementedError):
            await session.with_transaction(lambda s: None)
        with pytest.raises(NotImplementedError):
            embedded.start_session(snapshot=True)

    async def test_change_streams_are_refused(self, embedded):
        with pytest.raises(NotImplementedError):
            await embedded["db"]["things"].watch()

    async def test_async_context_manager_and_drop_database(self):
        async with EmbeddedAsyncClient() as client:
            await client["db1"].things.insert_one({"x": 1})
            assert "db1" in await client.list_database_names()
            await client.drop_database("db1")
            assert await client["db1"].things.count_documents({}) == 0


class TestByIdSpeedup:
    """The by-`_id` shortcut must answer exactly like the scan it replaces."""

    @pytest.fixture
    async def coll(self, embedded):
        coll = embedded["db"]["things"]
        await coll.insert_many(
            [{"_id": i, "kind": "even" if i % 2 == 0 else "odd", "n": i} for i in range(10)]
        )
        await coll.insert_one({"_id": ObjectId("64d15f9e2e6c8f4d5a123456"), "kind": "oid"})
        return coll

    async def test_plain_id(self, coll):
        assert (await coll.find_one({"_id": 4}))["n"] == 4
        assert (await coll.find_one({"_id": ObjectId("64d15f9e2e6c8f4d5a123456")}))["kind"] == "oid"

    async def test_extra_filters_still_apply(self, coll):
        assert await coll.find_one({"_id": 4, "kind": "odd"}) is None
        assert await coll.find_one({"_id": 4, "kind": "even", "n": {"$gt": 3}}) is not None
        assert await coll.find_one({"_id": 4, "deletedAt": None}) is not None
        assert await coll.find_one({"_id": 4, "deletedAt": {"$ne": None}}) is None

    async def test_missing_and_unhashable_ids(self, coll):
        assert await coll.find_one({"_id": 99}) is None
        assert await coll.find_one({"_id": ObjectId()}) is None
        assert await coll.find_one({"_id": "4"}) is None
        assert await coll.find_one({"_id": {"nested": 1}}) is None

    async def test_id_in_is_looked_up_by_key(self, coll):
        assert await coll.count_documents({"_id": {"$in": [1, 2, 99]}}) == 2
        assert await coll.count_documents({"_id": {"$in": [1, 1, 2]}}) == 2
        assert sorted(d["n"] for d in await coll.find({"_id": {"$in": [3, 4]}, "kind": "odd"}).to_list()) == [
            3
        ]
        assert await coll.count_documents({"_id": {"$in": [{"unhashable": 1}]}}) == 0

    async def test_in_over_object_ids_answers_like_stock_in(self, coll):
        """The set lookup for `$in` over ObjectIds (speed-up 3) against the cases it must leave alone."""
        a, b, c = ObjectId(), ObjectId(), ObjectId()
        await coll.insert_many(
            [{"kind": "ref", "ref": a}, {"kind": "ref", "ref": b}, {"kind": "ref", "ref": [a, c]},
             {"kind": "ref", "ref": None}, {"kind": "ref"}, {"kind": "ref", "ref": str(a)}]
        )  # fmt: skip

        async def count(listed: list[Any]) -> int:
            return await coll.count_documents({"kind": "ref", "ref": {"$in": listed}})

        assert await count([a]) == 2  # the plain value and the array holding it
        assert await count([b, c]) == 2
        assert await count([ObjectId()]) == 0
        assert await count([a, None]) == 4  # None also matches null and a missing field
        assert await count([str(a)]) == 1  # a string is not the ObjectId it spells
        assert await count([a, str(a)]) == 3
        assert await coll.count_documents({"kind": "ref", "ref": {"$nin": [a, b]}}) == 3

    async def test_aggregate_with_leading_match(self, coll):
        cursor = await coll.aggregate(
            [{"$match": {"kind": "even"}}, {"$group": {"_id": "$kind", "total": {"$sum": "$n"}}}]
        )
        assert await cursor.to_list() == [{"_id": "even", "total": 20}]
        empty = await coll.aggregate([{"$match": {"kind": "none"}}, {"$sort": {"n": 1}}])
        assert await empty.to_list() == []

    async def test_operators_on_id_fall_back_to_the_scan(self, coll):
        assert await coll.count_documents({"_id": {"$gte": 7, "$lt": 100}}) == 3
        assert await coll.count_documents({"_id": [1, 2]}) == 0

    async def test_writes_by_id(self, coll):
        assert (await coll.update_one({"_id": 3, "kind": "even"}, {"$set": {"x": 1}})).matched_count == 0
        assert (await coll.update_one({"_id": 3, "kind": "odd"}, {"$set": {"x": 1}})).modified_count == 1
        assert (await coll.delete_one({"_id": 5, "kind": "even"})).deleted_count == 0
        assert (await coll.delete_one({"_id": 5})).deleted_count == 1
        assert await coll.count_documents({}) == 10

    async def test_cursor_iteration_with_skip_and_limit(self, coll):
        cursor = coll.find({"kind": {"$in": ["even", "odd"]}}).sort("n", DESCENDING).skip(2).limit(3)
        assert [doc["n"] async for doc in cursor] == [7, 6, 5]
        every = coll.find({}).sort("_id", ASCENDING)
        assert len([doc async for doc in every]) == 11
        assert [
            doc["n"] async for doc in coll.find({"n": {"$exists": True}}).sort("n", ASCENDING).skip(8)
        ] == [8, 9]

    async def test_same_answers_as_a_stock_engine(self, coll):
        stock = mongomock_ng.MongoClient()["db"]["things"]  # no speed-ups: not one of our clients
        stock.insert_many(await coll.find({}).to_list())
        queries: list[dict[str, Any]] = [
            {"_id": 2}, {"_id": 2, "kind": "odd"}, {"_id": 99}, {"_id": {"$in": [1, 8]}}, {"kind": "even"},
        ]  # fmt: skip
        for query in queries:
            assert await coll.find(query).sort("_id", ASCENDING).to_list() == list(
                stock.find(query).sort("_id", 1)
            )


class TestDocumentCopySpeedup:
    """Documents read back (speed-up 4) are copies: mutating one never reaches the store, and every
    datetime in it, however deeply nested, is timezone-aware."""

    async def test_reads_are_independent_aware_copies(self, embedded):
        coll = embedded["db"]["nested"]
        at = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)
        await coll.insert_one(
            {"_id": 1, "at": at, "tags": ["a"], "log": [{"at": at, "ids": [ObjectId()]}], "pair": (1, at)}
        )
        first = await coll.find_one({"_id": 1})
        assert first["at"] == at and first["at"].tzinfo is not None
        assert first["log"][0]["at"].tzinfo is not None and first["pair"][1].tzinfo is not None
        first["tags"].append("b")
        first["log"][0]["ids"].clear()
        first["log"].append({})
        again = await coll.find_one({"_id": 1})
        assert again["tags"] == ["a"] and len(again["log"]) == 1 and len(again["log"][0]["ids"]) == 1
        assert again == (await coll.find({}).to_list())[0]
        assert again["log"] is not first["log"]
