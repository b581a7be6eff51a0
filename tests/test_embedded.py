"""Contract of the embedded engine: the PyMongo-async behaviours the repositories rely on.

Each contract test runs on the embedded adapter and, when `MONGODB_TEST_URL` is set, on a real
MongoDB too, so a difference between the two shows up as a failing pair. Tests about the adapter
itself (sessions refused, the by-`_id` speed-up) run on the embedded engine only.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import mongomock_ng
import pytest
from bson import ObjectId
from bson.errors import InvalidDocument
from bson.son import SON
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError, InvalidOperation, OperationFailure, WriteError

from app.core import embedded_rules
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

    async def test_conditions_beside_the_id_answer_like_the_scan(self, coll):
        """By-id reads answer `field: None` and ObjectId/string equality beside the `_id` themselves
        (issue 25); each case against a stock engine, arrays and other types included."""
        owner, other = ObjectId(), ObjectId()
        rows = [
            {"_id": "a", "deletedAt": None, "owner": owner, "tag": "x"},
            {"_id": "b", "owner": [owner], "tag": ["x"]},  # arrays: equality matches an element
            {"_id": "c", "deletedAt": [None], "owner": str(owner), "tag": 1},  # null in an array
            {"_id": "d", "deletedAt": datetime(2026, 1, 1, tzinfo=UTC), "owner": other, "tag": True},
            {"_id": ObjectId("64d15f9e2e6c8f4d5a654321"), "deletedAt": None, "n": 1},
        ]
        await coll.insert_many([dict(row) for row in rows])
        stock = mongomock_ng.MongoClient(tz_aware=True)["db"]["things"]  # no speed-ups
        stock.insert_many([dict(row) for row in rows])
        ids = ["a", "b", "c", "d", ObjectId("64d15f9e2e6c8f4d5a654321"), "zz"]
        conditions: list[dict[str, Any]] = [
            {"deletedAt": None}, {"owner": owner}, {"owner": str(owner)}, {"tag": "x"}, {"tag": "1"},
            {"deletedAt": None, "owner": owner}, {"n": 1}, {"n": None}, {"owner": None},
        ]  # fmt: skip
        for condition in conditions:
            for _id in ids:
                query = {"_id": _id, **condition}
                assert await coll.find_one(query) == stock.find_one(query), query
            query = {"_id": {"$in": ids}, **condition}
            found = await coll.find(query).to_list()
            assert sorted(map(str, (d["_id"] for d in found))) == sorted(
                str(d["_id"]) for d in stock.find(query)
            ), query

    async def test_upserted_documents_read_back_as_independent_copies(self, embedded):
        coll = embedded["db"]["upserted"]  # an upsert stores an OrderedDict: copied as a plain dict
        at = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)
        await coll.update_one(
            {"_id": "n"}, {"$set": {"pairs": [[ObjectId(), 1]], "at": at, "meta": {"at": at}}}, upsert=True
        )
        first = await coll.find_one({"_id": "n"})
        assert type(first) is dict and type(first["meta"]) is dict
        assert first["at"].tzinfo is not None and first["meta"]["at"].tzinfo is not None
        first["pairs"][0].append(2)
        first["meta"]["k"] = 1
        again = await coll.find_one({"_id": "n"})
        assert again["pairs"][0][1:] == [1] and "k" not in again["meta"]

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

    async def test_projected_reads_are_independent_aware_copies(self, embedded):
        # A plain projection copies only the fields it keeps (issue 25), still never the stored objects.
        coll = embedded["db"]["projected"]
        at = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)
        await coll.insert_one({"_id": 1, "at": at, "log": [{"at": at}], "meta": {"k": [1]}, "skip": 1})
        for projection in ({"log": 1, "meta": 1}, {"skip": 0}, {"log": 1, "meta": 1, "_id": 0}):
            found = await coll.find({"_id": {"$in": [1]}}, projection).to_list()
            read = found[0]
            assert read["log"][0]["at"].tzinfo is not None
            read["log"][0]["at"] = None
            read["log"].append({})
            read["meta"]["k"].append(2)
        stored = await coll.find_one({"_id": 1})
        assert stored == {"_id": 1, "at": at, "log": [{"at": at}], "meta": {"k": [1]}, "skip": 1}


class TestAnswersLikeMongod:
    """Where mongomock-ng answered otherwise, the engine answers as mongod 7.0 (app.core.embedded_fidelity);
    each test names the server rule and runs on a real server too when MONGODB_TEST_URL is set."""

    async def test_list_indexes_decodes_nested_options_as_son(self, mdb):
        # PyMongo's listIndexes cursor decodes with CodecOptions(document_class=SON): nested too.
        await mdb.things.create_index("k", unique=True, partialFilterExpression={"k": {"$type": "string"}})
        listed = [ix async for ix in await mdb.things.list_indexes()]
        partial = next(ix for ix in listed if ix["name"] == "k_1")["partialFilterExpression"]
        assert type(partial) is SON and type(partial["k"]) is SON
        assert partial.to_dict() == {"k": {"$type": "string"}}

    async def test_divide_and_floor_give_doubles(self, mdb):
        # $divide always returns a double; $floor/$ceil/$trunc/$round keep the type of their input.
        await mdb.things.insert_one({"_id": 1, "n": 9, "x": 7.5})
        expressions = {
            "half": {"$divide": ["$n", 3]},
            "floored": {"$floor": {"$divide": ["$n", 2]}},
            "ceiled": {"$ceil": "$x"},
            "truncated": {"$trunc": "$x"},
            "rounded": {"$round": ["$x"]},
            "int_floor": {"$floor": "$n"},
            "long": {"$toLong": {"$floor": {"$divide": ["$n", 2]}}},  # a long: int (Int64 from mongod)
        }
        (row,) = await (await mdb.things.aggregate([{"$project": expressions}])).to_list()
        kinds = {
            k: (v, float if type(v) is float else int if isinstance(v, int) else type(v))
            for k, v in row.items()
        }
        assert {k: kind for k, kind in kinds.items() if k != "_id"} == {
            "half": (3.0, float), "floored": (4.0, float), "ceiled": (8.0, float), "truncated": (7.0, float),
            "rounded": (8.0, float), "int_floor": (9, int), "long": (4, int),
        }  # fmt: skip
        await mdb.things.update_one({"_id": 1}, [{"$set": {"stored": {"$floor": {"$divide": ["$n", 2]}}}}])
        assert type((await mdb.things.find_one({"_id": 1}))["stored"]) is float

    async def test_group_over_no_documents_returns_no_row(self, mdb):
        # $group emits one document per group; with no input there is no group, even for `_id: null`.
        await mdb.things.insert_one({"_id": 1, "n": 1})
        pipeline = [{"$match": {"n": 2}}, {"$group": {"_id": None, "total": {"$sum": "$n"}}}]
        assert await (await mdb.things.aggregate(pipeline)).to_list() == []
        pipeline[0] = {"$match": {"n": 1}}
        assert await (await mdb.things.aggregate(pipeline)).to_list() == [{"_id": None, "total": 1}]

    async def test_empty_document_equality_does_not_match_a_missing_field(self, mdb):
        # {f: {}} is an equality with the empty document (EqualityMatchExpression): null and missing
        # match only `{f: null}`.
        await mdb.things.insert_many(
            [
                {"_id": 1},
                {"_id": 2, "f": {}},
                {"_id": 3, "f": {"a": 1}},
                {"_id": 4, "f": None},
                {"_id": 5, "f": [{}]},
            ]
        )
        found = await mdb.things.find({"f": {}}).to_list()
        assert sorted(d["_id"] for d in found) == [2, 5]
        assert await mdb.things.count_documents({"$or": [{"f": {}}, {"_id": 1}]}) == 3

    @pytest.mark.parametrize("parent", [None, 5, "text", [1, 2]])
    async def test_set_through_a_non_document_is_refused_with_28(self, mdb, parent):
        # PathNotViable (28): "Cannot create field 'b' in element {a: null}"; nothing of the update applies.
        await mdb.things.insert_one({"_id": 1, "a": parent, "n": 1})
        with pytest.raises(WriteError) as refused:
            await mdb.things.update_one({"_id": 1}, {"$set": {"x": 1, "a.b": 2}, "$inc": {"n": 1}})
        assert refused.value.code == 28
        assert await mdb.things.find_one({"_id": 1}) == {"_id": 1, "a": parent, "n": 1}
        await mdb.things.update_one({"_id": 1}, {"$unset": {"a.b": ""}})  # not creating: a no-op

    async def test_inc_of_a_non_number_is_refused_with_14(self, mdb):
        # TypeMismatch (14): "Cannot apply $inc to a value of non-numeric type".
        await mdb.things.insert_one({"_id": 1, "s": "x", "b": True, "n": None})
        for field in ("s", "b", "n"):
            with pytest.raises(WriteError) as refused:
                await mdb.things.update_one({"_id": 1}, {"$inc": {field: 1}})
            assert refused.value.code == 14
        with pytest.raises(WriteError) as refused:
            await mdb.things.update_one({"_id": 1}, {"$set": {"_id": 2}})
        assert refused.value.code == 66  # ImmutableField
        await mdb.things.update_one({"_id": 1}, {"$set": {"_id": 1, "m": 1}})  # _id unchanged: accepted

    async def test_unique_sparse_index_refuses_two_explicit_nulls(self, mdb):
        # A sparse index skips documents MISSING the field; an explicit null is indexed (and unique).
        await mdb.things.create_index("k", unique=True, sparse=True)
        await mdb.things.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 3, "k": None}])
        with pytest.raises(DuplicateKeyError):
            await mdb.things.insert_one({"_id": 4, "k": None})
        with pytest.raises(DuplicateKeyError):
            await mdb.things.update_one({"_id": 1}, {"$set": {"k": None}})
        await mdb.things.create_index([("a", 1), ("b", 1)], unique=True, sparse=True)
        await mdb.things.insert_one({"_id": 5, "a": 1, "k": "x"})
        with pytest.raises(DuplicateKeyError):  # compound sparse: one present field indexes the document
            await mdb.things.insert_one({"_id": 6, "a": 1, "k": "y"})

    async def test_unique_partial_index_ignores_documents_outside_its_filter(self, mdb):
        await mdb.things.create_index(
            "k", unique=True, partialFilterExpression={"active": True}, name="one_active"
        )
        await mdb.things.insert_one({"_id": 1, "k": 1, "active": True})
        await mdb.things.insert_one({"_id": 2, "k": 1, "active": False})
        with pytest.raises(DuplicateKeyError):
            await mdb.things.insert_one({"_id": 3, "k": 1, "active": True})


def _refused(
    code: int | None, error: type[Exception] = OperationFailure
) -> tuple[type[Exception], int | None]:
    return error, code


# (what is planted, the call, what PyMongo raises against mongod 7.0 and its code)
REFUSED: list[tuple[str, Any, tuple[type[Exception], int | None]]] = [
    ("conflicting update paths", lambda c: c.update_one({"_id": 1}, {"$set": {"a.b": 1}, "$unset": {"a": ""}}), _refused(40, WriteError)),
    ("same path, two operators", lambda c: c.update_one({"_id": 1}, {"$inc": {"n": 1}, "$set": {"n": 5}}), _refused(40, WriteError)),
    ("$set and $setOnInsert of one path", lambda c: c.update_one({"_id": 9}, {"$set": {"z": 1}, "$setOnInsert": {"z": 2}}, upsert=True), _refused(40, WriteError)),
    ("$expr in an upsert filter", lambda c: c.update_one({"_id": 9, "$or": [{"h": 1}, {"$expr": {"$lte": ["$e", "$$NOW"]}}]}, {"$set": {"q": 1}}, upsert=True), _refused(224, WriteError)),
    ("$expr in a find_one_and_update upsert", lambda c: c.find_one_and_update({"_id": 9, "$expr": {"$eq": [1, 1]}}, {"$set": {"q": 1}}, upsert=True), _refused(224)),
    ("overlapping upsert equality paths", lambda c: c.update_one({"a": 1, "a.b": 2}, {"$set": {"q": 1}}, upsert=True), _refused(54, WriteError)),
    ("upsert path matched twice", lambda c: c.update_one({"a": 1, "$and": [{"a": 1}]}, {"$set": {"q": 1}}, upsert=True), _refused(54, WriteError)),
    ("top-level $ field in $set", lambda c: c.update_one({"_id": 1}, {"$set": {"$k": 1}}), _refused(52, WriteError)),
    ("top-level $ field in an upsert that updates", lambda c: c.update_one({"_id": 1}, {"$set": {"$k": 1}}, upsert=True), _refused(52, WriteError)),
    ("top-level $ field in a replacement", lambda c: c.replace_one({"_id": 1}, {"n": 1, "$k": 1}), _refused(52, WriteError)),
    ("empty update", lambda c: c.update_one({"_id": 1}, {}), _refused(None, ValueError)),
    ("replacement as an update", lambda c: c.update_one({"_id": 1}, {"n": 2}), _refused(None, ValueError)),
    ("operators in a replacement", lambda c: c.replace_one({"_id": 1}, {"$set": {"n": 2}}), _refused(None, ValueError)),
    ("unknown update operator", lambda c: c.update_one({"_id": 1}, {"$frob": {"n": 2}}), _refused(9, WriteError)),
    ("operators mixed with a field", lambda c: c.update_one({"_id": 1}, {"$set": {"n": 2}, "plain": 1}), _refused(9, WriteError)),
    ("empty path component", lambda c: c.update_one({"_id": 1}, {"$set": {"a..b": 1}}), _refused(56, WriteError)),
    ("$inc by a string", lambda c: c.update_one({"_id": 1}, {"$inc": {"n": "1"}}), _refused(14, WriteError)),
    ("$unset of _id", lambda c: c.update_one({"_id": 1}, {"$unset": {"_id": ""}}), _refused(66, WriteError)),
    ("$match in a pipeline update", lambda c: c.update_one({"_id": 1}, [{"$match": {"n": 1}}]), _refused(72, WriteError)),
    ("$group in a pipeline update", lambda c: c.update_many({}, [{"$group": {"_id": None}}]), _refused(72, WriteError)),
    ("mixed inclusion and exclusion", lambda c: c.find({}, {"a": 1, "n": 0}).to_list(), _refused(31254)),
    ("mixed projection in find_one", lambda c: c.find_one({}, {"a": 0, "n": 1}), _refused(31254)),
    ("projection path collision", lambda c: c.find_one({}, {"a": 1, "a.b": 1}), _refused(31250)),
    ("unknown query operator", lambda c: c.find_one({"n": {"$frob": 1}}), _refused(2)),
    ("unknown top-level operator", lambda c: c.count_documents({"$frob": 1}), _refused(2)),
    ("$in without an array", lambda c: c.find_one({"n": {"$in": 1}}), _refused(2)),
    ("empty $or", lambda c: c.delete_many({"$or": []}), _refused(2, WriteError)),
    ("sort direction 2", lambda c: c.find({}).sort("n", 2).to_list(), _refused(15975)),
    ("unknown stage", lambda c: c.aggregate([{"$frob": {}}]), _refused(40324)),
    ("unknown expression", lambda c: c.aggregate([{"$project": {"x": {"$frob": 1}}}]), _refused(168)),
    ("undefined variable", lambda c: c.aggregate([{"$project": {"x": "$$nope"}}]), _refused(17276)),
    ("$group without _id", lambda c: c.aggregate([{"$group": {"n": {"$sum": 1}}}]), _refused(15955)),
    ("partial filter with $ne", lambda c: c.create_index("w", partialFilterExpression={"w": {"$ne": 1}}), _refused(67)),
    ("partial filter with $exists: false", lambda c: c.create_index("w", partialFilterExpression={"w": {"$exists": False}}), _refused(67)),
    ("sparse and partial together", lambda c: c.create_index("w", sparse=True, partialFilterExpression={"w": {"$gt": 1}}), _refused(67)),
    ("TTL out of range", lambda c: c.create_index("at", expireAfterSeconds=-1), _refused(67)),
    ("TTL on _id", lambda c: c.create_index("_id", expireAfterSeconds=5), _refused(67)),
    ("unknown index option", lambda c: c.create_indexes([IndexModel("w", frobnicate=True)]), _refused(197)),
    ("index name reused with other keys", lambda c: c.create_index("other", name="n_1"), _refused(86)),
    ("index name reused with other options", lambda c: c.create_index("n", unique=True, name="n_1"), _refused(85)),
    ("same index under another name", lambda c: c.create_index("n", name="again"), _refused(85)),
    ("unencodable value", lambda c: c.insert_one({"s": {1, 2}}), _refused(None, InvalidDocument)),
    ("unencodable filter value", lambda c: c.find_one({"s": Decimal("1.5")}), _refused(None, InvalidDocument)),
    ("unencodable update value", lambda c: c.update_one({"_id": 1}, {"$set": {"u": uuid.uuid4()}}), _refused(None, ValueError)),
]  # fmt: skip


class TestRefusesWhatMongodRefuses:
    """Planted violations: the engine raises what PyMongo raises against mongod 7.0 (app.core.embedded_rules),
    and the collection is left as it was."""

    @pytest.fixture
    async def things(self, mdb):
        await mdb.things.insert_one({"_id": 1, "a": {"b": 1}, "n": 1, "arr": [1, 2]})
        await mdb.things.create_index("n")
        return mdb.things

    @pytest.mark.parametrize(("planted", "call", "expected"), REFUSED, ids=[r[0] for r in REFUSED])
    async def test_refused_with_mongods_code(self, things, planted, call, expected):
        error, code = expected
        with pytest.raises(error) as refused:
            await call(things)
        if code is not None:
            assert refused.value.code == code, refused.value
        assert await things.find({}).to_list() == [{"_id": 1, "a": {"b": 1}, "n": 1, "arr": [1, 2]}]

    async def test_acceptable_commands_pass(self, things):
        await things.update_one(
            {"_id": 1}, {"$set": {"a.c": 2, "m.k": 1}, "$unset": {"a.d": ""}, "$inc": {"n": 1}}
        )
        await things.update_one({"_id": 1, "$expr": {"$eq": ["$n", 2]}}, {"$set": {"e": 1}})  # no upsert
        await things.update_one({"_id": 2, "k": {"$eq": 1}}, {"$setOnInsert": {"z": 1}}, upsert=True)
        await things.update_one({"_id": 1}, [{"$set": {"t": "$$NOW"}}, {"$unset": "e"}])
        assert await things.find_one({"_id": 1}, {"a": 1, "_id": 0}) == {"a": {"b": 1, "c": 2}}
        await things.create_index("n")  # the same index again: a no-op
        await things.create_index("w", unique=True, partialFilterExpression={"w": {"$type": "string"}})
        doc = await things.find_one({"_id": 1})
        assert doc["n"] == 2 and doc["m"] == {"k": 1} and "e" not in doc
        assert await things.find_one({"_id": 2}) == {"_id": 2, "k": 1, "z": 1}


# (an accepted call, its refused twin of the same structure: they differ in one value the rules read)
TWINS: list[tuple[str, Any, Any, type[Exception]]] = [
    ("$size -1", lambda c: c.find_one({"arr": {"$size": 1}}), lambda c: c.find_one({"arr": {"$size": -1}}), OperationFailure),
    ("sort direction True", lambda c: c.find({}).sort("n", 1).to_list(), lambda c: c.find({}).sort("n", True).to_list(), OperationFailure),
    ("sort direction 1.5", lambda c: c.find({}).sort("n", -1.0).to_list(), lambda c: c.find({}).sort("n", 1.5).to_list(), OperationFailure),
    ("$type alias", lambda c: c.find_one({"n": {"$type": "int"}}), lambda c: c.find_one({"n": {"$type": "integer"}}), OperationFailure),
    ("int beyond 64 bits", lambda c: c.find_one({"n": 2**62}), lambda c: c.find_one({"n": 2**70}), OverflowError),
    ("operator in an id list", lambda c: c.find_one({"_id": {"$in": [ObjectId(), ObjectId()]}}), lambda c: c.find_one({"_id": {"$in": [ObjectId(), {"$gt": 1}]}}), OperationFailure),
    ("datetime that cannot be encoded", lambda c: c.find_one({"at": datetime(2, 1, 1, tzinfo=UTC)}), lambda c: c.find_one({"at": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))}), OverflowError),
    ("$inc by a bool", lambda c: c.update_one({"_id": 1}, {"$inc": {"n": 1}}), lambda c: c.update_one({"_id": 1}, {"$inc": {"n": True}}), WriteError),
    ("projection exclusion", lambda c: c.find_one({}, {"a": 1, "n": True}), lambda c: c.find_one({}, {"a": 1, "n": False}), OperationFailure),
    ("projection exclusion by 0", lambda c: c.find_one({}, {"a": 1, "n": 1}), lambda c: c.find_one({}, {"a": 1, "n": 0}), OperationFailure),
    ("skip of a cursor", lambda c: c.find({"_id": ObjectId()}).skip(1).to_list(), lambda c: c.find({"_id": ObjectId()}).skip(-1).to_list(), ValueError),
]  # fmt: skip


class TestRuleVerdictCache:
    """Verdicts are remembered per call shape (ids and times abstracted): a repeated shape is not
    re-checked, and nothing remembered lets a refused call through (docs/decisions.md)."""

    @pytest.fixture
    async def things(self, embedded):
        things = embedded["cache"].things
        await things.insert_one({"_id": 1, "a": {"b": 1}, "n": 1, "arr": [1, 2]})
        return things

    @pytest.fixture
    def checks(self, monkeypatch) -> list[str]:
        seen: list[str] = []
        check = embedded_rules._check

        def counting(op: str, bound: Any) -> None:
            seen.append(op)
            check(op, bound)

        monkeypatch.setattr(embedded_rules, "_check", counting)
        return seen

    async def test_a_repeated_shape_is_checked_once(self, things, checks):
        projection = {"a": 1, "n": 1, "arr": 1, "z": 1}
        for _ in range(3):  # other ids and times, one shape
            await things.find_one({"_id": ObjectId(), "at": {"$lt": datetime.now(UTC)}}, projection)
            await things.find({"_id": {"$in": [ObjectId(), ObjectId()]}}).sort("n", -1).to_list()
        assert checks == ["find_one", "find"]
        await things.find_one({"_id": ObjectId(), "at": {"$lt": datetime.now(UTC)}}, {**projection, "y": 1})
        await things.find({"_id": {"$in": [ObjectId()]}}).sort("n", -1).to_list()  # another length
        await things.find_one({"_id": "text", "at": {"$lt": datetime.now(UTC)}}, projection)  # a string id
        assert checks == ["find_one", "find", "find_one", "find", "find_one"]

    @pytest.mark.parametrize(("twin", "accepted", "refused", "error"), TWINS, ids=[t[0] for t in TWINS])
    async def test_an_accepted_twin_does_not_let_a_violation_through(
        self, things, twin, accepted, refused, error
    ):
        await accepted(things)
        await accepted(things)  # remembered
        with pytest.raises(error):
            await refused(things)
        with pytest.raises(error):  # refusals are never remembered
            await refused(things)

    @pytest.mark.parametrize(("planted", "call", "expected"), REFUSED, ids=[r[0] for r in REFUSED])
    async def test_refused_again_when_repeated(self, embedded, planted, call, expected):
        things = embedded["again"].things
        await things.insert_one({"_id": 1, "a": {"b": 1}, "n": 1, "arr": [1, 2]})
        await things.create_index("n")
        for _ in range(2):
            with pytest.raises(expected[0]):
                await call(things)
