"""POST /{id}/replay-rentals and GET /my-replay-rentals: 24 h rentals paid through the ledger."""

import asyncio
import json
from datetime import timedelta

import pytest
from bson import ObjectId

from app.core.clock import request_time
from app.core.timeutils import utcnow
from app.replays.settlement import RentalSettlement
from tests.helpers import assert_error, auth
from tests.replays.conftest import RECORDING, credits_of, make_rentable
from tests.streams import API, set_fields

CONFLICT = "Resource already exists or cannot be changed in its current state"


def rent(client, token, stream, key=None):
    headers = {**auth(token), **({"Idempotency-Key": key} if key else {})}
    return client.post(f"{API}/{stream['id']}/replay-rentals", headers=headers)


async def transactions(db, user, type="replay_rental"):
    return await db["credit_transactions"].find({"userId": ObjectId(user["_id"]), "type": type}).to_list()


async def test_rent_charges_once_and_opens_a_24h_window(client, make_user, db, solo):
    _, _, stream = solo
    fan, token = await make_user(credits=120)
    response = await rent(client, token, stream)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "active" and data["price"] == 50 and data["rentalNumber"] == 1
    assert data["liveStreamId"] == stream["id"] and data["liveStream"]["recordingUrl"] == RECORDING
    assert data["liveStream"]["replayAccess"]["status"] == "rented"
    row = await db["replay_rentals"].find_one({"_id": ObjectId(data["_id"])})
    assert row["expiresAt"] - row["rentedAt"] == timedelta(hours=24)
    assert data["remainingSeconds"] == 86_400
    assert await credits_of(db, fan) == 70
    [tx] = await transactions(db, fan)
    assert tx["amount"] == 50 and tx["direction"] == "debit" and tx["status"] == "completed"

    assert_error(await rent(client, token, stream), 409, CONFLICT)  # already rented and active
    assert await credits_of(db, fan) == 70


async def test_idempotency_key_replays_return_the_same_rental_with_one_debit(
    app, client, make_user, db, solo
):
    _, _, stream = solo
    fan, token = await make_user(credits=500)
    first = await rent(client, token, stream, key="rent-1")
    again = await asyncio.gather(*(rent(client, token, stream, key="rent-1") for _ in range(5)))
    assert first.status_code == 200 and all(r.status_code == 200 for r in again)
    assert {r.json()["data"]["_id"] for r in again} == {first.json()["data"]["_id"]}
    # The stored first answer, byte for byte: an hour later remainingSeconds is not recomputed.
    app.dependency_overrides[request_time] = lambda: utcnow() + timedelta(hours=1)
    try:
        later = await rent(client, token, stream, key="rent-1")
    finally:
        app.dependency_overrides.pop(request_time)
    assert later.content.split(b'"timestamp"')[0] == first.content.split(b'"timestamp"')[0]
    assert await credits_of(db, fan) == 450
    assert len(await transactions(db, fan)) == 1
    assert_error(await rent(client, token, stream, key="rent-2"), 409, CONFLICT)


async def test_concurrent_first_rentals_charge_once(client, make_user, db, solo):
    _, _, stream = solo
    fan, token = await make_user(credits=500)
    responses = await asyncio.gather(*(rent(client, token, stream) for _ in range(6)))
    assert sorted(r.status_code for r in responses).count(200) == 1
    assert all(r.status_code in (200, 409) for r in responses)
    assert await credits_of(db, fan) == 450
    assert await db["replay_rentals"].count_documents({}) == 1


async def test_insufficient_credits_writes_no_rental_and_no_transaction(client, make_user, db, solo):
    _, _, stream = solo
    fan, token = await make_user(credits=49)
    assert_error(await rent(client, token, stream), 400, "Validation failed")
    assert await db["replay_rentals"].count_documents({}) == 0
    assert await db["credit_transactions"].count_documents({"userId": ObjectId(fan["_id"])}) == 0
    assert await credits_of(db, fan) == 49


async def test_expired_rental_is_reactivated_on_the_same_row(client, make_user, db, solo):
    creator, _, stream = solo
    fan, token = await make_user(credits=200)
    first = (await rent(client, token, stream)).json()["data"]
    await db["replay_rentals"].update_one(
        {"_id": ObjectId(first["_id"])}, {"$set": {"expiresAt": utcnow() - timedelta(seconds=1)}}
    )
    mine = (await client.get(f"{API}/my-replay-rentals", headers=auth(token))).json()["data"]["list"]
    assert mine[0]["status"] == "expired" and mine[0]["liveStream"]["recordingUrl"] is None

    second = await rent(client, token, stream)
    assert second.status_code == 200
    data = second.json()["data"]
    assert data["_id"] == first["_id"] and data["rentalNumber"] == 2 and data["status"] == "active"
    assert await db["replay_rentals"].count_documents({}) == 1
    assert await credits_of(db, fan) == 100
    assert await credits_of(db, creator) == 40  # the first window's share was settled before reuse


@pytest.mark.parametrize(
    "change",
    [
        {"status": "active"},
        {"recordingUrl": ""},
        {"isActiveReplayOnCreatorProfile": None},
        {"replayCreditPrice": 0},
        {"liveStreamType": "duocrowd"},  # a duo stream without a guest to share the revenue with
    ],
)
async def test_not_rentable_is_409_without_charge(client, make_user, db, solo, change):
    _, _, stream = solo
    fan, token = await make_user(credits=100)
    await set_fields(db, stream["id"], **change)
    assert_error(await rent(client, token, stream), 409, CONFLICT)
    assert await credits_of(db, fan) == 100 and await db["replay_rentals"].count_documents({}) == 0


async def test_members_and_missing_streams(client, make_user, db):
    guest, guest_token = await make_user(credits=100)
    _, token = await make_user(credits=100)
    stream = await make_rentable(
        client, db, token, liveStreamType="duoself", guests=json.dumps([guest["_id"]])
    )
    for member in (token, guest_token):
        assert_error(await rent(client, member, stream), 403, "Insufficient permissions")
    missing = await client.post(f"{API}/{ObjectId()}/replay-rentals", headers=auth(token))
    assert_error(missing, 404, "Resource not found")
    assert_error(
        await client.post(f"{API}/bad/replay-rentals", headers=auth(token)), 400, "Validation failed"
    )
    assert_error(await client.post(f"{API}/{stream['id']}/replay-rentals"), 401, "Authentication required")


async def test_delete_refunds_rentals_in_their_window_exactly_once(client, make_user, db, solo):
    creator, token, stream = solo
    renter, renter_token = await make_user(credits=100)
    past, past_token = await make_user(credits=100)
    for caller in (renter_token, past_token):
        assert (await rent(client, caller, stream)).status_code == 200
    await db["replay_rentals"].update_one(
        {"userId": ObjectId(past["_id"])}, {"$set": {"expiresAt": utcnow() - timedelta(seconds=1)}}
    )
    assert (await client.delete(f"{API}/{stream['id']}", headers=auth(token))).status_code == 200

    assert await credits_of(db, renter) == 100  # refunded in full
    assert await credits_of(db, past) == 50  # its window had closed: no refund
    row = await db["replay_rentals"].find_one({"userId": ObjectId(renter["_id"])})
    assert row["status"] == "refunded" and row["settledAt"] is not None
    deleted = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    assert await RentalSettlement(db).refund_deleted_stream(deleted, utcnow()) == 0  # a second pass: nothing
    assert len(await transactions(db, renter, "replay_rental_refund")) == 1
    assert await credits_of(db, renter) == 100 and await credits_of(db, creator) == 0
    mine = (await client.get(f"{API}/my-replay-rentals", headers=auth(renter_token))).json()["data"]
    assert mine["list"] == []  # soft-deleted streams never appear


async def test_my_replay_rentals_newest_first_and_paginated(client, make_user, db):
    _, host = await make_user()
    _, other_host = await make_user()
    older = await make_rentable(client, db, host, price=10)
    newer = await make_rentable(client, db, other_host, price=20)
    _, token = await make_user(credits=100)
    assert (await rent(client, token, older)).status_code == 200
    assert (await rent(client, token, newer)).status_code == 200
    await db["replay_rentals"].update_one(
        {"liveStreamId": ObjectId(older["id"])}, {"$set": {"rentedAt": utcnow() - timedelta(hours=1)}}
    )
    response = await client.get(f"{API}/my-replay-rentals", headers=auth(token))
    assert response.status_code == 200
    data = response.json()["data"]
    assert [r["liveStreamId"] for r in data["list"]] == [newer["id"], older["id"]]
    assert [r["price"] for r in data["list"]] == [20, 10]
    assert data["pagination"]["totalItems"] == 2
    page = (await client.get(f"{API}/my-replay-rentals?page=2&limit=1", headers=auth(token))).json()["data"]
    assert [r["liveStreamId"] for r in page["list"]] == [older["id"]]
    assert_error(
        await client.get(f"{API}/my-replay-rentals?limit=0", headers=auth(token)), 400, "Validation failed"
    )
    assert_error(await client.get(f"{API}/my-replay-rentals"), 401, "Authentication required")
