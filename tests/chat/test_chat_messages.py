"""Chat messages over HTTP: pagination, content rules, stream states, bans and the rate limit."""

import json
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from app.chat.service import ChatService
from app.core.clock import request_time
from app.core.errors import ValidationFailed
from app.core.security import AuthenticatedUser
from tests.helpers import assert_error, auth, create_stream
from tests.streams import ended_stream, started_stream

CONFLICT = "Resource already exists or cannot be changed in its current state"


def chat_url(stream_id: str) -> str:
    return f"/api/v1/live-stream/{stream_id}/chat/messages"


async def post(client, token, stream_id, content="hello"):
    return await client.post(chat_url(stream_id), json={"content": content}, headers=auth(token))


async def ban(client, token, target_id, stream_id, action="CHAT_ONLY"):
    body = {"targetUserId": target_id, "liveStreamId": stream_id, "actionType": action}
    response = await client.post("/api/v1/live-stream-ban", json=body, headers=auth(token))
    assert response.status_code == 201, response.text
    return response.json()["data"]


class FrozenClock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, 1, tzinfo=UTC)

    async def __call__(self) -> datetime:
        return self.now


class TestPost:
    async def test_anonymous(self, client, make_user):
        _, host = await make_user()
        stream = await started_stream(client, host)
        assert_error(
            await client.post(chat_url(stream["id"]), json={"content": "hi"}), 401, "Authentication required"
        )
        assert_error(await client.get(chat_url(stream["id"])), 401, "Authentication required")

    async def test_valid_message_is_trimmed_and_carries_the_sender(self, client, make_user):
        _, host = await make_user()
        viewer, token = await make_user(name="Vera", surname="Viewer")
        stream = await started_stream(client, host)
        response = await post(client, token, stream["id"], "  Hello from Istanbul!  ")
        assert response.status_code == 201
        body = response.json()
        assert body["statusCode"] == 201 and body["isSuccess"] is True
        message = body["data"]
        assert list(message) == ["_id", "streamId", "content", "sender", "createdAt", "updatedAt"]
        assert message["content"] == "Hello from Istanbul!" and message["streamId"] == stream["id"]
        assert message["sender"]["_id"] == viewer["_id"] and message["sender"]["name"] == "Vera"
        assert message["createdAt"].endswith("Z") and message["createdAt"] == message["updatedAt"]

    async def test_creator_and_guest_may_chat(self, client, make_user):
        _, host = await make_user()
        guest, guest_token = await make_user()
        stream = await started_stream(
            client, host, liveStreamType="duoself", guests=json.dumps([guest["_id"]])
        )
        assert (await post(client, host, stream["id"])).status_code == 201
        assert (await post(client, guest_token, stream["id"])).status_code == 201

    async def test_content_rules(self, client, make_user):
        _, host = await make_user()
        _, token = await make_user()
        stream = await started_stream(client, host)
        assert (await post(client, token, stream["id"], "é" * 500)).status_code == 201
        assert (await post(client, token, stream["id"], " " * 20 + "x" * 500 + " " * 20)).status_code == 201
        for bad, reason in (
            ("", "blank"),
            ("   \t ", "blank"),
            ("x" * 501, "at most 500"),
            ("two\nlines", "control characters"),
            ("nul\x00", "control characters"),
            ("\u202eevil", "direction overrides"),
        ):
            body = assert_error(await post(client, token, stream["id"], bad), 400, "Validation failed")
            assert reason in body["errors"][1], (bad, body)
        for payload in ({}, {"content": 5}, {"content": "hi", "extra": 1}, {"content": "x" * 2001}):
            response = await client.post(chat_url(stream["id"]), json=payload, headers=auth(token))
            assert_error(response, 400, "Validation failed")

    async def test_unknown_stream_bad_id_and_states(self, client, make_user):
        _, host = await make_user()
        _, token = await make_user()
        assert_error(await post(client, token, str(ObjectId())), 404, "Resource not found")
        assert_error(await post(client, token, "nope"), 400, "Validation failed")
        preparing = await create_stream(client, host)
        assert_error(await post(client, token, preparing["id"]), 409, CONFLICT)
        _, other_host = await make_user()
        ended = await ended_stream(client, other_host)
        body = assert_error(await post(client, token, ended["id"]), 409, CONFLICT)
        assert "active" in body["errors"][1]

    async def test_banned_senders_are_refused_until_the_ban_is_lifted(self, client, make_user):
        _, host = await make_user()
        viewer, token = await make_user()
        stream = await started_stream(client, host)
        chat_only = await ban(client, host, viewer["_id"], stream["id"], "CHAT_ONLY")
        body = assert_error(await post(client, token, stream["id"]), 403, "Insufficient permissions")
        assert body["errors"][1] == "you are banned from this stream"
        assert (await client.get(chat_url(stream["id"]), headers=auth(token))).status_code == 200  # may read
        lifted = await client.delete(f"/api/v1/live-stream-ban/{chat_only['_id']}", headers=auth(host))
        assert lifted.status_code == 200
        assert (await post(client, token, stream["id"])).status_code == 201
        await ban(client, host, viewer["_id"], stream["id"], "BLOCK")
        assert_error(await post(client, token, stream["id"]), 403, "Insufficient permissions")
        assert_error(
            await client.get(chat_url(stream["id"]), headers=auth(token)), 403, "Insufficient permissions"
        )


class TestList:
    async def test_pagination_newest_first(self, client, make_user):
        _, host = await make_user()
        _, token = await make_user()
        stream = await started_stream(client, host)
        for text in ("one", "two", "three"):
            assert (await post(client, token, stream["id"], text)).status_code == 201
        response = await client.get(chat_url(stream["id"]), params={"limit": 2}, headers=auth(token))
        assert response.status_code == 200
        data = response.json()["data"]
        assert list(data) == [
            "messages",
            "page",
            "limit",
            "total",
            "totalPages",
            "hasNextPage",
            "hasPreviousPage",
            "hasPrevPage",  # the name of every other paged list, offered too
        ]
        assert [m["content"] for m in data["messages"]] == ["three", "two"]
        assert (data["page"], data["limit"], data["total"], data["totalPages"]) == (1, 2, 3, 2)
        assert (
            data["hasNextPage"] is True and data["hasPreviousPage"] is False and data["hasPrevPage"] is False
        )
        second = (
            await client.get(chat_url(stream["id"]), params={"page": 2, "limit": 2}, headers=auth(token))
        ).json()
        assert [m["content"] for m in second["data"]["messages"]] == ["one"]
        assert second["data"]["hasNextPage"] is False and second["data"]["hasPreviousPage"] is True
        assert second["data"]["hasPrevPage"] is True
        default = (await client.get(chat_url(stream["id"]), headers=auth(host))).json()["data"]
        assert default["limit"] == 30 and default["page"] == 1 and default["total"] == 3

    async def test_limits(self, client, make_user):
        _, host = await make_user()
        stream = await started_stream(client, host)
        for params in ({"limit": 0}, {"limit": 101}, {"page": 0}, {"limit": "x"}):
            response = await client.get(chat_url(stream["id"]), params=params, headers=auth(host))
            assert_error(response, 400, "Validation failed")
        ok = await client.get(chat_url(stream["id"]), params={"limit": 100}, headers=auth(host))
        assert ok.status_code == 200 and ok.json()["data"]["messages"] == []
        assert ok.json()["data"]["totalPages"] == 0

    async def test_ended_streams_keep_their_chat_deleted_ones_do_not(self, client, make_user):
        _, host = await make_user()
        _, token = await make_user()
        stream = await started_stream(client, host)
        await post(client, token, stream["id"], "see you")
        assert (
            await client.post(f"/api/v1/live-stream/{stream['id']}/end", headers=auth(host))
        ).status_code == 200
        data = (await client.get(chat_url(stream["id"]), headers=auth(token))).json()["data"]
        assert [m["content"] for m in data["messages"]] == ["see you"]
        assert (
            await client.delete(f"/api/v1/live-stream/{stream['id']}", headers=auth(host))
        ).status_code == 200
        assert_error(await client.get(chat_url(stream["id"]), headers=auth(token)), 404, "Resource not found")
        assert_error(
            await client.get(chat_url(str(ObjectId())), headers=auth(token)), 404, "Resource not found"
        )

    async def test_deleted_sender_shows_as_null(self, client, make_user, db):
        _, host = await make_user()
        viewer, token = await make_user()
        stream = await started_stream(client, host)
        await post(client, token, stream["id"], "bye")
        await db["users"].update_one(
            {"_id": ObjectId(viewer["_id"])}, {"$set": {"deletedAt": datetime.now(UTC)}}
        )
        data = (await client.get(chat_url(stream["id"]), headers=auth(host))).json()["data"]
        assert data["messages"][0]["sender"] is None and data["messages"][0]["content"] == "bye"


class TestRateLimit:
    async def test_five_per_ten_seconds_then_429_with_retry_after(self, app, client, make_user):
        clock = FrozenClock()
        app.dependency_overrides[request_time] = clock
        _, host = await make_user()
        _, token = await make_user()
        _, other = await make_user()
        stream = await started_stream(client, host)
        second = await started_stream(client, other)
        for i in range(5):
            assert (await post(client, token, stream["id"], f"m{i}")).status_code == 201
        refused = await post(client, token, stream["id"], "m5")
        body = assert_error(refused, 429, "Too many requests")
        assert refused.headers["retry-after"] == "9"  # the window is [12:00:00, 12:00:10), now 12:00:01
        assert "5 messages per 10 seconds" in body["errors"][1]
        assert (await post(client, other, stream["id"])).status_code == 201  # per user
        assert (await post(client, token, second["id"])).status_code == 201  # per stream
        clock.now += timedelta(seconds=8, milliseconds=500)
        assert (await post(client, token, stream["id"])).headers["retry-after"] == "1"
        clock.now += timedelta(seconds=1)  # next window
        assert (await post(client, token, stream["id"])).status_code == 201
        total = (await client.get(chat_url(stream["id"]), headers=auth(token))).json()["data"]["total"]
        assert total == 7  # refused messages are not stored


class TestPublishHook:
    async def test_new_messages_reach_on_message_and_a_failing_hook_loses_nothing(
        self, app, client, make_user
    ):
        seen = []

        async def collect(message):
            seen.append(message)

        app.state.on_chat_message = collect
        _, host = await make_user()
        _, token = await make_user()
        stream = await started_stream(client, host)
        created = (await post(client, token, stream["id"], "hi all")).json()["data"]
        assert [m["content"] for m in seen] == ["hi all"] and str(seen[0]["_id"]) == created["_id"]

        async def broken(message):
            raise RuntimeError("socket server down")

        app.state.on_chat_message = broken
        assert (await post(client, token, stream["id"], "still stored")).status_code == 201

    async def test_service_is_usable_without_http(self, app, client, make_user, db):
        _, host = await make_user()
        viewer, _ = await make_user()
        stream = await started_stream(client, host)
        sender_doc = await db["users"].find_one({"_id": ObjectId(viewer["_id"])})
        service = ChatService(db)
        message = await service.post_message(
            ObjectId(stream["id"]), AuthenticatedUser(sender_doc["_id"], sender_doc), " hey "
        )
        assert message["content"] == "hey" and message["sender"]["_id"] == sender_doc["_id"]
        try:
            await service.post_message(
                ObjectId(stream["id"]), AuthenticatedUser(sender_doc["_id"], sender_doc), ""
            )
        except ValidationFailed as exc:
            assert exc.status_code == 400
        else:
            raise AssertionError("blank content was accepted")
