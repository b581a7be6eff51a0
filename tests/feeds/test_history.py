"""my-broadcasted-streams and my-watched-streams: ended, alive, one item per stream, paginated."""

import json
from datetime import timedelta

import pytest

from app.core.timeutils import utcnow
from tests.helpers import assert_error, auth
from tests.streams import API, ended_stream, ids, join_as_audience, join_as_guest, set_fields, started_stream


async def end(client, token, stream):
    response = await client.post(f"{API}/{stream['id']}/end", headers=auth(token))
    assert response.status_code == 200, response.text


async def stagger_ends(db, *streams):
    """The first stream ended most recently."""
    now = utcnow()
    for hours, stream in enumerate(streams, start=1):
        await set_fields(db, stream["id"], endedAt=now - timedelta(hours=hours))


async def test_broadcasted_lists_hosted_and_guested_streams(client, make_user, db):
    me, token = await make_user()
    _, host = await make_user()
    hosted = await ended_stream(client, token, title="Hosted")
    guested = await started_stream(client, host, liveStreamType="duoself", guests=json.dumps([me["_id"]]))
    await join_as_guest(client, token, guested["id"])
    await end(client, host, guested)
    invited_only = await ended_stream(client, host, liveStreamType="duoself", guests=json.dumps([me["_id"]]))
    deleted = await ended_stream(client, token, title="Deleted")
    assert (await client.delete(f"{API}/{deleted['id']}", headers=auth(token))).status_code == 200
    await started_stream(client, token, title="Still live")
    await stagger_ends(db, guested, hosted, invited_only)

    response = await client.get(f"{API}/my-broadcasted-streams", headers=auth(token))
    assert response.status_code == 200
    data = response.json()["data"]
    assert ids(data["list"]) == [guested["id"], hosted["id"]]  # an invitation alone is not broadcasting
    assert [item["role"] for item in data["list"]] == ["guest", "host"]
    assert data["pagination"] == {
        "currentPage": 1,
        "totalPages": 1,
        "totalItems": 2,
        "itemsPerPage": 10,
        "hasNextPage": False,
        "hasPrevPage": False,
    }
    second = (await client.get(f"{API}/my-broadcasted-streams?page=2&limit=1", headers=auth(token))).json()[
        "data"
    ]
    assert ids(second["list"]) == [hosted["id"]]
    assert second["pagination"]["hasPrevPage"] is True and second["pagination"]["totalPages"] == 2


async def test_watched_lists_each_ended_stream_once_with_audience_role(client, make_user, db):
    _, token = await make_user()
    hosts = [await make_user() for _ in range(4)]
    streams = [await started_stream(client, host_token) for _, host_token in hosts]
    for stream in streams:
        await join_as_audience(client, token, stream["id"])
    await join_as_audience(client, token, streams[0]["id"])  # twice: still one item
    for (_, host_token), stream in zip(hosts[:3], streams[:3], strict=True):
        await end(client, host_token, stream)
    assert (await client.delete(f"{API}/{streams[2]['id']}", headers=auth(hosts[2][1]))).status_code == 200
    await stagger_ends(db, streams[1], streams[0])  # streams[3] is still live

    response = await client.get(f"{API}/my-watched-streams", headers=auth(token))
    assert response.status_code == 200
    data = response.json()["data"]
    assert ids(data["list"]) == [streams[1]["id"], streams[0]["id"]]
    assert {item["role"] for item in data["list"]} == {"audience"}
    assert data["pagination"]["totalItems"] == 2

    _, stranger = await make_user()
    empty = (await client.get(f"{API}/my-watched-streams", headers=auth(stranger))).json()["data"]
    assert empty["list"] == [] and empty["pagination"]["totalItems"] == 0


@pytest.mark.parametrize("path", ["my-broadcasted-streams", "my-watched-streams"])
@pytest.mark.parametrize("query", ["page=0", "limit=0", "limit=101", "page=-1", "limit=x"])
async def test_history_validates_paging(client, make_user, path, query):
    _, token = await make_user()
    assert_error(await client.get(f"{API}/{path}?{query}", headers=auth(token)), 400, "Validation failed")


@pytest.mark.parametrize("path", ["my-broadcasted-streams", "my-watched-streams"])
async def test_history_needs_auth(client, path):
    assert_error(await client.get(f"{API}/{path}"), 401, "Authentication required")
