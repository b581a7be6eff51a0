"""`$$NOW` in the embedded engine's pipeline updates is its server clock (app/core/embedded_now.py), as
mongod's is the server's time at the write; mongomock-ng alone reads it as missing."""

from datetime import UTC, datetime, timedelta

import mongomock_ng

from app.core.embedded import EmbeddedAsyncClient

T0 = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)


async def test_now_is_the_clients_server_clock_in_pipeline_updates():
    moments = [T0]
    client = EmbeddedAsyncClient(inline=True, clock=lambda: moments[0])
    things = client["now"]["things"]
    await things.update_one(
        {"_id": 1}, [{"$set": {"at": "$$NOW", "until": {"$add": ["$$NOW", 1500]}}}], upsert=True
    )
    assert await things.find_one({"_id": 1}) == {
        "_id": 1,
        "at": T0,
        "until": T0 + timedelta(milliseconds=1500),
    }
    moments[0] = T0 + timedelta(hours=1)
    after = await things.find_one_and_update(
        {"_id": 1}, [{"$set": {"later": {"$gt": ["$$NOW", "$until"]}}}], return_document=True
    )
    assert after["later"] is True
    await client.close()


async def test_the_default_clock_is_the_process_clock():
    client = EmbeddedAsyncClient(inline=True)
    things = client["now"]["things"]
    before = datetime.now(UTC) - timedelta(seconds=1)
    await things.update_one({"_id": 1}, [{"$set": {"at": "$$NOW"}}], upsert=True)
    assert before <= (await things.find_one({"_id": 1}))["at"] <= datetime.now(UTC)
    await client.close()


def test_other_mongomock_clients_keep_the_stock_behaviour():
    EmbeddedAsyncClient(inline=True)  # installs the patch
    things = mongomock_ng.MongoClient()["now"]["things"]
    things.update_one({"_id": 1}, [{"$set": {"at": "$$NOW"}}], upsert=True)
    assert things.find_one({"_id": 1}).get("at") is None
