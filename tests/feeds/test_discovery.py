"""catch-streamers, featured and past streams: public discovery lists (bare arrays)."""

from datetime import timedelta

from app.core.timeutils import utcnow
from tests.helpers import assert_error, auth, create_stream, iso_in
from tests.streams import API, ended_stream, ids, join_as_audience, set_fields, started_stream


async def test_catch_streamers_pairs_each_creator_with_their_newest_active_stream(client, make_user, db):
    users = [await make_user() for _ in range(3)]
    streams = [await started_stream(client, token, title=f"Live {n}") for n, (_, token) in enumerate(users)]
    base = utcnow()
    for minutes_ago, stream in zip((30, 10, 20), streams, strict=True):
        await set_fields(db, stream["id"], startedAt=base - timedelta(minutes=minutes_ago))
    _, other = await make_user()
    await create_stream(client, other, plannedStartDate=iso_in(hours=1))  # scheduled: not live
    await ended_stream(client, other)  # ended: not live

    response = await client.get(f"{API}/catch-streamers")  # no auth needed
    assert response.status_code == 200
    data = response.json()["data"]
    assert [item["activeLiveStream"]["id"] for item in data] == [
        s["id"] for s in (streams[1], streams[2], streams[0])
    ]
    first = data[0]
    assert first["creator"] == first["activeLiveStream"]["creator"]
    assert first["creator"]["username"] == users[1][0]["username"]
    assert first["activeLiveStream"]["role"] is None  # anonymous view

    limited = (await client.get(f"{API}/catch-streamers?limit=2")).json()["data"]
    assert len(limited) == 2
    assert_error(await client.get(f"{API}/catch-streamers?limit=0"), 400, "Validation failed")
    assert_error(await client.get(f"{API}/catch-streamers?limit=101"), 400, "Validation failed")


async def test_featured_orders_active_streams_by_present_viewers_and_keeps_ten(client, make_user, db):
    creators = [await make_user() for _ in range(12)]
    streams = [await started_stream(client, token) for _, token in creators]
    base = utcnow()
    for n, stream in enumerate(streams):  # streams[11] started most recently
        await set_fields(db, stream["id"], startedAt=base - timedelta(minutes=60 - n))
    viewers = [await make_user() for _ in range(3)]
    for _, token in viewers:
        await join_as_audience(client, token, streams[0]["id"])
    for _, token in viewers[:2]:
        await join_as_audience(client, token, streams[5]["id"])
    await join_as_audience(client, viewers[2][1], streams[7]["id"])
    left = await client.post(f"{API}/{streams[7]['id']}/leave", headers=auth(viewers[2][1]))
    assert left.status_code == 200  # a viewer who left no longer counts

    response = await client.get(f"{API}/featured")
    assert response.status_code == 200
    data = response.json()["data"]
    # Most viewers first; ties (no viewers) by the most recent start.
    expected = [streams[0], streams[5], *[streams[n] for n in (11, 10, 9, 8, 7, 6, 4, 3)]]
    assert ids(data) == ids(expected)


async def test_featured_is_empty_without_live_streams(client):
    response = await client.get(f"{API}/featured")
    assert response.status_code == 200 and response.json()["data"] == []


async def test_featured_refreshes_its_snapshot_when_fewer_than_ten_of_its_streams_are_still_live(
    client, make_user, app, db
):
    """The snapshot is an hour fresh, but the streams it ranked have ended: new live streams show at once
    instead of an empty list."""
    app.state.settings.__dict__["ranking_max_age_seconds"] = 3600  # frozen settings: test-only override
    early = [await make_user() for _ in range(3)]
    early_streams = [await started_stream(client, token) for _, token in early]
    assert len((await client.get(f"{API}/featured")).json()["data"]) == 3  # snapshot taken with 3
    for (_, token), stream in zip(early, early_streams, strict=True):
        ended = await client.post(f"{API}/{stream['id']}/end", headers=auth(token))
        assert ended.status_code == 200
    late = [await make_user() for _ in range(12)]
    late_streams = [await started_stream(client, token) for _, token in late]

    data = (await client.get(f"{API}/featured")).json()["data"]
    assert len(data) == 10 and set(ids(data)) <= set(ids(late_streams))
    snapshot = await db["feed_snapshots"].find_one({})
    assert len(snapshot["streams"]) == 12  # republished for every replica


async def test_featured_with_all_its_streams_live_is_served_from_the_snapshot(client, make_user, app):
    app.state.settings.__dict__["ranking_max_age_seconds"] = 3600  # frozen settings: test-only override
    first = [await make_user() for _ in range(2)]
    for _, token in first:
        await started_stream(client, token)
    assert len((await client.get(f"{API}/featured")).json()["data"]) == 2
    _, newcomer = await make_user()
    await started_stream(client, newcomer)
    # Fewer than ten, but none of the snapshot's streams ended: no recomputation per request.
    assert len((await client.get(f"{API}/featured")).json()["data"]) == 2
