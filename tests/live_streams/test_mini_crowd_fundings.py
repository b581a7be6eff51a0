"""Mini crowd-fundings (issue 13 item 11): goals opened during an active stream, funded by viewers,
paid out or refunded when they close (deadline or stream end). Crash/race proof: tests/money."""

from datetime import timedelta

from bson import ObjectId

from app.core.timeutils import utcnow
from app.live_streams.mini_crowd_fundings import MiniCrowdFundingService
from tests.helpers import assert_error, auth, create_stream
from tests.streams import API, started_stream

CONFLICT = "Resource already exists or cannot be changed in its current state"


def minis_url(stream_id: str) -> str:
    return f"{API}/{stream_id}/mini-crowd-fundings"


async def open_mini(client, token, stream_id, **body):
    response = await client.post(
        minis_url(stream_id), json={"title": "30 more minutes", "goal": 100, **body}, headers=auth(token)
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]


def fund(client, token, stream_id, mini_id, amount, key=None):
    headers = {**auth(token), **({"Idempotency-Key": key} if key else {})}
    return client.post(f"{minis_url(stream_id)}/{mini_id}/fund", json={"amount": amount}, headers=headers)


async def credits_of(db, user) -> int:
    return (await db["users"].find_one({"_id": ObjectId(user["_id"])}))["credits"]


async def test_open_fund_and_show_on_the_stream(client, make_user, db):
    _, host = await make_user()
    fan, token = await make_user(credits=100)
    stream = await started_stream(client, host)
    mini = await open_mini(client, host, stream["id"], durationMinutes=10)
    assert set(mini) == {"_id", "title", "goal", "collected", "percentage", "status", "deadline"}
    assert (mini["goal"], mini["collected"], mini["status"]) == (100, 0, "open")

    response = await fund(client, token, stream["id"], mini["_id"], 40, key="m-1")
    assert response.status_code == 200, response.text
    assert (response.json()["data"]["collected"], response.json()["data"]["percentage"]) == (40, 40.0)
    again = await fund(client, token, stream["id"], mini["_id"], 40, key="m-1")
    assert again.json()["data"] == response.json()["data"] and await credits_of(db, fan) == 60

    listed = (await client.get(minis_url(stream["id"]), headers=auth(token))).json()["data"]
    assert [(m["_id"], m["collected"]) for m in listed] == [(mini["_id"], 40)]
    shown = (await client.get(f"{API}/{stream['id']}", headers=auth(token))).json()["data"]
    assert [(m["_id"], m["collected"], m["status"]) for m in shown["miniCrowdFundings"]] == [
        (mini["_id"], 40, "open")
    ]


async def test_the_list_takes_a_limit_newest_first(client, make_user):
    _, host = await make_user()
    _, token = await make_user()
    stream = await started_stream(client, host)
    await open_mini(client, host, stream["id"])
    newer = await open_mini(client, host, stream["id"], title="Encore")
    one = await client.get(minis_url(stream["id"]), params={"limit": 1}, headers=auth(token))
    assert [m["_id"] for m in one.json()["data"]] == [newer["_id"]]  # newest first, `limit` of them
    assert_error(
        await client.get(minis_url(stream["id"]), params={"limit": 0}, headers=auth(token)),
        400,
        "Validation failed",
    )


async def test_goal_reached_is_paid_out_when_the_stream_ends(client, make_user, db):
    creator, host = await make_user()
    fans = [await make_user(credits=100) for _ in range(2)]
    stream = await started_stream(client, host)
    mini = await open_mini(client, host, stream["id"], goal=100)
    for _, token in fans:
        assert (await fund(client, token, stream["id"], mini["_id"], 50)).status_code == 200

    assert (await client.post(f"{API}/{stream['id']}/end", headers=auth(host))).status_code == 200
    assert await credits_of(db, creator) == 80  # 80 % of 100
    doc = await db["mini_crowd_fundings"].find_one({"_id": ObjectId(mini["_id"])})
    assert doc["status"] == "paid" and doc["payout"]["platform"] == 20
    assert_error(await fund(client, fans[0][1], stream["id"], mini["_id"], 5), 409, CONFLICT)


async def test_goal_missed_at_deadline_refunds_everyone(client, make_user, db):
    creator, host = await make_user()
    fan, token = await make_user(credits=100)
    stream = await started_stream(client, host)
    mini = await open_mini(client, host, stream["id"], goal=500)
    assert (await fund(client, token, stream["id"], mini["_id"], 70)).status_code == 200

    settled = await MiniCrowdFundingService(db).settle_due(utcnow() + timedelta(minutes=31))
    assert settled == 1
    doc = await db["mini_crowd_fundings"].find_one({"_id": ObjectId(mini["_id"])})
    assert doc["status"] == "refunded" and doc["payout"] is None
    assert await credits_of(db, fan) == 100 and await credits_of(db, creator) == 0


async def test_rules(client, make_user, db):
    _, host = await make_user()
    _, fan = await make_user(credits=5)
    live = await started_stream(client, host)
    scheduled = await create_stream(client, host)
    body = {"title": "x", "goal": 10}

    assert_error(
        await client.post(minis_url(live["id"]), json=body, headers=auth(fan)),
        403,
        "Insufficient permissions",
    )
    assert_error(await client.post(minis_url(scheduled["id"]), json=body, headers=auth(host)), 409, CONFLICT)
    for bad in (
        {"title": "", "goal": 10},
        {"title": "x", "goal": 0},
        {"title": "x", "goal": 10, "durationMinutes": 241},
    ):
        assert_error(
            await client.post(minis_url(live["id"]), json=bad, headers=auth(host)), 400, "Validation failed"
        )
    minis = [await open_mini(client, host, live["id"]) for _ in range(3)]
    assert_error(await client.post(minis_url(live["id"]), json=body, headers=auth(host)), 409, CONFLICT)

    assert_error(await fund(client, host, live["id"], minis[0]["_id"], 1), 403, "Insufficient permissions")
    assert_error(await fund(client, fan, live["id"], minis[0]["_id"], 6), 400, "Validation failed")
    assert_error(await fund(client, fan, scheduled["id"], minis[0]["_id"], 1), 404, "Resource not found")
    assert await db["mini_crowd_funding_contributions"].count_documents({}) == 0


async def test_issue26_item1_concurrent_creates_open_at_most_three(client, make_user, db):
    """40 concurrent creates: exactly 3 open (each in its own slot), the rest 409."""
    import asyncio

    _, host = await make_user()
    live = await started_stream(client, host)
    responses = await asyncio.gather(
        *(
            client.post(minis_url(live["id"]), json={"title": f"goal {i}", "goal": 10}, headers=auth(host))
            for i in range(40)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] * 3 + [409] * 37
    docs = await db["mini_crowd_fundings"].find({"liveStreamId": ObjectId(live["id"])}).to_list()
    assert sorted(doc["openSlot"] for doc in docs) == [0, 1, 2]
    assert all(doc["status"] == "open" for doc in docs)


async def test_issue26_item1_closing_gives_the_slot_back(client, make_user, db):
    _, host = await make_user()
    live = await started_stream(client, host)
    minis = [await open_mini(client, host, live["id"], durationMinutes=30 + i) for i in range(3)]
    body = {"title": "one more", "goal": 10}
    assert_error(await client.post(minis_url(live["id"]), json=body, headers=auth(host)), 409, CONFLICT)
    # The first one's deadline passes: the reconcile loop closes and settles it, freeing its slot.
    assert await MiniCrowdFundingService(db).settle_due(utcnow() + timedelta(minutes=30, seconds=30)) == 1
    closed = await db["mini_crowd_fundings"].find_one({"_id": ObjectId(minis[0]["_id"])})
    assert closed["status"] == "refunded" and "openSlot" not in closed
    fourth = await open_mini(client, host, live["id"], **body)
    assert (await db["mini_crowd_fundings"].find_one({"_id": ObjectId(fourth["_id"])}))["openSlot"] == 0
    assert_error(await client.post(minis_url(live["id"]), json=body, headers=auth(host)), 409, CONFLICT)


async def test_issue26_item1_a_create_closes_overdue_ones_holding_slots(client, make_user, db):
    """Deadlines passed but the reconcile loop has not run yet: the create closes them (the loop then
    settles them) instead of refusing."""
    _, host = await make_user()
    live = await started_stream(client, host)
    for _ in range(3):
        await open_mini(client, host, live["id"])
    stream_id = ObjectId(live["id"])
    await db["mini_crowd_fundings"].update_many(
        {"liveStreamId": stream_id}, {"$set": {"deadline": utcnow() - timedelta(seconds=1)}}
    )
    created = await open_mini(client, host, live["id"], title="fresh")
    docs = {
        doc["_id"]: doc for doc in await db["mini_crowd_fundings"].find({"liveStreamId": stream_id}).to_list()
    }
    assert docs[ObjectId(created["_id"])]["status"] == "open"
    assert sorted(doc["status"] for doc in docs.values()) == ["closed"] * 3 + ["open"]
    assert await MiniCrowdFundingService(db).settle_due(utcnow()) == 3
