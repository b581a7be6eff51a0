"""Socket.IO namespaces against a real server: auth, acks, presence, viewerCount, status, chat, bans, limits."""

import asyncio

import pytest
import socketio
from bson import ObjectId

from app.core import events
from app.core.security import create_access_token
from tests.helpers import auth, iso_in
from tests.streams import ended_stream, started_stream

API = "/api/v1/live-stream"
LIVE, STATUS, CHAT = "/live-stream", "/live-stream-status", "/stream-chat"


async def call(client, event, data, namespace):
    return await client.call(event, data, namespace=namespace, timeout=5)


class TestAuth:
    async def test_bad_token_refused_at_connect(self, live):
        with pytest.raises(socketio.exceptions.ConnectionError) as refused:
            await live.connect(LIVE, "not-a-jwt")
        message = {"statusCode": 401, "message": "Authentication required", "code": "TOKEN_INVALID"}
        assert refused.value.__notes__ == [repr([{"message": "Authentication required", "data": message}])]

    async def test_unknown_user_refused(self, live):
        token = create_access_token(live.app.state.settings, ObjectId())
        with pytest.raises(socketio.exceptions.ConnectionError):
            await live.connect(STATUS, token)

    async def test_bearer_header_accepted(self, live):
        _, token = await live.user()
        client, _ = await live.connect(STATUS, headers={"Authorization": f"Bearer {token}"})
        assert client.connected

    async def test_non_bearer_header_refused(self, live):
        with pytest.raises(socketio.exceptions.ConnectionError):
            await live.connect(STATUS, headers={"Authorization": "Basic abc"})


class TestPresence:
    async def test_join_records_participation_once_and_counts(self, live):
        _, creator = await live.user()
        _, viewer = await live.user()
        stream = await started_stream(live.http, creator)
        watcher, seen = await live.connect(LIVE)  # anonymous: listens, records nothing
        ack = await call(watcher, "joinStream", {"streamId": stream["id"]}, LIVE)
        assert ack["ok"] and ack["data"]["viewerCount"] == 0 and "token" not in ack["data"]
        a, _ = await live.connect(LIVE, viewer)
        b, _ = await live.connect("/stream-chat", viewer)
        first = await call(a, "joinStream", {"streamId": stream["id"]}, LIVE)
        second = await call(b, "joinStream", {"streamId": stream["id"]}, CHAT)
        assert first["ok"] and first["data"]["resumed"] is False and first["data"]["token"]
        assert second["ok"] and second["data"]["resumed"] is True
        docs = (
            await live.app.state.db["participants"].find({"liveStreamId": ObjectId(stream["id"])}).to_list()
        )
        assert len(docs) == 1 and docs[0]["joinCount"] == 1 and docs[0]["isPresent"]
        counts = await seen.wait_for("viewerCount")
        assert counts[-1] == {"streamId": stream["id"], "viewerCount": 1}

    async def test_disconnect_closes_after_grace_and_reconnect_resumes(self, live):
        _, creator = await live.user()
        _, viewer = await live.user()
        stream = await started_stream(live.http, creator)
        a, _ = await live.connect(LIVE, viewer)
        await call(a, "joinStream", {"streamId": stream["id"]}, LIVE)
        await a.disconnect()
        b, _ = await live.connect(LIVE, viewer)
        again = await call(b, "joinStream", {"streamId": stream["id"]}, LIVE)
        assert again["data"]["resumed"] is True
        participants = live.app.state.db["participants"]
        await b.disconnect()
        await asyncio.sleep(0.8)  # grace is 0.3 s in these tests
        doc = await participants.find_one({"liveStreamId": ObjectId(stream["id"])})
        assert doc["isPresent"] is False and doc["joinCount"] == 1

    async def test_leave_stream_is_rest_leave(self, live):
        _, creator = await live.user()
        _, viewer = await live.user()
        stream = await started_stream(live.http, creator)
        a, _ = await live.connect(LIVE, viewer)
        await call(a, "joinStream", {"streamId": stream["id"]}, LIVE)
        left = await call(a, "leaveStream", {"streamId": stream["id"]}, LIVE)
        assert left["ok"] and left["data"]["streamId"] == stream["id"] and left["data"]["leftAt"]
        again = await call(a, "leaveStream", {"streamId": stream["id"]}, LIVE)
        assert again == {
            "ok": False,
            "statusCode": 409,
            "message": "Resource already exists or cannot be changed in its current state",
            "errors": [
                "Resource already exists or cannot be changed in its current state",
                "you are not in this stream",
            ],
            "code": "CONFLICT",
        }

    async def test_join_failures_match_rest(self, live):
        _, creator = await live.user()
        _, viewer = await live.user()
        a, _ = await live.connect(LIVE, viewer)
        bad = await call(a, "joinStream", {"streamId": "nope"}, LIVE)
        assert bad["ok"] is False and bad["statusCode"] == 400 and bad["message"] == "Validation failed"
        missing = await call(a, "joinStream", {"streamId": str(ObjectId())}, LIVE)
        assert missing["statusCode"] == 404 and missing["message"] == "Resource not found"
        ended = await ended_stream(live.http, creator)
        rest = await live.http.post(f"{API}/join", json={"liveStreamId": ended["id"]}, headers=auth(viewer))
        sock = await call(a, "joinStream", {"streamId": ended["id"]}, LIVE)
        assert sock["statusCode"] == rest.status_code == 409
        assert sock["errors"] == rest.json()["errors"]

    async def test_viewer_count_is_coalesced(self, live):
        _, creator = await live.user()
        stream = await started_stream(live.http, creator)
        watcher, seen = await live.connect(LIVE)
        await call(watcher, "joinStream", {"streamId": stream["id"]}, LIVE)
        tokens = [(await live.user())[1] for _ in range(6)]
        interval = live.app.state.settings.realtime_viewer_count_interval_seconds
        started = asyncio.get_running_loop().time()
        await asyncio.gather(
            *(
                live.http.post(f"{API}/join", json={"liveStreamId": stream["id"]}, headers=auth(t))
                for t in tokens
            )
        )
        intervals = (asyncio.get_running_loop().time() - started) / interval
        await asyncio.sleep(2.3 * interval)
        counts = seen.of("viewerCount")
        assert counts[-1]["viewerCount"] == 6
        # six joins: at most one emit per interval they spanned, plus the trailing flush
        assert len(counts) <= int(intervals) + 2 < 6


class TestStatus:
    async def test_status_events_from_rest_and_reconcile(self, live):
        _, creator = await live.user()
        _, viewer = await live.user()
        stream = await started_stream(live.http, creator, recording="true")
        client, got = await live.connect(STATUS, viewer)
        owner, owner_got = await live.connect(STATUS, creator)
        ack = await call(client, "subscribe", {"streamId": stream["id"]}, STATUS)
        assert ack["data"]["status"] == "active"
        await call(owner, "subscribe", {"streamId": stream["id"]}, STATUS)
        await live.http.post(f"{API}/{stream['id']}/end", headers=auth(creator))
        statuses = await got.wait_for("liveStreamStatus")
        assert statuses[0]["status"] == "ended" and statuses[0]["endedAt"]
        # the recording is collected by the reconcile loop: only entitled sockets hear of it
        fake = live.app.state.aioz_fake
        if fake is not None and hasattr(fake, "finish_recordings"):
            fake.finish_recordings()
        doc = await live.app.state.db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
        events.emit(events.STREAM_RECORDING_READY, {**doc, "recordingUrl": "https://cdn.example/r.m3u8"})
        ready = await owner_got.wait_for("recordingReady")
        assert ready[0] == {"streamId": stream["id"], "recordingUrl": "https://cdn.example/r.m3u8"}
        await asyncio.sleep(0.2)
        assert got.of("recordingReady") == []

    async def test_expiry_from_reconcile_reaches_subscribers(self, live):
        _, creator = await live.user()
        client, got = await live.connect(STATUS)
        create = await live.http.post(
            f"{API}/create",
            data={"title": "Later", "plannedStartDate": iso_in(days=1), "durationGoal": "30"},
            headers=auth(creator),
        )
        stream = create.json()["data"]
        await call(client, "subscribe", {"streamId": stream["id"]}, STATUS)
        from datetime import UTC, datetime, timedelta

        from app import flows
        from app.live_streams.streaming import StreamingGateway

        state = live.app.state
        gateway = StreamingGateway(state.db, state.aioz, state.settings.aioz_qualities)
        await flows.reconciler(state.db, gateway).expire_overdue(datetime.now(UTC) + timedelta(days=3))
        statuses = await got.wait_for("liveStreamStatus")
        assert statuses[0]["status"] == "expired"

    async def test_cancel_and_delete(self, live):
        _, creator = await live.user()
        client, got = await live.connect(STATUS)
        create = await live.http.post(f"{API}/create", data={"title": "Soon"}, headers=auth(creator))
        stream = create.json()["data"]
        await call(client, "subscribe", {"streamId": stream["id"]}, STATUS)
        await live.http.post(f"{API}/{stream['id']}/cancel", headers=auth(creator))
        await live.http.delete(f"{API}/{stream['id']}", headers=auth(creator))
        statuses = await got.wait_for("liveStreamStatus", 2)
        assert statuses[0]["status"] == "cancelled_by_host" and statuses[0]["deletedAt"] is None
        assert statuses[1]["deletedAt"] is not None


class TestChat:
    async def test_send_message_broadcasts_and_anonymous_cannot_chat(self, live):
        _, creator = await live.user()
        _, viewer = await live.user()
        stream = await started_stream(live.http, creator)
        anon, anon_got = await live.connect(CHAT)
        await call(anon, "joinStream", {"streamId": stream["id"]}, CHAT)
        refused = await call(anon, "sendMessage", {"content": "hi"}, CHAT)
        assert refused["statusCode"] == 401
        talker, _ = await live.connect(CHAT, viewer)
        await call(talker, "joinStream", {"streamId": stream["id"]}, CHAT)
        sent = await call(talker, "sendMessage", {"content": "hello"}, CHAT)
        assert sent["ok"] and sent["data"]["content"] == "hello"
        rest = await live.http.post(
            f"{API}/{stream['id']}/chat/messages", json={"content": "from rest"}, headers=auth(viewer)
        )
        assert rest.status_code in (200, 201), rest.text
        messages = await anon_got.wait_for("chatMessage", 2)
        assert [m["content"] for m in messages] == ["hello", "from rest"]
        assert messages[0] == sent["data"]

    async def test_superlike_reaches_the_chat_room_once(self, live):
        _, creator = await live.user()
        fan, fan_token = await live.user(credits=50)
        stream = await started_stream(live.http, creator)
        watcher, got = await live.connect(CHAT)
        await call(watcher, "joinStream", {"streamId": stream["id"]}, CHAT)
        headers = {**auth(fan_token), "Idempotency-Key": "tap-1"}
        for _ in range(2):  # the retry with the same key is not a second superlike
            sent = await live.http.post(f"{API}/{stream['id']}/chat/superlike", headers=headers)
            assert sent.status_code == 200, sent.text
        [superlike] = await got.wait_for("superlike", 1)
        # Events leave in order: once a later chat message arrived, no second superlike is on its way.
        after = await live.http.post(
            f"{API}/{stream['id']}/chat/messages", json={"content": "thanks"}, headers=auth(fan_token)
        )
        assert after.status_code == 201, after.text
        await got.wait_for("chatMessage", 1)
        assert got.of("superlike") == [superlike]
        assert (superlike["streamId"], superlike["senderId"], superlike["price"]) == (
            stream["id"],
            fan["_id"],
            10,
        )

    async def test_block_ban_kicks(self, live):
        _, creator = await live.user()
        target, viewer = await live.user()
        stream = await started_stream(live.http, creator)
        sock, got = await live.connect(CHAT, viewer)
        await call(sock, "joinStream", {"streamId": stream["id"]}, CHAT)
        ban = await live.http.post(
            "/api/v1/live-stream-ban",
            json={
                "targetUserId": target["_id"],
                "liveStreamId": stream["id"],
                "actionType": "BLOCK",
                "reason": "x",
            },
            headers=auth(creator),
        )
        assert ban.status_code in (200, 201), ban.text
        banned = await got.wait_for("banned")
        assert banned[0] == {"streamId": stream["id"], "actionType": "BLOCK"}
        await asyncio.sleep(0.2)
        other, _ = await live.connect(CHAT, creator)
        await call(other, "joinStream", {"streamId": stream["id"]}, CHAT)
        await call(other, "sendMessage", {"content": "after the ban"}, CHAT)
        await asyncio.sleep(0.3)
        assert got.of("chatMessage") == []  # out of the stream's room
        rejoin = await call(sock, "joinStream", {"streamId": stream["id"]}, CHAT)
        assert rejoin["statusCode"] == 403


class TestLimits:
    async def test_payload_size_rate_and_rooms(self, live):
        rt = live.app.state.realtime
        rt.limits.max_streams_per_socket = 1
        rt.limits.events_per_second = 0.5  # the burst (20) is what is spent: no refill on a slow machine
        _, creator = await live.user()
        first = await started_stream(live.http, creator)
        _, other = await live.user()
        second = await started_stream(live.http, other)
        client, _ = await live.connect(STATUS)
        big = await call(client, "subscribe", {"streamId": first["id"], "pad": "x" * 10_000}, STATUS)
        assert big["statusCode"] == 413
        assert (await call(client, "subscribe", {"streamId": first["id"]}, STATUS))["ok"]
        full = await call(client, "subscribe", {"streamId": second["id"]}, STATUS)
        assert full["statusCode"] == 429
        answers = [await call(client, "unsubscribe", {"streamId": first["id"]}, STATUS) for _ in range(25)]
        assert any(a["statusCode"] == 429 for a in answers if not a["ok"])
        rt.limits.strikes_to_disconnect = 3
        for _ in range(10):
            if not client.connected:
                break
            await client.emit("unsubscribe", {"streamId": first["id"]}, namespace=STATUS)
        await asyncio.sleep(0.5)
        assert not client.connected
