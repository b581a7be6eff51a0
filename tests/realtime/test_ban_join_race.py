"""Issue 26 item 2 over Socket.IO, black box: `joinStream` and a REST BLOCK ban sent at once. Whatever the
order they run in, the blocked socket gets no chat afterwards and the viewer holds no participation.
The deterministic proof is tests/money/test_rules_harness.py (every interleaving)."""

import asyncio

import httpx
from bson import ObjectId

from tests.helpers import auth
from tests.streams import started_stream

BAN = "/api/v1/live-stream-ban"
CHAT = "/api/v1/live-stream/{}/chat/messages"
ROUNDS = 10


def ban_body(target: dict, stream: dict) -> dict:
    return {"targetUserId": target["_id"], "liveStreamId": stream["id"], "actionType": "BLOCK"}


async def present(db, stream: dict, user: dict) -> int:
    return await db["participants"].count_documents(
        {"liveStreamId": ObjectId(stream["id"]), "userId": ObjectId(user["_id"]), "isPresent": True}
    )


async def test_rest_ban_racing_socket_join(live):
    """The socket joining while the ban is made receives no chat afterwards and holds no participation."""
    _, creator = await live.user()
    stream = await started_stream(live.http, creator, price=30)  # the charge widens the window
    db = live.app.state.db
    # a viewer nobody bans: once it has a round's message, the blocked socket (in the same room broadcast)
    # would have it too, so the negative check waits for an event instead of a fixed time
    _, control_token = await live.user(credits=100)
    control, seen = await live.connect("/stream-chat", control_token)
    joined = await control.call("joinStream", {"streamId": stream["id"]}, namespace="/stream-chat", timeout=5)
    assert joined.get("ok"), joined
    for i in range(ROUNDS):
        viewer, token = await live.user(credits=100)
        sock, got = await live.connect("/stream-chat", token)

        async def ban_after(delay: float, target: dict) -> httpx.Response:
            await asyncio.sleep(delay)
            return await live.http.post(BAN, json=ban_body(target, stream), headers=auth(creator))

        ban, ack = await asyncio.gather(
            ban_after(0.002 * i, viewer),  # the ban lands at a different point of the join each round
            sock.call("joinStream", {"streamId": stream["id"]}, namespace="/stream-chat", timeout=5),
        )
        assert ban.status_code == 201, ban.text
        assert ack.get("ok") or ack["statusCode"] == 403, ack
        await asyncio.sleep(0.1)  # the ban's kick travels through the event queue
        _, chatter = await live.user()  # one message each: the chat's rate limit is per sender
        sent = await live.http.post(
            CHAT.format(stream["id"]), json={"content": f"round {i}"}, headers=auth(chatter)
        )
        assert sent.status_code == 201, sent.text
        await seen.wait_for("chatMessage", i + 1)
        await asyncio.sleep(0.02)  # the same broadcast's packet to the other socket
        assert [m["content"] for m in seen.of("chatMessage")][-1] == f"round {i}"
        assert got.of("chatMessage") == [], f"round {i}: the blocked socket still gets the chat"
        assert await present(db, stream, viewer) == 0
