"""Issue 26 item 2, black box: a BLOCK ban and a join sent at once, over HTTP (Socket.IO: tests/realtime/test_ban_join_race.py). Whatever
the order they run in, once both answered the blocked viewer is not present, and a join answered 403
by REST cost nothing. The deterministic proof is tests/money/test_rules_harness.py (every interleaving)."""

import asyncio

from bson import ObjectId

from tests.helpers import auth
from tests.streams import started_stream

BAN = "/api/v1/live-stream-ban"
JOIN = "/api/v1/live-stream/join"
ROUNDS = 12


def ban_body(target: dict, stream: dict) -> dict:
    return {"targetUserId": target["_id"], "liveStreamId": stream["id"], "actionType": "BLOCK"}


async def present(db, stream: dict, user: dict) -> int:
    return await db["participants"].count_documents(
        {"liveStreamId": ObjectId(stream["id"]), "userId": ObjectId(user["_id"]), "isPresent": True}
    )


async def test_rest_ban_racing_rest_join(client, make_user, db):
    _, host = await make_user()
    stream = await started_stream(client, host, price=30)
    outcomes = []
    for _ in range(ROUNDS):
        viewer, token = await make_user(credits=100)
        ban, join = await asyncio.gather(
            client.post(BAN, json=ban_body(viewer, stream), headers=auth(host)),
            client.post(JOIN, json={"liveStreamId": stream["id"]}, headers=auth(token)),
        )
        assert ban.status_code == 201, ban.text
        assert join.status_code in (200, 403), join.text
        assert await present(db, stream, viewer) == 0
        credits = (await db["users"].find_one({"_id": ObjectId(viewer["_id"])}))["credits"]
        assert credits == (70 if join.status_code == 200 else 100)
        outcomes.append(join.status_code)
    assert 403 in outcomes  # the ban came first at least once (bans are created first in each gather)
