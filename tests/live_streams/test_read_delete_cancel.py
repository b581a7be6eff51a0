"""List, detail, soft delete and cancel."""

import json

from bson import ObjectId

from tests.helpers import assert_error, auth, create_stream, iso_in


async def test_detail_role_per_caller(client, make_user):
    _, host = await make_user()
    guest, guest_token = await make_user()
    _, stranger = await make_user()
    stream = await create_stream(client, host, liveStreamType="duoself", guests=json.dumps([guest["_id"]]))
    url = f"/api/v1/live-stream/{stream['id']}"
    roles = {}
    for name, token in {"host": host, "guest": guest_token, "stranger": stranger}.items():
        response = await client.get(url, headers=auth(token))
        assert response.status_code == 200
        roles[name] = response.json()["data"]["role"]
    assert roles == {"host": "host", "guest": "guest", "stranger": None}


async def test_detail_errors(client, make_user):
    _, token = await make_user()
    assert_error(
        await client.get("/api/v1/live-stream/not-an-id", headers=auth(token)), 400, "Validation failed"
    )
    missing = f"/api/v1/live-stream/{ObjectId()}"
    assert_error(await client.get(missing, headers=auth(token)), 404, "Resource not found")
    assert_error(await client.get(missing), 401, "Authentication required")


async def test_delete_by_creator_hides_stream_everywhere(client, make_user, db):
    _, host = await make_user()
    _, other = await make_user()
    stream = await create_stream(client, host, plannedStartDate=iso_in(hours=2), fundingGoal=100)
    url = f"/api/v1/live-stream/{stream['id']}"

    assert_error(await client.delete(url, headers=auth(other)), 403, "Insufficient permissions")
    response = await client.delete(url, headers=auth(host))
    assert response.status_code == 200
    body = response.json()
    assert body["isSuccess"] is True and body["data"]["id"] == stream["id"]
    stored = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    assert stored["deletedAt"] is not None  # soft: the document stays

    assert_error(await client.delete(url, headers=auth(host)), 404, "Resource not found")
    assert_error(await client.get(url, headers=auth(host)), 404, "Resource not found")
    listed = (await client.get("/api/v1/live-stream", headers=auth(host))).json()["data"]
    assert stream["id"] not in [s["id"] for s in listed]
    fund = await client.post(f"{url}/fund", json={"amount": 1}, headers=auth(other))
    assert_error(fund, 404, "Resource not found")


async def test_delete_active_stream_is_409(client, make_user):
    _, host = await make_user()
    stream = await create_stream(client, host)
    url = f"/api/v1/live-stream/{stream['id']}"
    assert (await client.post(f"{url}/start", headers=auth(host))).status_code == 200
    assert_error(
        await client.delete(url, headers=auth(host)),
        409,
        "Resource already exists or cannot be changed in its current state",
    )
    assert (await client.post(f"{url}/end", headers=auth(host))).status_code == 200
    assert (await client.delete(url, headers=auth(host))).status_code == 200


async def test_cancel_by_host_and_guest(client, make_user):
    _, host = await make_user()
    guest, guest_token = await make_user()
    _, stranger = await make_user()
    first = await create_stream(client, host, plannedStartDate=iso_in(hours=1))
    second = await create_stream(client, host, liveStreamType="duocrowd", guests=json.dumps([guest["_id"]]))

    url = f"/api/v1/live-stream/{first['id']}/cancel"
    assert_error(await client.post(url, headers=auth(stranger)), 403, "Insufficient permissions")
    response = await client.post(url, headers=auth(host))
    assert response.status_code == 200 and response.json()["data"]["status"] == "cancelled_by_host"
    assert_error(
        await client.post(url, headers=auth(host)),
        409,
        "Resource already exists or cannot be changed in its current state",
    )
    response = await client.post(f"/api/v1/live-stream/{second['id']}/cancel", headers=auth(guest_token))
    assert response.json()["data"]["status"] == "cancelled_by_guest"


async def test_cancel_refunds_every_funder_exactly_once(client, make_user, db):
    _, host = await make_user()
    funders = [await make_user(credits=500) for _ in range(3)]
    stream = await create_stream(client, host, plannedStartDate=iso_in(hours=5), fundingGoal=1000)
    url = f"/api/v1/live-stream/{stream['id']}"
    for _, token in funders:
        for amount in (100, 50):
            assert (
                await client.post(f"{url}/fund", json={"amount": amount}, headers=auth(token))
            ).status_code == 200
    assert (await client.post(f"{url}/cancel", headers=auth(host))).status_code == 200
    for user, _ in funders:
        doc = await db["users"].find_one({"_id": ObjectId(user["_id"])})
        assert doc["credits"] == 500
    refunds = await db["credit_transactions"].count_documents({"type": "live_stream_funding_refund"})
    assert refunds == 6
    assert await db["fundings"].count_documents({"status": "refunded"}) == 6


async def test_guest_streams_filters_and_sorting(client, make_user):
    _, host = await make_user()
    guest, guest_token = await make_user()
    ids = []
    for hours in (3, 1, 2):
        stream = await create_stream(
            client,
            host,
            liveStreamType="duoself",
            guests=json.dumps([guest["_id"]]),
            plannedStartDate=iso_in(hours=hours),
        )
        ids.append(stream["id"])
    url = "/api/v1/live-stream/guest-streams"
    default = (await client.get(url, headers=auth(guest_token))).json()["data"]
    assert [s["id"] for s in default] == ids[::-1]  # createdAt desc
    limited = (await client.get(url, params={"limit": 2}, headers=auth(guest_token))).json()["data"]
    assert [s["id"] for s in limited] == ids[::-1][:2]
    for bad_limit in (0, 501):
        refused = await client.get(url, params={"limit": bad_limit}, headers=auth(guest_token))
        assert_error(refused, 400, "Validation failed")
    by_start = await client.get(
        url, params={"sortBy": "plannedStartDate", "sortOrder": "asc"}, headers=auth(guest_token)
    )
    assert [s["id"] for s in by_start.json()["data"]] == [ids[1], ids[2], ids[0]]
    assert all(s["role"] == "guest" for s in default)
    for bad in ({"status": "live"}, {"sortBy": "title"}, {"sortOrder": "up"}):
        assert_error(await client.get(url, params=bad, headers=auth(guest_token)), 400, "Validation failed")
    scheduled = await client.get(url, params={"status": "active"}, headers=auth(guest_token))
    assert scheduled.json()["data"] == []
