"""Socket.IO under abuse, against a real server: concurrent joins on one socket, garbage packets,
oversized and deep payloads, expired tokens, chat text hygiene (issue 26, items 3, 4, 5, 7, 9)."""

import asyncio
import json
import logging
import time
from typing import Any

import pytest
import websockets
from bson import ObjectId

from app.core.security import create_access_token
from app.realtime.acks import TOKEN_EXPIRED
from tests.helpers import auth
from tests.realtime.test_asyncapi import Wire
from tests.streams import started_stream

API = "/api/v1/live-stream"
LIVE, STATUS, CHAT = "/live-stream", "/live-stream-status", "/stream-chat"


async def call(client: Any, event: str, data: Any, namespace: str) -> Any:
    return await client.call(event, data, namespace=namespace, timeout=10)


class TestCapacityUnderConcurrency:
    """`max_streams_per_socket` (10) holds when the events arrive together, not only one by one."""

    async def test_twenty_concurrent_subscribes_on_one_socket_admit_ten(self, live):
        _, creator = await live.user()
        ids = []
        for n in range(20):
            made = await live.http.post(f"{API}/create", data={"title": f"s{n}"}, headers=auth(creator))
            ids.append(made.json()["data"]["id"])
        client, _ = await live.connect(STATUS)
        acks = await asyncio.gather(*(call(client, "subscribe", {"streamId": i}, STATUS) for i in ids))
        assert sum(a["ok"] for a in acks) == 10
        assert {a["statusCode"] for a in acks if not a["ok"]} == {429}
        namespace = live.app.state.realtime.namespaces[STATUS]
        [state] = namespace.sockets.values()
        assert len(state.streams) == 10 and not state.reserved

    async def test_concurrent_joins_on_one_socket_admit_the_limit_and_record_no_more(self, live):
        live.app.state.realtime.limits.max_streams_per_socket = 3
        _, viewer = await live.user()
        ids = []
        for _ in range(8):  # one active stream per creator
            _, creator = await live.user()
            ids.append((await started_stream(live.http, creator))["id"])
        client, _ = await live.connect(LIVE, viewer)
        acks = await asyncio.gather(*(call(client, "joinStream", {"streamId": i}, LIVE) for i in ids))
        assert sum(a["ok"] for a in acks) == 3, acks
        assert {a["statusCode"] for a in acks if not a["ok"]} == {429}
        present = await live.app.state.db["participants"].count_documents({"isPresent": True})
        assert present == 3

    async def test_a_failed_join_gives_its_place_back(self, live):
        live.app.state.realtime.limits.max_streams_per_socket = 1
        _, creator = await live.user()
        stream = await started_stream(live.http, creator)
        client, _ = await live.connect(LIVE)
        missing = await call(client, "joinStream", {"streamId": str(ObjectId())}, LIVE)
        assert missing["statusCode"] == 404
        assert (await call(client, "joinStream", {"streamId": stream["id"]}, LIVE))["ok"]


class RawClient:
    """A hand-written Engine.IO v4 / Socket.IO v5 client over a raw WebSocket: sends anything."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str, namespace: str) -> "RawClient":
        ws = await websockets.connect(
            url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        )
        assert (await ws.recv()).startswith("0{")  # engine.io open
        await ws.send(f"40{namespace},")
        assert (await ws.recv()).startswith(f"40{namespace},")  # namespace connected (anonymous)
        return cls(ws)

    async def closed_within(self, seconds: float) -> bool:
        """True when the server closes the connection within `seconds` (pings are answered)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                message = await asyncio.wait_for(self.ws.recv(), deadline - time.monotonic())
            except TimeoutError:
                return False
            except websockets.ConnectionClosed:
                return True
            if message == "1":  # engine.io CLOSE: the server ended the session
                return True
            if message == "2":
                await self.ws.send("3")
        return False


GARBAGE = [
    f"42{CHAT},[",  # JSON cut short
    "4Z",  # unknown Socket.IO packet type
    f"42{CHAT},{{}}",  # an event that is not a list
    f"42{CHAT},[5]",  # an event name that is not a string
    f'42{CHAT},["connect", {{}}]',  # a server event name
    '42/nowhere,["joinStream", {}]',  # a namespace the connection has not joined
    f'451-{CHAT},["sendMessage",{{"_placeholder":true,"num":0}}]',  # binary event
    f"43{CHAT},7[]",  # an ack the server never asked for
    f"42{CHAT}," + "[" * 5000 + "]" * 5000,  # nested beyond the JSON parser's recursion
]


class TestGarbagePackets:
    @pytest.mark.parametrize("packet", GARBAGE, ids=range(len(GARBAGE)))
    async def test_each_kind_of_garbage_is_counted_and_five_disconnect(self, live, packet):
        raw = await RawClient.open(live.url, CHAT)
        for _ in range(5):
            await raw.ws.send(packet)
        assert await raw.closed_within(3)

    async def test_a_flood_logs_one_warning_and_no_traceback(self, live, caplog):
        caplog.set_level(logging.INFO)
        floods = [await RawClient.open(live.url, CHAT) for _ in range(3)]
        for raw in floods:
            for n in range(200):
                with_closed = raw.ws.send(GARBAGE[n % len(GARBAGE)])
                try:
                    await with_closed
                except websockets.ConnectionClosed:
                    break
        for raw in floods:
            assert await raw.closed_within(3)
        loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [r.levelno for r in loud] == [logging.WARNING] * 3, [r.getMessage()[:200] for r in loud]
        assert not any(r.exc_info for r in caplog.records)
        assert all("realtime_bad_packet" in r.getMessage() for r in loud)

    async def test_a_packet_over_64_kib_closes_the_connection_quietly(self, live, caplog):
        caplog.set_level(logging.INFO)
        raw = await RawClient.open(live.url, CHAT)
        await raw.ws.send(f'42{CHAT},["sendMessage",{{"content":"' + "x" * 70_000 + '"}]')
        assert await raw.closed_within(3)
        assert not [
            r for r in caplog.records if r.levelno >= logging.WARNING and r.name != "websockets.client"
        ]

    async def test_a_well_behaved_client_keeps_working_beside_a_flood(self, live):
        _, creator = await live.user()
        stream = await started_stream(live.http, creator)
        client, _ = await live.connect(STATUS)
        raw = await RawClient.open(live.url, CHAT)
        for _ in range(5):
            await raw.ws.send(GARBAGE[0])
        assert await raw.closed_within(3)
        assert (await call(client, "subscribe", {"streamId": stream["id"]}, STATUS))["ok"]


class TestPayloadAbuse:
    async def test_deep_and_oversized_payloads_are_refused_then_disconnect(self, live):
        rt = live.app.state.realtime
        rt.limits.strikes_to_disconnect = 4
        client, got = await live.connect(STATUS)
        deep: Any = {"streamId": "x"}
        for _ in range(20):
            deep = {"a": deep}
        too_deep = await call(client, "subscribe", deep, STATUS)
        assert too_deep["statusCode"] == 400 and "nests at most" in too_deep["errors"][1]
        big = await call(client, "subscribe", {"pad": "x" * 10_000}, STATUS)
        assert big["statusCode"] == 413
        unknown = await call(client, "hack", {}, STATUS)
        assert unknown["statusCode"] == 404
        assert client.connected  # three strikes so far
        await call(client, "subscribe", deep, STATUS)
        await got.wait_for("disconnect")
        assert not client.connected

    async def test_unknown_events_are_strikes(self, live):
        client, got = await live.connect(STATUS)
        acks = [await call(client, "nope", {}, STATUS) for _ in range(19)]
        assert {a["statusCode"] for a in acks} == {404}
        await client.emit("nope", {}, namespace=STATUS)  # the 20th strike within 10 s
        await got.wait_for("disconnect")


class TestUnexpectedErrors:
    async def test_a_failing_handler_answers_500_and_logs_one_error(self, live, caplog):
        caplog.set_level(logging.INFO)
        rt = live.app.state.realtime

        async def broken(*_: Any) -> None:
            raise RuntimeError("a bug")

        rt.stream_or_404 = broken
        client, _ = await live.connect(STATUS)
        ack = await call(client, "subscribe", {"streamId": str(ObjectId())}, STATUS)
        assert ack == {
            "ok": False,
            "statusCode": 500,
            "message": "Internal server error",
            "errors": ["Internal server error"],
            "code": "INTERNAL_ERROR",
        }
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "realtime_event_failed" in errors[0].getMessage()
        assert client.connected


class TestExpiredTokens:
    async def test_an_expired_token_cannot_join_or_chat_and_the_socket_is_closed(self, live):
        """Manual clock: the server's wall clock jumps past `exp`; the next event is 401, then the
        socket gets `tokenExpired` and is disconnected. No paid entry is charged."""
        _, creator = await live.user()
        viewer, token = await live.user(credits=100)
        stream = await started_stream(live.http, creator, price=10)
        rt = live.app.state.realtime
        client, got = await live.connect(CHAT, token)
        client.on("tokenExpired", lambda data: got.add("tokenExpired", data), namespace=CHAT)
        real = rt.wall
        rt.wall = lambda: real() + 10 * 24 * 3600  # past the dev token's expiry
        refused = await call(client, "joinStream", {"streamId": stream["id"]}, CHAT)
        assert refused["statusCode"] == 401 and "expired" in refused["errors"][1]
        assert refused["code"] == "TOKEN_EXPIRED"
        assert (await got.wait_for("tokenExpired")) == [TOKEN_EXPIRED]
        wire = Wire((await live.http.get("/asyncapi.json")).json())  # both as the document describes
        wire.check("streamChat_joinStreamAck", refused)
        wire.check("streamChat_tokenExpired", got.of("tokenExpired")[0])
        await got.wait_for("disconnect")
        assert not client.connected
        me = await live.app.state.db["users"].find_one({"_id": ObjectId(viewer["_id"])})
        assert me["credits"] == 100
        assert await live.app.state.db["participants"].count_documents({}) == 0

    async def test_a_short_lived_token_is_disconnected_at_expiry(self, live):
        """Real clock: a 3-second token; the server says `tokenExpired` and disconnects by itself."""
        _, creator = await live.user()
        viewer, _ = await live.user()
        stream = await started_stream(live.http, creator)
        token = create_access_token(live.app.state.settings, ObjectId(viewer["_id"]), ttl_seconds=3)
        client, got = await live.connect(CHAT, token)
        client.on("tokenExpired", lambda data: got.add("tokenExpired", data), namespace=CHAT)
        joined = await call(client, "joinStream", {"streamId": stream["id"]}, CHAT)
        assert joined["ok"], joined
        assert (await got.wait_for("tokenExpired", within=6)) == [TOKEN_EXPIRED]
        await got.wait_for("disconnect")
        assert not client.connected
        rest = await live.http.get("/api/v1/users/me/transactions", headers=auth(token))
        assert rest.status_code == 401 and rest.json()["code"] == "TOKEN_EXPIRED"  # REST agrees

    async def test_anonymous_sockets_do_not_expire(self, live):
        rt = live.app.state.realtime
        client, _ = await live.connect(STATUS)
        real = rt.wall
        rt.wall = lambda: real() + 10 * 24 * 3600
        assert (await call(client, "unsubscribe", {"streamId": str(ObjectId())}, STATUS))["ok"]


class TestChatOverSockets:
    async def test_send_message_without_joining_says_join_first(self, live):
        _, viewer = await live.user()
        client, _ = await live.connect(CHAT, viewer)
        refused = await call(client, "sendMessage", {"content": "hi"}, CHAT)
        assert refused["statusCode"] == 409 and "join the stream first" in refused["errors"][1]

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            ("a\u2028b", "line or paragraph separators"),
            ("\u200b\u200d\ufeff", "blank"),
            ("a\x00b", "control characters"),
            ("\u202eevil", "direction overrides"),
            ("a\ud800b", "lone surrogates"),
        ],
    )
    async def test_send_message_applies_the_text_policy(self, live, content, reason):
        _, creator = await live.user()
        _, viewer = await live.user()
        stream = await started_stream(live.http, creator)
        client, _ = await live.connect(CHAT, viewer)
        assert (await call(client, "joinStream", {"streamId": stream["id"]}, CHAT))["ok"]
        refused = await call(client, "sendMessage", {"content": content}, CHAT)
        assert refused["statusCode"] == 400 and reason in refused["errors"][1], refused
        assert await live.app.state.db["chat_messages"].count_documents({}) == 0


def test_garbage_list_is_json_text() -> None:
    # The raw packets above are str frames; the nested one must really be deeper than json's recursion.
    with pytest.raises(RecursionError):
        json.loads("[" * 5000 + "]" * 5000)
