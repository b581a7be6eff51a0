"""POST /{id}/fund and GET /funded: atomic, idempotent, exact under concurrency."""

import asyncio

from bson import ObjectId

from tests.helpers import assert_error, auth, create_stream, iso_in

CONFLICT = "Resource already exists or cannot be changed in its current state"


async def credits_of(db, user) -> int:
    return (await db["users"].find_one({"_id": ObjectId(user["_id"])}))["credits"]


async def fundable(client, token, **fields):
    return await create_stream(client, token, plannedStartDate=iso_in(hours=4), fundingGoal=1000, **fields)


async def test_fund_debits_and_increments(client, make_user, db):
    _, host = await make_user()
    fan, fan_token = await make_user(credits=300)
    stream = await fundable(client, host)
    response = await client.post(
        f"/api/v1/live-stream/{stream['id']}/fund", json={"amount": 100}, headers=auth(fan_token)
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["collectedFunding"] == 100 and data["fundingPercentage"] == 10
    assert await credits_of(db, fan) == 200
    tx = await db["credit_transactions"].find_one({"userId": ObjectId(fan["_id"])})
    assert tx["direction"] == "debit" and tx["amount"] == 100 and tx["status"] == "completed"
    history = await client.get("/api/v1/users/me/transactions", headers=auth(fan_token))
    assert history.json()["data"]["list"][0]["type"] == "live_stream_funding"


async def test_fund_errors(client, make_user, db):
    _, host = await make_user(credits=100)
    fan, fan_token = await make_user(credits=50)
    stream = await fundable(client, host)
    url = f"/api/v1/live-stream/{stream['id']}/fund"
    for bad in (
        {"amount": 0},
        {"amount": -5},
        {"amount": 1.5},
        {"amount": "10"},
        {"amount": True},
        {},
    ):
        assert_error(await client.post(url, json=bad, headers=auth(fan_token)), 400, "Validation failed")
    overflow = await client.post(
        url, content=b'{"amount": 1e309}', headers={**auth(fan_token), "Content-Type": "application/json"}
    )
    assert_error(overflow, 400, "Validation failed")
    body = assert_error(
        await client.post(url, json={"amount": 51}, headers=auth(fan_token)), 400, "Validation failed"
    )
    assert body["errors"][1] == "Insufficient credits"
    assert_error(
        await client.post(url, json={"amount": 1}, headers=auth(host)), 403, "Insufficient permissions"
    )
    not_fundable = await create_stream(client, host)  # preparing, no goal
    response = await client.post(
        f"/api/v1/live-stream/{not_fundable['id']}/fund", json={"amount": 1}, headers=auth(fan_token)
    )
    assert_error(response, 409, CONFLICT)
    missing = f"/api/v1/live-stream/{ObjectId()}/fund"
    assert_error(
        await client.post(missing, json={"amount": 1}, headers=auth(fan_token)), 404, "Resource not found"
    )
    assert await credits_of(db, fan) == 50
    doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    assert doc["collectedFunding"] == 0


async def test_idempotency_key_replays_without_second_debit(client, make_user, db):
    _, host = await make_user()
    fan, token = await make_user(credits=1000)
    stream = await fundable(client, host)
    url = f"/api/v1/live-stream/{stream['id']}/fund"
    headers = {**auth(token), "Idempotency-Key": "abc-123"}
    first = await client.post(url, json={"amount": 100}, headers=headers)
    again = await asyncio.gather(*(client.post(url, json={"amount": 100}, headers=headers) for _ in range(5)))
    assert first.status_code == 200 and all(r.status_code == 200 for r in again)
    assert all(r.json()["data"] == first.json()["data"] for r in again)
    assert await credits_of(db, fan) == 900
    different = await client.post(url, json={"amount": 5}, headers=headers)
    assert_error(different, 409, CONFLICT)
    assert await credits_of(db, fan) == 900


async def test_hundred_concurrent_funds_sum_exactly(client, make_user, db):
    _, host = await make_user()
    fans = [await make_user(credits=100) for _ in range(10)]
    stream = await fundable(client, host)
    url = f"/api/v1/live-stream/{stream['id']}/fund"
    calls = [
        client.post(url, json={"amount": 7}, headers=auth(token)) for _, token in fans for _ in range(10)
    ]
    responses = await asyncio.gather(*calls)
    assert all(r.status_code == 200 for r in responses)
    doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    assert doc["collectedFunding"] == 700
    for fan, _ in fans:
        assert await credits_of(db, fan) == 30
    debits = await db["credit_transactions"].count_documents(
        {"type": "live_stream_funding", "status": "completed"}
    )
    assert debits == 100


async def test_funded_lists_scheduled_streams_once_newest_first(client, make_user):
    _, host = await make_user()
    _, fan = await make_user(credits=1000)
    first = await fundable(client, host, title="First")
    second = await fundable(client, host, title="Second")
    cancelled = await fundable(client, host, title="Cancelled")
    deleted = await fundable(client, host, title="Deleted")
    for stream in (first, second, cancelled, deleted, first):
        await client.post(f"/api/v1/live-stream/{stream['id']}/fund", json={"amount": 10}, headers=auth(fan))
    await client.post(f"/api/v1/live-stream/{cancelled['id']}/cancel", headers=auth(host))
    await client.delete(f"/api/v1/live-stream/{deleted['id']}", headers=auth(host))
    funded = (await client.get("/api/v1/live-stream/funded", headers=auth(fan))).json()["data"]
    assert [s["id"] for s in funded] == [first["id"], second["id"]]
    assert funded[0]["collectedFunding"] == 20 and funded[0]["role"] is None
    assert (await client.get("/api/v1/live-stream/funded", headers=auth(host))).json()["data"] == []
