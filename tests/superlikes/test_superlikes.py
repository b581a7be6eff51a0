"""POST /{streamId}/chat/superlike: 10 credits from a viewer to an active stream's creator (and guest)."""

import asyncio

from bson import ObjectId

from tests.helpers import assert_error, auth, create_stream
from tests.streams import API, started_stream

HISTORY = "/api/v1/users/me/transactions"
CONFLICT = "Resource already exists or cannot be changed in its current state"


def superlike(client, token, stream_id, key=None):
    headers = {**auth(token), **({"Idempotency-Key": key} if key else {})}
    return client.post(f"{API}/{stream_id}/chat/superlike", headers=headers)


async def credits_of(db, user) -> int:
    return (await db["users"].find_one({"_id": ObjectId(user["_id"])}))["credits"]


async def test_superlike_moves_10_credits_and_answers_the_documented_shape(client, make_user, db):
    creator, host = await make_user()
    fan, token = await make_user(credits=25, name="Ada")
    stream = await started_stream(client, host)

    response = await superlike(client, token, stream["id"])
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == {"streamId", "senderId", "senderSnapshot", "price", "timestamp"}
    assert (data["streamId"], data["senderId"], data["price"]) == (stream["id"], fan["_id"], 10)
    assert data["senderSnapshot"] == {
        "_id": fan["_id"], "username": fan["username"], "name": "Ada", "surname": "", "profilePhoto": None,
    }  # fmt: skip
    assert await credits_of(db, fan) == 15 and await credits_of(db, creator) == 8  # 80 % to the creator

    sent = (await client.get(HISTORY, headers=auth(token))).json()["data"]["list"]
    got = (await client.get(HISTORY, headers=auth(host))).json()["data"]["list"]
    assert [(t["type"], t["amount"]) for t in sent] == [("superlike", 10)]
    assert [(t["type"], t["amount"]) for t in got] == [("superlike_revenue", 8)]


async def test_duo_stream_shares_with_the_guest(client, make_user, db):
    creator, host = await make_user()
    guest, _ = await make_user()
    _, token = await make_user(credits=10)
    stream = await started_stream(client, host, liveStreamType="duocrowd", guests=f'["{guest["_id"]}"]')
    assert (await superlike(client, token, stream["id"])).status_code == 200
    assert await credits_of(db, creator) == 4 and await credits_of(db, guest) == 4


async def test_refusals_write_nothing(client, make_user, db):
    _, host = await make_user()
    poor, poor_token = await make_user(credits=9)
    _, rich = await make_user(credits=100)
    live = await started_stream(client, host)
    scheduled = await create_stream(client, host)

    assert_error(await superlike(client, poor_token, live["id"]), 400, "Validation failed")
    assert_error(await superlike(client, host, live["id"]), 403, "Insufficient permissions")
    assert_error(await superlike(client, rich, scheduled["id"]), 409, CONFLICT)
    assert_error(await superlike(client, rich, "64d15f9e2e6c8f4d5a123456"), 404, "Resource not found")
    assert_error(await superlike(client, rich, "not-an-id"), 400, "Validation failed")
    assert await db["superlikes"].count_documents({}) == 0
    assert await db["credit_transactions"].count_documents({}) == 0
    assert await credits_of(db, poor) == 9


async def test_idempotency_key_pays_once_and_replays_the_first_answer(client, make_user, db):
    creator, host = await make_user()
    fan, token = await make_user(credits=100)
    stream = await started_stream(client, host)

    answers = await asyncio.gather(*(superlike(client, token, stream["id"], key="tap-1") for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert len({a.json()["data"]["timestamp"] for a in answers}) == 1
    assert await credits_of(db, fan) == 90 and await credits_of(db, creator) == 8


async def test_concurrent_superlikes_debit_exactly(client, make_user, db):
    """45 credits, 8 concurrent superlikes: exactly 4 are paid, the rest refused; nothing is lost."""
    creator, host = await make_user()
    fan, token = await make_user(credits=45)
    stream = await started_stream(client, host)

    answers = await asyncio.gather(*(superlike(client, token, stream["id"]) for _ in range(8)))
    paid = [a for a in answers if a.status_code == 200]
    assert len(paid) == 4
    for refused in (a for a in answers if a.status_code != 200):
        assert_error(refused, 400, "Validation failed")
    assert await credits_of(db, fan) == 5 and await credits_of(db, creator) == 32


async def test_banned_viewers_cannot_superlike_until_the_ban_is_lifted(client, make_user, db):
    _, host = await make_user()
    fan, token = await make_user(credits=50)
    stream = await started_stream(client, host)
    ban = await client.post(
        "/api/v1/live-stream-ban",
        json={
            "targetUserId": fan["_id"],
            "liveStreamId": stream["id"],
            "actionType": "CHAT_ONLY",
            "reason": "spam",
        },
        headers=auth(host),
    )
    assert ban.status_code == 201, ban.text

    assert_error(await superlike(client, token, stream["id"]), 403, "Insufficient permissions")
    assert await credits_of(db, fan) == 50
    lifted = await client.delete(f"/api/v1/live-stream-ban/{ban.json()['data']['_id']}", headers=auth(host))
    assert lifted.status_code == 200
    assert (await superlike(client, token, stream["id"])).status_code == 200
