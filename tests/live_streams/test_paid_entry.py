"""Paid entry (issue 13 item 10): a paid stream charges its price once per viewer, on the first join, and
pays it out like replay revenue when it ends. The crash/race proof is in tests/money."""

import asyncio

from bson import ObjectId

from tests.helpers import assert_error, auth
from tests.streams import API, started_stream

HISTORY = "/api/v1/users/me/transactions"


async def join(client, token, stream_id):
    return await client.post(f"{API}/join", json={"liveStreamId": stream_id}, headers=auth(token))


async def credits_of(db, user) -> int:
    return (await db["users"].find_one({"_id": ObjectId(user["_id"])}))["credits"]


async def test_first_join_charges_the_price_and_rejoins_are_free(client, make_user, db):
    _, host = await make_user()
    viewer, token = await make_user(credits=100)
    stream = await started_stream(client, host, price=30)
    assert stream["accessType"] == "paid" and stream["price"] == 30

    for _ in range(3):
        assert (await join(client, token, stream["id"])).status_code == 200
    assert await credits_of(db, viewer) == 70

    history = (await client.get(HISTORY, headers=auth(token))).json()["data"]["list"]
    assert [(t["type"], t["amount"], t["direction"]) for t in history] == [("live_stream_entry", 30, "debit")]


async def test_concurrent_first_joins_charge_once(client, make_user, db):
    _, host = await make_user()
    viewer, token = await make_user(credits=100)
    stream = await started_stream(client, host, price=30)

    answers = await asyncio.gather(*(join(client, token, stream["id"]) for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert await credits_of(db, viewer) == 70
    assert await db["stream_entries"].count_documents({"userId": ObjectId(viewer["_id"])}) == 1


async def test_too_few_credits_is_400_and_writes_nothing(client, make_user, db):
    _, host = await make_user()
    viewer, token = await make_user(credits=29)
    stream = await started_stream(client, host, price=30)

    assert_error(await join(client, token, stream["id"]), 400, "Validation failed")
    assert await credits_of(db, viewer) == 29
    assert await db["stream_entries"].count_documents({}) == 0
    assert await db["credit_transactions"].count_documents({"userId": ObjectId(viewer["_id"])}) == 0
    assert await db["participants"].count_documents({"userId": ObjectId(viewer["_id"])}) == 0


async def test_free_streams_and_invited_guests_pay_nothing(client, make_user, db):
    _, host = await make_user()
    viewer, token = await make_user(credits=100)
    free = await started_stream(client, host)
    assert free["accessType"] == "free"
    assert (await join(client, token, free["id"])).status_code == 200
    assert await credits_of(db, viewer) == 100


async def test_end_pays_the_entries_out_to_the_creator(client, make_user, db):
    creator, host = await make_user()
    fans = [await make_user(credits=100) for _ in range(3)]
    stream = await started_stream(client, host, price=25)
    for _, token in fans:
        assert (await join(client, token, stream["id"])).status_code == 200

    assert (await client.post(f"{API}/{stream['id']}/end", headers=auth(host))).status_code == 200
    assert await credits_of(db, creator) == 60  # 80 % of 3 × 25; the platform keeps 15
    doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    assert doc["entryRevenue"] == 75
    assert {k: doc["entryPayout"][k] for k in ("creator", "guest", "platform")} == {
        "creator": 60,
        "guest": 0,
        "platform": 15,
    }
    assert "followUps" not in doc or doc["followUps"] == {}
    history = (await client.get(HISTORY, headers=auth(host))).json()["data"]["list"]
    assert [(t["type"], t["amount"]) for t in history] == [("live_stream_entry_revenue", 60)]
