"""Start / end wired to the (in-process) fake AIOZ, one active stream per creator, reconcile."""

import asyncio

import httpx
from bson import ObjectId

from app.aioz import AiozClient, AiozConfig
from app.aioz.fake import IN_PROCESS_BASE_URL
from tests.helpers import assert_error, auth, create_stream, iso_in

CONFLICT = "Resource already exists or cannot be changed in its current state"


def path(stream: dict, action: str = "") -> str:
    return f"/api/v1/live-stream/{stream['id']}" + (f"/{action}" if action else "")


async def test_start_and_end_provision_and_close_aioz(client, make_user, app, db):
    creator, token = await make_user()
    stream = await create_stream(client, token, plannedStartDate=iso_in(hours=1))
    response = await client.post(path(stream, "start"), headers=auth(token))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "active" and data["startedAt"] is not None
    assert data["broadcasters"][0]["role"] == "host"
    assert data["broadcasters"][0]["userSummary"]["_id"] == creator["_id"]

    fake = app.state.aioz_fake
    doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    streaming_id = doc["aioz"]["streamingId"]
    assert fake.store.streamings[streaming_id].status == "created"
    assert fake.store.streamings[streaming_id].save is False

    joined = await client.post(
        "/api/v1/live-stream/join-as-creator", json={"liveStreamId": stream["id"]}, headers=auth(token)
    )
    ingest = joined.json()["data"]["ingest"]
    key = await db["aioz_keys"].find_one({"_id": ObjectId(creator["_id"])})
    assert ingest["streamKey"] == key["streamKey"] and ingest["publishUrl"].endswith(key["streamKey"])

    response = await client.post(path(stream, "end"), headers=auth(token))
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "ended" and response.json()["data"]["endedAt"]
    doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    assert doc["aioz"]["state"] == "closed" and "liveSlotOwner" not in doc
    assert streaming_id not in fake.store.streamings  # save=false sessions are deleted at the end


async def test_key_is_created_once_and_reused(client, make_user, db):
    _, token = await make_user()
    for _ in range(2):
        stream = await create_stream(client, token)
        assert (await client.post(path(stream, "start"), headers=auth(token))).status_code == 200
        assert (await client.post(path(stream, "end"), headers=auth(token))).status_code == 200
    assert await db["aioz_keys"].count_documents({}) == 1


async def test_start_rules(client, make_user):
    _, token = await make_user()
    _, other = await make_user()
    stream = await create_stream(client, token)
    assert_error(
        await client.post(path(stream, "start"), headers=auth(other)), 403, "Insufficient permissions"
    )
    assert_error(await client.post(path(stream, "end"), headers=auth(token)), 409, CONFLICT)
    assert (await client.post(path(stream, "start"), headers=auth(token))).status_code == 200
    assert_error(await client.post(path(stream, "start"), headers=auth(token)), 409, CONFLICT)
    second = await create_stream(client, token)
    assert_error(await client.post(path(second, "start"), headers=auth(token)), 409, CONFLICT)


async def test_concurrent_starts_of_one_creator_exactly_one_wins(client, make_user, db):
    creator, token = await make_user()
    streams = [await create_stream(client, token) for _ in range(6)]
    responses = await asyncio.gather(*(client.post(path(s, "start"), headers=auth(token)) for s in streams))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409, 409, 409, 409, 409]
    active = await db["live_streams"].count_documents(
        {"creatorId": ObjectId(creator["_id"]), "status": "active"}
    )
    assert active == 1
    my_active = await client.get("/api/v1/live-stream/my-active-stream", headers=auth(token))
    winner = next(r for r in responses if r.status_code == 200).json()["data"]["id"]
    assert my_active.json()["data"]["id"] == winner


async def test_aioz_failure_on_start_leaves_stream_untouched(client, make_user, app, db):
    _, token = await make_user()
    stream = await create_stream(client, token, plannedStartDate=iso_in(hours=1))
    fake = app.state.aioz_fake
    fake.inject_fault("/live_streams/*/streamings", "5xx", count=10, method="POST", status=503)
    response = await client.post(path(stream, "start"), headers=auth(token))
    assert_error(response, 503, "Service unavailable")
    doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    assert doc["status"] == "scheduled" and "liveSlotOwner" not in doc and doc["startedAt"] is None
    fake.clear_faults()
    assert (await client.post(path(stream, "start"), headers=auth(token))).status_code == 200


async def test_aioz_refusal_on_start_is_502(client, make_user, app, db):
    _, token = await make_user()
    stream = await create_stream(client, token)
    # AIOZ rejects our credentials (a misconfiguration): a refusal, not an outage.
    fake = app.state.aioz_fake
    app.state.aioz = AiozClient(
        AiozConfig(base_url=IN_PROCESS_BASE_URL, api_token="wrong"),
        transport=httpx.ASGITransport(app=fake.app),
    )
    app.state.shared_services.clear()  # the services were built around the previous client
    response = await client.post(path(stream, "start"), headers=auth(token))
    assert_error(response, 502, "Upstream service error")
    doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    assert doc["status"] == "preparing" and "liveSlotOwner" not in doc


async def test_reconcile_fills_recording_url_when_aioz_finishes(client, make_user, app, db):
    from app.flows import reconciler as build_reconciler
    from app.live_streams.streaming import StreamingGateway

    _, token = await make_user()
    _, viewer = await make_user()
    stream = await create_stream(client, token, recording=True)
    assert (await client.post(path(stream, "start"), headers=auth(token))).status_code == 200
    doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    streaming_id = doc["aioz"]["streamingId"]
    fake = app.state.aioz_fake
    assert fake.store.streamings[streaming_id].save is True
    fake.go_live(streaming_id)
    ended = await client.post(path(stream, "end"), headers=auth(token))
    assert ended.json()["data"]["recordingUrl"] is None  # not produced yet
    doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    assert doc["aioz"]["state"] == "closing" and doc["aioz"]["reconcileAt"] is not None

    fake.end_stream(streaming_id)
    fake.produce_recording(streaming_id)
    await db["live_streams"].update_one({"_id": doc["_id"]}, {"$set": {"aioz.reconcileAt": doc["createdAt"]}})
    reconciler = build_reconciler(db, StreamingGateway(db, app.state.aioz, ["720p"]))
    assert await reconciler.run_once() == 1
    doc = await db["live_streams"].find_one({"_id": doc["_id"]})
    assert doc["aioz"]["state"] == "recorded" and doc["recordingUrl"].startswith("http")
    owner_view = (await client.get(path(stream), headers=auth(token))).json()["data"]
    assert owner_view["recordingUrl"] == doc["recordingUrl"]
    viewer_view = (await client.get(path(stream), headers=auth(viewer))).json()["data"]
    assert viewer_view["recordingUrl"] is None and viewer_view["replayAccess"]["canViewRecording"] is False


async def test_reconcile_heals_a_start_that_died_midway(client, make_user, app, db):
    from app.flows import reconciler as build_reconciler
    from app.live_streams.streaming import StreamingGateway

    _, token = await make_user()
    stream = await create_stream(client, token)
    # Simulate a replica that claimed the slot, opened an AIOZ session and crashed.
    assert (await client.post(path(stream, "start"), headers=auth(token))).status_code == 200
    _id = ObjectId(stream["id"])
    past = (await db["live_streams"].find_one({"_id": _id}))["createdAt"].replace(year=2000)
    await db["live_streams"].update_one(
        {"_id": _id},
        {"$set": {"status": "preparing", "startingAt": past, "aioz.reconcileAt": past, "startedAt": None}},
    )
    second = await create_stream(client, token)
    assert_error(await client.post(path(second, "start"), headers=auth(token)), 409, CONFLICT)
    await build_reconciler(db, StreamingGateway(db, app.state.aioz, ["720p"])).run_once()
    doc = await db["live_streams"].find_one({"_id": _id})
    assert "liveSlotOwner" not in doc
    assert (await client.post(path(second, "start"), headers=auth(token))).status_code == 200


async def test_active_stream_endpoints(client, make_user):
    creator, token = await make_user()
    _, viewer = await make_user()
    assert_error(
        await client.get("/api/v1/live-stream/my-active-stream", headers=auth(token)),
        404,
        "Resource not found",
    )
    stream = await create_stream(client, token)
    await client.post(path(stream, "start"), headers=auth(token))
    url = f"/api/v1/live-stream/user/{creator['_id']}/active-stream"
    anonymous = await client.get(url)
    assert anonymous.status_code == 200 and anonymous.json()["data"]["role"] is None
    assert (await client.get(url, headers=auth(viewer))).json()["data"]["id"] == stream["id"]
    assert_error(
        await client.get(url, headers={"Authorization": "Bearer bad"}), 401, "Authentication required"
    )
    assert_error(await client.get("/api/v1/live-stream/user/xyz/active-stream"), 400, "Validation failed")
    await client.post(path(stream, "end"), headers=auth(token))
    assert_error(await client.get(url), 404, "Resource not found")


async def test_reconcile_expires_overdue_scheduled_streams_and_refunds(client, make_user, app, db):
    from app.flows import reconciler as build_reconciler
    from app.live_streams.streaming import StreamingGateway

    _, token = await make_user()
    fan, fan_token = await make_user(credits=100)
    overdue = await create_stream(
        client, token, plannedStartDate=iso_in(hours=1), fundingGoal=50, durationGoal=30
    )
    upcoming = await create_stream(client, token, plannedStartDate=iso_in(hours=1))
    funded = await client.post(path(overdue, "fund"), json={"amount": 40}, headers=auth(fan_token))
    assert funded.status_code == 200
    _id = ObjectId(overdue["id"])
    doc = await db["live_streams"].find_one({"_id": _id})
    await db["live_streams"].update_one(
        {"_id": _id},
        {
            "$set": {
                "plannedStartDate": doc["createdAt"].replace(year=2001),
                "plannedEndDate": doc["createdAt"].replace(year=2001),
            }
        },
    )
    reconciler = build_reconciler(db, StreamingGateway(db, app.state.aioz, ["720p"]))
    await reconciler.run_once()
    await reconciler.run_once()  # a second pass changes nothing
    assert (await db["live_streams"].find_one({"_id": _id}))["status"] == "expired"
    assert (await db["live_streams"].find_one({"_id": ObjectId(upcoming["id"])}))["status"] == "scheduled"
    assert (await db["users"].find_one({"_id": ObjectId(fan["_id"])}))["credits"] == 100
    assert await db["credit_transactions"].count_documents({"type": "live_stream_funding_refund"}) == 1
