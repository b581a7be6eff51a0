"""Participant statistics over HTTP: who may read them and how the numbers are computed."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from app.core.clock import request_time
from tests.helpers import assert_error, auth, create_stream
from tests.streams import join_as_audience, join_as_guest, started_stream

FORBIDDEN = "Insufficient permissions"


def url(stream_id: str) -> str:
    return f"/api/v1/participant/stream/{stream_id}/statistics"


async def stats(client, token, stream_id):
    response = await client.get(url(stream_id), headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def participation(db, stream_id, user_id, **fields):
    await db["participants"].update_one(
        {"liveStreamId": ObjectId(stream_id), "userId": ObjectId(user_id), "role": "audience"},
        {"$set": fields},
    )


@pytest.fixture
async def duo(client, make_user):
    _, host = await make_user()
    guest, guest_token = await make_user()
    stream = await started_stream(client, host, liveStreamType="duoself", guests=json.dumps([guest["_id"]]))
    return stream, host, guest_token


class TestAccess:
    async def test_creator_and_guest_only(self, client, make_user, duo):
        stream, host, guest_token = duo
        _, viewer = await make_user()
        await join_as_audience(client, viewer, stream["id"])
        assert (await stats(client, host, stream["id"]))["streamId"] == stream["id"]
        assert (await stats(client, guest_token, stream["id"]))["totalViewers"] == 1
        assert_error(await client.get(url(stream["id"]), headers=auth(viewer)), 403, FORBIDDEN)
        assert_error(await client.get(url(stream["id"])), 401, "Authentication required")
        assert_error(await client.get(url(str(ObjectId())), headers=auth(host)), 404, "Resource not found")
        assert_error(await client.get(url("nope"), headers=auth(host)), 400, "Validation failed")

    async def test_empty_stream(self, client, make_user):
        _, host = await make_user()
        stream = await create_stream(client, host)
        assert await stats(client, host, stream["id"]) == {
            "streamId": stream["id"],
            "totalViewers": 0,
            "averageWatchTimeMinutes": 0,
            "totalWatchTimeMinutes": 0,
            "peakConcurrentViewers": 0,
        }


class TestNumbers:
    async def test_unique_viewers_watch_time_and_peak(self, app, client, make_user, db, duo):
        stream, host, guest_token = duo
        now = datetime.now(UTC).replace(microsecond=0)
        app.dependency_overrides[request_time] = lambda: now
        a, a_token = await make_user()
        b, b_token = await make_user()
        await join_as_guest(client, guest_token, stream["id"])  # guests are not audience
        await join_as_audience(client, a_token, stream["id"])
        await join_as_audience(client, b_token, stream["id"])
        await join_as_audience(client, b_token, stream["id"])  # a re-join is the same viewer
        leave = await client.post(f"/api/v1/live-stream/{stream['id']}/leave", headers=auth(a_token))
        assert leave.status_code == 200
        # a: one closed session of 5 minutes; b: present for 10 minutes after an earlier 2.5-minute session.
        await participation(db, stream["id"], a["_id"], watchSeconds=300)
        await participation(
            db, stream["id"], b["_id"], watchSeconds=150, joinedAt=now - timedelta(minutes=10)
        )
        data = await stats(client, host, stream["id"])
        assert list(data) == [
            "streamId", "totalViewers", "averageWatchTimeMinutes", "totalWatchTimeMinutes", "peakConcurrentViewers",
        ]  # fmt: skip
        assert data["totalViewers"] == 2
        assert data["totalWatchTimeMinutes"] == 17.5  # 5 + 2.5 + 10
        assert data["averageWatchTimeMinutes"] == 8.75
        assert data["peakConcurrentViewers"] == 2  # both were present at once, one left since

    async def test_open_participation_counts_until_the_end_of_an_ended_stream(self, client, make_user, db):
        _, host = await make_user()
        viewer, token = await make_user()
        stream = await started_stream(client, host)
        await join_as_audience(client, token, stream["id"])
        await participation(
            db, stream["id"], viewer["_id"], joinedAt=datetime.now(UTC) - timedelta(minutes=3)
        )
        assert (
            await client.post(f"/api/v1/live-stream/{stream['id']}/end", headers=auth(host))
        ).status_code == 200
        closed = await stats(
            client, host, stream["id"]
        )  # the end closed the participation: 3 minutes counted
        assert closed["totalViewers"] == 1 and 3 <= closed["totalWatchTimeMinutes"] < 3.1
        ended_at = (await db["live_streams"].find_one({"_id": ObjectId(stream["id"])}))["endedAt"]
        # A participation still open after the end (e.g. the end's follow-up not run yet) stops at endedAt.
        await participation(
            db,
            stream["id"],
            viewer["_id"],
            isPresent=True,
            watchSeconds=0,
            joinedAt=ended_at - timedelta(minutes=4),
        )
        assert (await stats(client, host, stream["id"]))["totalWatchTimeMinutes"] == 4


async def test_watch_seconds_stay_whole_numbers_as_mongod_stores_them(client, make_user, db):
    """`$divide` gives a double on mongod and `$floor` keeps it one: closing participations must still
    store (and answer) whole seconds as integers, not 90.0 (participant_repository._seconds_since)."""
    _, host = await make_user()
    _, viewer = await make_user()
    stream = await started_stream(client, host)
    await join_as_audience(client, viewer, stream["id"])
    joined = datetime.now(UTC) - timedelta(seconds=90, milliseconds=400)
    await db["participants"].update_many(
        {"liveStreamId": ObjectId(stream["id"])}, {"$set": {"joinedAt": joined, "watchSeconds": 10}}
    )
    await client.post(f"/api/v1/live-stream/{stream['id']}/end", headers=auth(host))
    stored = await db["participants"].find({"liveStreamId": ObjectId(stream["id"])}).to_list()
    assert stored and all(type(p["watchSeconds"]) is int and p["watchSeconds"] >= 100 for p in stored)
