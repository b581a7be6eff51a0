"""POST/DELETE /{id}/reminder and GET /my-reminders: one reminder per (user, stream)."""

from datetime import timedelta

import pytest
from bson import ObjectId

from app.core.timeutils import iso_ms, utcnow
from tests.helpers import assert_error, auth, create_stream
from tests.streams import API, ended_stream

CONFLICT = "Resource already exists or cannot be changed in its current state"


@pytest.fixture
async def scheduled(client, make_user):
    """(stream, planned start, creator token) for a stream planned in two hours."""
    _, token = await make_user()
    planned = utcnow() + timedelta(hours=2)
    stream = await create_stream(client, token, plannedStartDate=iso_ms(planned))
    return stream, planned, token


@pytest.mark.parametrize("minute", [None, 0])
async def test_null_or_zero_minute_means_on_start(client, make_user, db, scheduled, minute):
    stream, planned, _ = scheduled
    fan, token = await make_user()
    response = await client.post(
        f"{API}/{stream['id']}/reminder", json={"minute": minute}, headers=auth(token)
    )
    assert response.status_code == 200
    assert response.json()["data"] == {
        "streamId": stream["id"],
        "minute": minute,
        "mode": "ON_START",
        "scheduledFor": iso_ms(planned),
        "status": "ARMED_ON_START",
        "firedAt": None,
    }
    stored = await db["reminders"].find_one({"userId": ObjectId(fan["_id"])})
    assert stored["liveStreamId"] == ObjectId(stream["id"]) and stored["status"] == "ARMED_ON_START"


async def test_positive_minute_is_before_start_and_upserts_one_reminder(client, make_user, db, scheduled):
    stream, planned, _ = scheduled
    _, token = await make_user()
    url = f"{API}/{stream['id']}/reminder"
    first = await client.post(url, json={"minute": 15}, headers=auth(token))
    assert first.status_code == 200
    data = first.json()["data"]
    assert data["mode"] == "BEFORE_START" and data["status"] == "ARMED_BEFORE_START"
    assert data["minute"] == 15 and data["scheduledFor"] == iso_ms(planned - timedelta(minutes=15))

    changed = (await client.post(url, json={"minute": None}, headers=auth(token))).json()["data"]
    assert changed["mode"] == "ON_START" and changed["scheduledFor"] == iso_ms(planned)
    assert await db["reminders"].count_documents({}) == 1


async def test_a_fired_reminder_stays_fired(client, make_user, db, scheduled):
    """Posting again after it fired answers the fired reminder and re-arms nothing (no second notice)."""
    stream, _, _ = scheduled
    _, token = await make_user()
    url = f"{API}/{stream['id']}/reminder"
    assert (await client.post(url, json={"minute": 15}, headers=auth(token))).status_code == 200
    fired_at = utcnow()
    await db["reminders"].update_many({}, {"$set": {"status": "FIRED", "firedAt": fired_at}})
    again = await client.post(url, json={"minute": 5}, headers=auth(token))
    assert again.status_code == 200
    assert (again.json()["data"]["status"], again.json()["data"]["minute"]) == ("FIRED", 15)
    stored = await db["reminders"].find_one({})
    assert stored["status"] == "FIRED" and await db["reminders"].count_documents({}) == 1


async def test_a_time_already_passed_is_400(client, make_user, db, scheduled):
    stream, _, _ = scheduled  # planned in two hours: 120 minutes before has just passed
    _, token = await make_user()
    url = f"{API}/{stream['id']}/reminder"
    assert_error(await client.post(url, json={"minute": 121}, headers=auth(token)), 400, "Validation failed")
    assert await db["reminders"].count_documents({}) == 0
    assert (await client.post(url, json={"minute": 119}, headers=auth(token))).status_code == 200


async def test_reminder_errors(client, make_user, scheduled):
    stream, _, _ = scheduled
    _, token = await make_user()
    url = f"{API}/{stream['id']}/reminder"
    for body in ({"minute": -1}, {"minute": "15"}, {"minute": 1.5}, {"minute": 10081}, {"minutes": 5}):
        assert_error(await client.post(url, json=body, headers=auth(token)), 400, "Validation failed")
    assert_error(await client.post(url, json={"minute": 5}), 401, "Authentication required")
    missing = f"{API}/{ObjectId()}/reminder"
    assert_error(
        await client.post(missing, json={"minute": 5}, headers=auth(token)), 404, "Resource not found"
    )
    bad_id = f"{API}/nope/reminder"
    assert_error(await client.post(bad_id, json={"minute": 5}, headers=auth(token)), 400, "Validation failed")

    _, host = await make_user()
    preparing = await create_stream(client, host)
    ended = await ended_stream(client, host)
    for other in (preparing, ended):
        response = await client.post(f"{API}/{other['id']}/reminder", json={"minute": 5}, headers=auth(token))
        assert_error(response, 409, CONFLICT)


async def test_delete_removes_the_reminder(client, make_user, db, scheduled):
    stream, _, _ = scheduled
    _, token = await make_user()
    url = f"{API}/{stream['id']}/reminder"
    assert_error(await client.delete(url, headers=auth(token)), 404, "Resource not found")
    await client.post(url, json={"minute": 10}, headers=auth(token))
    response = await client.delete(url, headers=auth(token))
    assert response.status_code == 200 and response.json()["data"]["minute"] == 10
    assert await db["reminders"].count_documents({}) == 0
    assert_error(await client.delete(url, headers=auth(token)), 404, "Resource not found")
    assert_error(await client.delete(url), 401, "Authentication required")


async def test_my_reminders_lists_newest_change_first_with_status_filter(client, make_user, scheduled):
    stream, _, creator = scheduled
    other = await create_stream(client, creator, plannedStartDate=iso_ms(utcnow() + timedelta(hours=3)))
    _, token = await make_user()
    await client.post(f"{API}/{stream['id']}/reminder", json={"minute": 10}, headers=auth(token))
    await client.post(f"{API}/{other['id']}/reminder", json={}, headers=auth(token))
    data = (await client.get(f"{API}/my-reminders", headers=auth(token))).json()["data"]
    assert [r["streamId"] for r in data] == [other["id"], stream["id"]]
    armed = await client.get(f"{API}/my-reminders?status=ARMED_BEFORE_START", headers=auth(token))
    assert [r["streamId"] for r in armed.json()["data"]] == [stream["id"]]
    assert_error(
        await client.get(f"{API}/my-reminders?status=LOST", headers=auth(token)), 400, "Validation failed"
    )
    assert_error(await client.get(f"{API}/my-reminders"), 401, "Authentication required")
