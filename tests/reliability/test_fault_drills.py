"""Fault drills against the in-process fake AIOZ: timeouts, 5xx, 429 and dropped connections.

* During start the creator is waiting: a clear 503 envelope, the stream exactly as before, the live slot
  free, and the next start once AIOZ recovers works (closing any session the failed one left behind).
* During end the stream ends anyway (the broadcast is over for our users); the AIOZ session is closed by
  the reconcile pass once AIOZ recovers.
* During recording collection the reconcile pass backs off, then fills `recordingUrl` once AIOZ recovers.

AIOZ calls get a 0.3 s budget and one attempt here (`AIOZ_TIMEOUT_SECONDS`, `AIOZ_MAX_ATTEMPTS`), so a
hanging AIOZ costs a third of a second, not the production 30 s, and no drill waits on retry backoff
(the client's retries are drilled in tests/aioz). Faults outlast every call a drill makes, so each
drill's outcome is the same on every run.
"""

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from app.core.config import Settings
from app.core.timeutils import utcnow
from app.flows import reconciler as build_reconciler
from app.live_streams.reconcile import BACKOFF_BASE
from app.live_streams.streaming import StreamingGateway
from tests.conftest import make_settings
from tests.helpers import assert_error, auth, create_stream, iso_in

UNAVAILABLE = "Service unavailable"
STREAMINGS = "/live_streams/*/streamings"
STREAMING = "/live_streams/*/streamings/*"
MEDIA = "/live_streams/*/media"
# (kind, extra fault arguments): a hang past the budget, a 503, a 429 whose Retry-After is past the
# budget, and a connection dropped after AIOZ acted (the answer is lost, the effect is not).
FAULTS = {
    "timeout": {"delay": 30},
    "5xx": {"status": 503},
    "429": {"retry_after": 5},
    "drop": {},
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(media_dir=str(tmp_path / "media"), aioz_timeout_seconds=0.3, aioz_max_attempts=1)


def test_the_drill_settings_reach_the_aioz_client(app):
    config = app.state.aioz.config
    assert (config.deadline_seconds, config.max_attempts, config.read_timeout) == (0.3, 1, 0.3)


def url(stream: dict[str, Any], action: str = "") -> str:
    return f"/api/v1/live-stream/{stream['id']}" + (f"/{action}" if action else "")


async def stream_doc(db: Any, stream: dict[str, Any]) -> dict[str, Any]:
    return await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})


async def open_sessions(app: Any, db: Any, creator: dict[str, Any]) -> list[Any]:
    key = await db["aioz_keys"].find_one({"_id": ObjectId(creator["_id"])})
    return [] if key is None else (await app.state.aioz.list_streamings(key["keyId"])).media


async def reconcile_now(app: Any, db: Any, stream: dict[str, Any]) -> int:
    """Make the stream due (as if its backoff elapsed) and run one reconcile pass."""
    await db["live_streams"].update_one(
        {"_id": ObjectId(stream["id"]), "aioz.reconcileAt": {"$ne": None}},
        {"$set": {"aioz.reconcileAt": utcnow() - timedelta(seconds=1)}},
    )
    return await build_reconciler(db, StreamingGateway(db, app.state.aioz, ["720p"])).run_once()


def inject(app: Any, path: str, kind: str, method: str | None) -> None:
    app.state.aioz_fake.inject_fault(path, kind, count=20, method=method, **FAULTS[kind])


@pytest.mark.parametrize("kind", list(FAULTS))
async def test_start_fails_cleanly_and_the_next_start_works(kind, client, make_user, app, db):
    creator, token = await make_user()
    stream = await create_stream(client, token, plannedStartDate=iso_in(hours=1), recording=True)
    before = await stream_doc(db, stream)
    # Every call on the key's streamings fails, the look-up an ambiguous create triggers included.
    inject(app, STREAMINGS, kind, method=None)

    # A guard, not a stopwatch: the 0.3 s AIOZ_TIMEOUT_SECONDS ends the call long before the fault's 30 s
    # hang would (the drill settings reaching the client are asserted above).
    async with asyncio.timeout(15):
        response = await client.post(url(stream, "start"), headers=auth(token))

    body = assert_error(response, 503, UNAVAILABLE)
    assert body["errors"][1] == "video service unavailable while trying to open the live session; try again"
    assert await stream_doc(db, stream) == before  # not half-started: not even a held slot
    my_active = await client.get("/api/v1/live-stream/my-active-stream", headers=auth(token))
    assert_error(my_active, 404, "Resource not found")

    app.state.aioz_fake.clear_faults()  # AIOZ recovers
    retried = await client.post(url(stream, "start"), headers=auth(token))
    assert retried.status_code == 200, retried.text
    doc = await stream_doc(db, stream)
    sessions = await open_sessions(app, db, creator)
    # One session, the one we know: a session the dropped create left behind was closed first.
    assert [s.id for s in sessions] == [doc["aioz"]["streamingId"]]
    assert doc["status"] == "active" and doc["liveSlotOwner"] == ObjectId(creator["_id"])


@pytest.mark.parametrize("kind", list(FAULTS))
async def test_first_start_failing_on_key_creation_leaves_no_orphan_key(kind, client, make_user, app, db):
    creator, token = await make_user()
    stream = await create_stream(client, token)
    inject(app, "/live_streams", kind, method="POST")

    assert_error(await client.post(url(stream, "start"), headers=auth(token)), 503, UNAVAILABLE)
    doc = await stream_doc(db, stream)
    assert doc["status"] == "preparing" and "liveSlotOwner" not in doc
    assert await db["aioz_keys"].count_documents({}) == 0

    app.state.aioz_fake.clear_faults()
    assert (await client.post(url(stream, "start"), headers=auth(token))).status_code == 200
    # A key the lost answer had created is adopted, not duplicated.
    keys = (await app.state.aioz.list_live_stream_keys(search=f"allmine-{creator['_id']}")).live_stream_keys
    assert len(keys) == 1
    assert (await db["aioz_keys"].find_one({"_id": ObjectId(creator["_id"])}))["keyId"] == keys[0].id


@pytest.mark.parametrize("kind", list(FAULTS))
async def test_end_succeeds_and_reconcile_closes_the_session(kind, client, make_user, app, db):
    creator, token = await make_user()
    stream = await create_stream(client, token)
    assert (await client.post(url(stream, "start"), headers=auth(token))).status_code == 200
    streaming_id = (await stream_doc(db, stream))["aioz"]["streamingId"]
    inject(app, STREAMING, kind, method="DELETE")

    ended = await client.post(url(stream, "end"), headers=auth(token))

    assert ended.status_code == 200, ended.text
    assert ended.json()["data"]["status"] == "ended" and ended.json()["data"]["endedAt"]
    doc = await stream_doc(db, stream)
    assert "liveSlotOwner" not in doc
    assert doc["aioz"]["state"] == "closing" and doc["aioz"]["attempts"] == 1
    assert doc["aioz"]["reconcileAt"] > utcnow() + BACKOFF_BASE  # backing off, not hammering AIOZ
    # A dropped answer hides that AIOZ did close it; the other faults left it open.
    expected_open = [] if kind == "drop" else [streaming_id]
    assert [s.id for s in await open_sessions(app, db, creator)] == expected_open
    # The creator's slot does not wait for AIOZ: another start gets as far as AIOZ (503, not 409).
    other = await create_stream(client, token)
    inject(app, STREAMINGS, kind, method=None)
    assert_error(await client.post(url(other, "start"), headers=auth(token)), 503, UNAVAILABLE)

    app.state.aioz_fake.clear_faults()
    await reconcile_now(app, db, stream)
    doc = await stream_doc(db, stream)
    assert doc["aioz"]["state"] == "closed" and doc["aioz"]["reconcileAt"] is None
    assert streaming_id not in [s.id for s in await open_sessions(app, db, creator)]
    assert (await client.post(url(other, "start"), headers=auth(token))).status_code == 200
    now_open = [s.id for s in await open_sessions(app, db, creator)]
    assert now_open == [(await stream_doc(db, other))["aioz"]["streamingId"]]


@pytest.mark.parametrize("kind", list(FAULTS))
async def test_recording_collection_backs_off_then_fills_the_url(kind, client, make_user, app, db):
    _, token = await make_user()
    stream = await create_stream(client, token, recording=True)
    assert (await client.post(url(stream, "start"), headers=auth(token))).status_code == 200
    streaming_id = (await stream_doc(db, stream))["aioz"]["streamingId"]
    fake = app.state.aioz_fake
    fake.go_live(streaming_id)
    ended = await client.post(url(stream, "end"), headers=auth(token))
    assert ended.status_code == 200 and ended.json()["data"]["recordingUrl"] is None
    fake.end_stream(streaming_id)
    fake.produce_recording(streaming_id)  # ready on AIOZ, but AIOZ cannot be asked for it
    inject(app, MEDIA, kind, method="GET")

    attempts = (await stream_doc(db, stream))["aioz"]["attempts"]
    for attempt in (1, 2):
        assert await reconcile_now(app, db, stream) == 1
        doc = await stream_doc(db, stream)
        assert doc["recordingUrl"] is None and doc["aioz"]["state"] == "closing"
        assert doc["aioz"]["attempts"] == attempts + attempt
        # Exponential backoff: every failure pushes the next try further out.
        assert doc["aioz"]["reconcileAt"] >= utcnow() + BACKOFF_BASE * 2 ** (attempts + attempt) * 0.9
    reconciler = build_reconciler(db, StreamingGateway(db, app.state.aioz, ["720p"]))
    assert await reconciler.run_once() == 0  # not due yet: no call to AIOZ at all

    fake.clear_faults()
    assert await reconcile_now(app, db, stream) == 1
    doc = await stream_doc(db, stream)
    assert doc["aioz"]["state"] == "recorded" and doc["aioz"]["reconcileAt"] is None
    assert doc["recordingUrl"].startswith("http")
    owner_view = (await client.get(url(stream), headers=auth(token))).json()["data"]
    assert owner_view["recordingUrl"] == doc["recordingUrl"]
