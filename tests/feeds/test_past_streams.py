"""my-past-streams (auth) and user/{userId}/past-streams (optional auth): ended, alive, newest first."""

from datetime import timedelta

from bson import ObjectId

from app.core.timeutils import utcnow
from tests.helpers import assert_error, auth, create_stream
from tests.streams import API, ended_stream, ids, set_fields, started_stream


async def past_streams_of(client, db, token):
    older = await ended_stream(client, token, title="Older")
    newer = await ended_stream(client, token, title="Newer")
    deleted = await ended_stream(client, token, title="Deleted")
    now = utcnow()
    await set_fields(db, older["id"], endedAt=now - timedelta(days=2))
    await set_fields(db, newer["id"], endedAt=now - timedelta(days=1))
    assert (await client.delete(f"{API}/{deleted['id']}", headers=auth(token))).status_code == 200
    await started_stream(client, token, title="Live now")  # active: not past
    await create_stream(client, token, title="Preparing")
    return older, newer


async def test_my_past_streams_lists_ended_alive_streams_newest_first(client, make_user, db):
    _, token = await make_user()
    older, newer = await past_streams_of(client, db, token)
    response = await client.get(f"{API}/my-past-streams", headers=auth(token))
    assert response.status_code == 200
    data = response.json()["data"]
    assert ids(data) == [newer["id"], older["id"]]
    assert all(item["status"] == "ended" and item["role"] == "host" for item in data)
    one = (await client.get(f"{API}/my-past-streams?limit=1", headers=auth(token))).json()["data"]
    assert ids(one) == [newer["id"]]


async def test_my_past_streams_errors(client, make_user):
    _, token = await make_user()
    assert_error(await client.get(f"{API}/my-past-streams"), 401, "Authentication required")
    response = await client.get(f"{API}/my-past-streams?limit=0", headers=auth(token))
    assert_error(response, 400, "Validation failed")


async def test_user_past_streams_with_optional_auth(client, make_user, db):
    creator, token = await make_user()
    _, viewer = await make_user()
    older, newer = await past_streams_of(client, db, token)
    url = f"{API}/user/{creator['_id']}/past-streams"

    anonymous = (await client.get(url)).json()["data"]
    assert ids(anonymous) == [newer["id"], older["id"]]
    assert {item["role"] for item in anonymous} == {None}
    as_viewer = (await client.get(url, headers=auth(viewer))).json()["data"]
    assert ids(as_viewer) == ids(anonymous)
    assert (await client.get(f"{url}?limit=1")).json()["data"][0]["id"] == newer["id"]

    unknown = await client.get(f"{API}/user/{ObjectId()}/past-streams")
    assert unknown.status_code == 200 and unknown.json()["data"] == []
    assert_error(await client.get(url, headers=auth("not-a-jwt")), 401, "Authentication required")
    assert_error(await client.get(f"{API}/user/nope/past-streams"), 400, "Validation failed")
    assert_error(await client.get(f"{url}?limit=101"), 400, "Validation failed")
