"""Upcoming lists (v1 hours, v2 minutes, the caller's own): membership, time window, reminder flag."""

import json
from datetime import timedelta

import pytest
from bson import ObjectId

from app.core.clock import request_time
from app.core.timeutils import iso_ms, utcnow
from tests.helpers import assert_error, auth, create_stream
from tests.streams import API, ids, set_fields, started_stream

V2 = "/api/v2/live-stream"
MS = timedelta(milliseconds=1)


@pytest.fixture
def now(app):
    """Pin the request clock, so the window edges can be hit to the millisecond."""
    pinned = utcnow()
    app.dependency_overrides[request_time] = lambda: pinned
    yield pinned
    app.dependency_overrides.pop(request_time)


async def scheduled_at(client, db, token, planned, **fields):
    """A scheduled stream planned at `planned` (set in the DB when that is not in the future)."""
    stream = await create_stream(
        client, token, plannedStartDate=iso_ms(utcnow() + timedelta(days=30)), **fields
    )
    await set_fields(db, stream["id"], plannedStartDate=planned)
    return stream


async def test_v1_window_edges_membership_and_order(client, make_user, db, now):
    member, token = await make_user()
    _, host_token = await make_user()
    _, stranger = await make_user()
    day = timedelta(hours=24)
    soon = await scheduled_at(client, db, token, now + timedelta(hours=1))
    last_in = await scheduled_at(client, db, token, now + day)
    await scheduled_at(client, db, token, now + day + MS)  # one ms too late
    first_in = await scheduled_at(client, db, token, now - day)
    await scheduled_at(client, db, token, now - day - MS)  # one ms too early
    as_guest = await scheduled_at(
        client,
        db,
        host_token,
        now + timedelta(hours=2),
        liveStreamType="duoself",
        guests=json.dumps([member["_id"]]),
    )
    as_broadcaster = await scheduled_at(client, db, host_token, now + timedelta(hours=3))
    await set_fields(
        db, as_broadcaster["id"], broadcasters=[{"user": ObjectId(member["_id"]), "role": "host", "uid": 7}]
    )
    await scheduled_at(client, db, stranger, now)  # not a member
    deleted = await scheduled_at(client, db, token, now)
    assert (await client.delete(f"{API}/{deleted['id']}", headers=auth(token))).status_code == 200
    preparing = await create_stream(client, token, title="Any minute")  # current: never time-filtered
    live = await started_stream(
        client, host_token, liveStreamType="duoself", guests=json.dumps([member["_id"]])
    )
    await set_fields(db, live["id"], plannedStartDate=now - timedelta(days=9))

    url = f"{API}/user/{member['_id']}/upcoming-live-streams"
    response = await client.get(f"{url}?limit=20")
    assert response.status_code == 200
    data = response.json()["data"]
    assert ids(data) == ids([live, preparing, first_in, soon, as_guest, as_broadcaster, last_in])
    assert {item["isReminderActive"] for item in data} == {None}  # anonymous caller

    narrow = (await client.get(f"{url}?hoursBefore=0&hoursAfter=1")).json()["data"]
    assert ids(narrow) == ids([live, preparing, soon])
    assert ids((await client.get(f"{url}?limit=3")).json()["data"]) == ids([live, preparing, first_in])


async def test_v2_minutes_window_edges(client, make_user, db, now):
    member, token = await make_user()
    inside = await scheduled_at(client, db, token, now + timedelta(minutes=90))
    await scheduled_at(client, db, token, now + timedelta(minutes=90) + MS)
    before = await scheduled_at(client, db, token, now - timedelta(minutes=5))
    url = f"{V2}/user/{member['_id']}/upcoming-live-streams"
    data = (await client.get(f"{url}?minutesBefore=5&minutesAfter=90")).json()["data"]
    assert ids(data) == ids([before, inside])
    defaults = (await client.get(url)).json()["data"]  # 1440 minutes each way
    assert len(defaults) == 3


async def test_reminder_flag_per_caller(client, make_user, db, now):
    member, token = await make_user()
    _, fan = await make_user()
    reminded = await scheduled_at(client, db, token, now + timedelta(hours=1))
    other = await scheduled_at(client, db, token, now + timedelta(hours=2))
    armed = await client.post(f"{API}/{reminded['id']}/reminder", json={"minute": 10}, headers=auth(fan))
    assert armed.status_code == 200
    url = f"{API}/user/{member['_id']}/upcoming-live-streams"
    flags = {
        item["id"]: item["isReminderActive"]
        for item in (await client.get(url, headers=auth(fan))).json()["data"]
    }
    assert flags == {reminded["id"]: True, other["id"]: False}
    await db["reminders"].update_many({}, {"$set": {"status": "FIRED"}})
    flags = {
        item["id"]: item["isReminderActive"]
        for item in (await client.get(url, headers=auth(fan))).json()["data"]
    }
    assert flags == {reminded["id"]: False, other["id"]: False}  # a fired reminder is no longer active


async def test_my_upcoming_uses_the_caller(client, make_user, db, now):
    _, token = await make_user()
    _, other = await make_user()
    mine = await scheduled_at(client, db, token, now + timedelta(hours=5))
    await scheduled_at(client, db, other, now + timedelta(hours=5))
    response = await client.get(f"{API}/my-upcoming-live-streams", headers=auth(token))
    assert response.status_code == 200
    data = response.json()["data"]
    assert ids(data) == [mine["id"]] and data[0]["isReminderActive"] is False and data[0]["role"] == "host"
    assert_error(await client.get(f"{API}/my-upcoming-live-streams"), 401, "Authentication required")


@pytest.mark.parametrize(
    "path, query",
    [
        (f"{API}/user/{{user}}/upcoming-live-streams", "limit=0"),
        (f"{API}/user/{{user}}/upcoming-live-streams", "hoursBefore=-1"),
        (f"{API}/user/{{user}}/upcoming-live-streams", "hoursAfter=-1"),
        (f"{API}/user/{{user}}/upcoming-live-streams", "hoursAfter=soon"),
        (f"{V2}/user/{{user}}/upcoming-live-streams", "limit=0"),
        (f"{V2}/user/{{user}}/upcoming-live-streams", "minutesBefore=-1"),
        (f"{V2}/user/{{user}}/upcoming-live-streams", "minutesAfter=-1"),
        (f"{API}/my-upcoming-live-streams", "hoursAfter=-1"),
        (f"{API}/user/not-an-id/upcoming-live-streams", ""),
    ],
)
async def test_parameter_validation(client, make_user, path, query):
    user, token = await make_user()
    response = await client.get(f"{path.format(user=user['_id'])}?{query}", headers=auth(token))
    assert_error(response, 400, "Validation failed")


async def test_unknown_user_gives_empty_list_and_bad_token_401(client):
    for base in (API, V2):
        response = await client.get(f"{base}/user/{ObjectId()}/upcoming-live-streams")
        assert response.status_code == 200 and response.json()["data"] == []
        bad = await client.get(f"{base}/user/{ObjectId()}/upcoming-live-streams", headers=auth("x.y.z"))
        assert_error(bad, 401, "Authentication required")
