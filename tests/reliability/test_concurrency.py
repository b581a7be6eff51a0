"""Concurrency: money stays exact and lifecycle races have exactly one winner.

Requests run concurrently through one ASGI app (interleaving at every await, as on a server), and the
assertions are invariants that must hold whichever request wins: the ledger balances to the credit,
a creator never has two live sessions, a stream is never both deleted and started.
"""

import asyncio
from collections import Counter
from typing import Any

import httpx
from bson import ObjectId
from fastapi import FastAPI

from tests.helpers import assert_error, auth, create_stream, iso_in

AMOUNTS = [7, 11, 13, 3, 5]  # five funds per funder: 39 credits in all
CONFLICT = "Resource already exists or cannot be changed in its current state"


def url(stream: dict[str, Any], action: str = "") -> str:
    return f"/api/v1/live-stream/{stream['id']}" + (f"/{action}" if action else "")


async def open_sessions(app: FastAPI, db: Any, creator_id: str) -> int:
    """Open AIOZ streamings on the creator's key, asked through the AIOZ API itself."""
    key = await db["aioz_keys"].find_one({"_id": ObjectId(creator_id)})
    return 0 if key is None else len((await app.state.aioz.list_streamings(key["keyId"])).media)


async def test_200_concurrent_funds_from_40_funders_keep_the_ledger_exact(client, make_user, db):
    _, host = await make_user()
    # Funders 0..39 hold 20..59 credits against 39 requested: the poorer ones get some funds refused,
    # so successes and refusals interleave on the same documents.
    funders = [await make_user(credits=20 + i) for i in range(40)]
    stream = await create_stream(client, host, plannedStartDate=iso_in(hours=5), fundingGoal=5000)

    async def fund(token: str, amount: int) -> tuple[int, httpx.Response]:
        return amount, await client.post(url(stream, "fund"), json={"amount": amount}, headers=auth(token))

    outcomes = await asyncio.gather(*(fund(token, a) for _, token in funders for a in AMOUNTS))
    assert len(outcomes) == 200

    accepted = [(amount, r) for amount, r in outcomes if r.status_code == 200]
    refused = [r for _, r in outcomes if r.status_code != 200]
    for response in refused:
        assert assert_error(response, 400, "Validation failed")["errors"][1] == "Insufficient credits"
    assert refused and len(accepted) > 150  # both paths really ran

    stream_id = ObjectId(stream["id"])
    doc = await db["live_streams"].find_one({"_id": stream_id})
    total = sum(amount for amount, _ in accepted)
    assert doc["collectedFunding"] == total
    # Each answer shows the stream right after its own increment: all different, the last one the total.
    seen = [r.json()["data"]["collectedFunding"] for _, r in accepted]
    assert len(set(seen)) == len(seen) and max(seen) == total

    debits = (
        await db["credit_transactions"]
        .find({"type": "live_stream_funding", "reference.id": stream["id"]})
        .to_list()
    )
    statuses = Counter(tx["status"] for tx in debits)
    assert statuses == {"completed": len(accepted), "failed": len(refused)}
    assert sum(tx["amount"] for tx in debits if tx["status"] == "completed") == total
    fundings = Counter(f["status"] for f in await db["fundings"].find({"liveStreamId": stream_id}).to_list())
    assert fundings == {"completed": len(accepted), "rejected": len(refused)}

    for user, _ in funders:
        await assert_balance_consistent(db, user)


async def assert_balance_consistent(db: Any, user: dict[str, Any]) -> None:
    """Balance = initial - completed debits, and the debits' `balanceAfter` form one unbroken chain."""
    doc = await db["users"].find_one({"_id": ObjectId(user["_id"])})
    txs = await db["credit_transactions"].find({"userId": doc["_id"], "status": "completed"}).to_list()
    assert all(tx["direction"] == "debit" for tx in txs)
    assert doc["credits"] == user["credits"] - sum(tx["amount"] for tx in txs) >= 0
    expected = user["credits"]
    for tx in sorted(txs, key=lambda t: t["balanceAfter"], reverse=True):
        expected -= tx["amount"]
        assert tx["balanceAfter"] == expected, "a debit was applied against a stale balance"


async def test_idempotency_key_replays_debit_once(client, make_user, db):
    _, host = await make_user()
    fan, token = await make_user(credits=1000)
    other_fan, other_token = await make_user(credits=1000)
    stream = await create_stream(client, host, plannedStartDate=iso_in(hours=5), fundingGoal=5000)
    second = await create_stream(client, host, plannedStartDate=iso_in(hours=6), fundingGoal=5000)
    key = {"Idempotency-Key": "tip-7f3a"}

    replays = await asyncio.gather(
        *(
            client.post(url(stream, "fund"), json={"amount": 120}, headers={**auth(token), **key})
            for _ in range(25)
        )
    )
    assert [r.status_code for r in replays] == [200] * 25
    assert len({r.content.split(b'"timestamp"')[0] for r in replays}) == 1  # one answer, replayed
    later = await client.post(url(stream, "fund"), json={"amount": 120}, headers={**auth(token), **key})
    assert later.status_code == 200 and later.json()["data"] == replays[0].json()["data"]

    # The same key for another body or another stream is a conflict, and moves no credit.
    assert_error(
        await client.post(url(stream, "fund"), json={"amount": 121}, headers={**auth(token), **key}),
        409,
        CONFLICT,
    )
    assert_error(
        await client.post(url(second, "fund"), json={"amount": 120}, headers={**auth(token), **key}),
        409,
        CONFLICT,
    )
    # Keys belong to their user: another funder's identical key is a separate funding.
    theirs = await client.post(
        url(stream, "fund"), json={"amount": 120}, headers={**auth(other_token), **key}
    )
    assert theirs.status_code == 200 and theirs.json()["data"]["collectedFunding"] == 240

    assert (await db["live_streams"].find_one({"_id": ObjectId(stream["id"])}))["collectedFunding"] == 240
    for user, credits in ((fan, 880), (other_fan, 880)):
        doc = await db["users"].find_one({"_id": ObjectId(user["_id"])})
        assert doc["credits"] == credits
        debits = await db["credit_transactions"].count_documents({"userId": doc["_id"]})
        assert debits == 1


async def test_concurrent_starts_of_two_streams_exactly_one_goes_live(client, make_user, app, db):
    creator, token = await make_user()
    fake = app.state.aioz_fake
    for round_ in range(3):
        first, second = [await create_stream(client, token, title=f"Round {round_}") for _ in range(2)]
        # AIOZ is slow to open the session, so both starts are in flight at the same time.
        fake.inject_fault("/live_streams/*/streamings", "latency", count=2, method="POST", delay=0.05)
        responses = await asyncio.gather(
            *(client.post(url(s, "start"), headers=auth(token)) for s in (first, second))
        )
        fake.clear_faults()
        assert sorted(r.status_code for r in responses) == [200, 409]
        winner, loser = (first, second) if responses[0].status_code == 200 else (second, first)
        assert_error(next(r for r in responses if r.status_code == 409), 409, CONFLICT)

        lost = await db["live_streams"].find_one({"_id": ObjectId(loser["id"])})
        assert lost["status"] == "preparing" and lost["startedAt"] is None and "liveSlotOwner" not in lost
        assert (
            await db["live_streams"].count_documents(
                {"creatorId": ObjectId(creator["_id"]), "status": "active"}
            )
            == 1
        )
        assert await open_sessions(app, db, creator["_id"]) == 1
        assert (await client.post(url(winner, "end"), headers=auth(token))).status_code == 200
        assert await open_sessions(app, db, creator["_id"]) == 0


async def test_the_same_stream_started_twice_at_once_opens_one_session(client, make_user, app, db):
    creator, token = await make_user()
    stream = await create_stream(client, token)
    app.state.aioz_fake.inject_fault(
        "/live_streams/*/streamings", "latency", count=2, method="POST", delay=0.05
    )
    responses = await asyncio.gather(
        *(client.post(url(stream, "start"), headers=auth(token)) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409]
    assert await open_sessions(app, db, creator["_id"]) == 1


async def test_delete_arriving_while_start_talks_to_aioz_is_refused(client, make_user, app, db):
    creator, token = await make_user()
    stream = await create_stream(client, token)
    fake = app.state.aioz_fake
    fake.inject_fault("/live_streams/*/streamings", "latency", method="POST", delay=0.2)
    start = asyncio.create_task(client.post(url(stream, "start"), headers=auth(token)))
    for _ in range(200):  # until the start is inside AIOZ, holding the creator's live slot
        if any(method == "POST" and path.endswith("/streamings") for method, path in fake.calls):
            break
        await asyncio.sleep(0.005)
    else:
        raise AssertionError("the start never reached AIOZ")
    assert_error(await client.delete(url(stream), headers=auth(token)), 409, CONFLICT)
    assert (await start).status_code == 200
    doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    assert doc["status"] == "active" and doc["deletedAt"] is None
    assert await open_sessions(app, db, creator["_id"]) == 1


async def test_delete_racing_start_never_both(client, make_user, app, db):
    """Sent together, in either order and with slow or fast AIOZ: exactly one wins, the state matches."""
    creator, token = await make_user()
    fake = app.state.aioz_fake
    for latency, delete_first in ((0.05, False), (None, False), (None, True), (0.05, True)):
        stream = await create_stream(client, token)
        if latency:
            fake.inject_fault("/live_streams/*/streamings", "latency", method="POST", delay=latency)
        start_call = client.post(url(stream, "start"), headers=auth(token))
        delete_call = client.delete(url(stream), headers=auth(token))
        if delete_first:
            delete, start = await asyncio.gather(delete_call, start_call)
        else:
            start, delete = await asyncio.gather(start_call, delete_call)
        fake.clear_faults()

        doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
        assert (start.status_code == 200) != (delete.status_code == 200), (start.text, delete.text)
        if start.status_code == 200:
            assert_error(delete, 409, CONFLICT)
            assert doc["status"] == "active" and doc["deletedAt"] is None
            assert await open_sessions(app, db, creator["_id"]) == 1
            assert (await client.post(url(stream, "end"), headers=auth(token))).status_code == 200
        else:
            assert start.status_code in (404, 409), start.text
            assert doc["deletedAt"] is not None and doc["status"] == "preparing"
            assert doc.get("liveSlotOwner") is None and doc["startedAt"] is None
        assert await open_sessions(app, db, creator["_id"]) == 0

    # Whatever happened, the creator's live slot is free afterwards.
    fresh = await create_stream(client, token)
    assert (await client.post(url(fresh, "start"), headers=auth(token))).status_code == 200
