"""PATCH /{id}/replay-settings (creator only) and GET /{id}/replay-status (the caller's access)."""

import json
from datetime import timedelta

import pytest
from bson import ObjectId

from app.core.timeutils import utcnow
from tests.helpers import assert_error, auth, create_stream
from tests.replays.conftest import RECORDING, make_rentable
from tests.streams import API, ended_stream, set_fields


async def test_creator_updates_only_the_fields_sent(client, make_user, db):
    _, token = await make_user()
    stream = await ended_stream(client, token)
    url = f"{API}/{stream['id']}/replay-settings"
    response = await client.patch(url, json={"replayCreditPrice": 30}, headers=auth(token))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"] == stream["id"] and data["replayCreditPrice"] == 30
    assert data["isActiveReplayOnCreatorProfile"] is None
    data = (
        await client.patch(url, json={"isActiveReplayOnCreatorProfile": True}, headers=auth(token))
    ).json()["data"]
    assert data["isActiveReplayOnCreatorProfile"] is True and data["replayCreditPrice"] == 30
    cleared = await client.patch(url, json={"replayCreditPrice": None}, headers=auth(token))
    assert cleared.json()["data"]["replayCreditPrice"] is None
    stored = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    assert stored["isActiveReplayOnCreatorProfile"] is True and stored["replayCreditPrice"] is None


async def test_replay_settings_errors(client, make_user):
    guest, guest_token = await make_user()
    _, token = await make_user()
    stream = await create_stream(client, token, liveStreamType="duoself", guests=json.dumps([guest["_id"]]))
    url = f"{API}/{stream['id']}/replay-settings"
    forbidden = await client.patch(url, json={"replayCreditPrice": 1}, headers=auth(guest_token))
    assert_error(forbidden, 403, "Insufficient permissions")
    for body in (
        {},
        {"replayCreditPrice": -1},
        {"replayCreditPrice": 9.5},
        {"price": 3},
        {"replayCreditPrice": "5"},
        {"isActiveReplayOnCreatorProfile": "yes"},
    ):
        assert_error(await client.patch(url, json=body, headers=auth(token)), 400, "Validation failed")
    assert_error(await client.patch(url, json={"replayCreditPrice": 1}), 401, "Authentication required")
    missing = await client.patch(
        f"{API}/{ObjectId()}/replay-settings", json={"replayCreditPrice": 1}, headers=auth(token)
    )
    assert_error(missing, 404, "Resource not found")


async def status_of(client, token, stream):
    response = await client.get(f"{API}/{stream['id']}/replay-status", headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_status_for_owner_guest_renter_and_others(client, make_user, db):
    guest, guest_token = await make_user()
    _, token = await make_user()
    _, fan = await make_user(credits=100)
    stream = await make_rentable(
        client, db, token, liveStreamType="duoself", guests=json.dumps([guest["_id"]])
    )
    for member in (token, guest_token):
        owner = await status_of(client, member, stream)
        assert owner["status"] == "owner" and owner["canViewRecording"] is True and owner["canRent"] is False
    available = await status_of(client, fan, stream)
    assert available == {
        "status": "available",
        "canRent": True,
        "canViewRecording": False,
        "price": 50,
        "rentedAt": None,
        "expiresAt": None,
        "remainingSeconds": None,
    }
    rental = (await client.post(f"{API}/{stream['id']}/replay-rentals", headers=auth(fan))).json()["data"]
    rented = await status_of(client, fan, stream)
    assert rented["status"] == "rented" and rented["canViewRecording"] is True and rented["canRent"] is False
    assert rented["rentedAt"] == rental["rentedAt"] and rented["expiresAt"] == rental["expiresAt"]
    assert 86_000 < rented["remainingSeconds"] <= 86_400
    await db["replay_rentals"].update_many({}, {"$set": {"expiresAt": utcnow() - timedelta(seconds=1)}})
    expired = await status_of(client, fan, stream)
    assert (
        expired["status"] == "expired" and expired["canRent"] is True and expired["canViewRecording"] is False
    )


@pytest.mark.parametrize(
    "change",
    [
        {"recordingUrl": None},
        {"isActiveReplayOnCreatorProfile": False},
        {"replayCreditPrice": 0},
        {"replayCreditPrice": None},
        {"status": "cancelled_by_host"},
    ],
)
async def test_status_unavailable_when_not_rentable(client, make_user, db, change):
    _, token = await make_user()
    _, fan = await make_user()
    stream = await make_rentable(client, db, token)
    await set_fields(db, stream["id"], **change)
    data = await status_of(client, fan, stream)
    assert data["status"] == "unavailable" and data["canRent"] is False and data["canViewRecording"] is False


async def test_status_errors(client, make_user):
    _, token = await make_user()
    assert_error(
        await client.get(f"{API}/{ObjectId()}/replay-status", headers=auth(token)), 404, "Resource not found"
    )
    assert_error(await client.get(f"{API}/x/replay-status", headers=auth(token)), 400, "Validation failed")
    assert_error(await client.get(f"{API}/{ObjectId()}/replay-status"), 401, "Authentication required")


async def test_recording_url_only_for_callers_with_access(client, make_user, db, solo):
    _, token, stream = solo
    _, fan = await make_user(credits=50)
    _, other = await make_user()
    assert (await client.post(f"{API}/{stream['id']}/replay-rentals", headers=auth(fan))).status_code == 200
    views = {}
    for name, caller in {"owner": token, "renter": fan, "other": other}.items():
        views[name] = (await client.get(f"{API}/{stream['id']}", headers=auth(caller))).json()["data"][
            "recordingUrl"
        ]
    assert views == {"owner": RECORDING, "renter": RECORDING, "other": None}
