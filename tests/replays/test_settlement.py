"""The settlement pass: revenue split after the 24 h window, exactly once; half-done periods finished."""

import asyncio
import json
from datetime import timedelta

import pytest
from bson import ObjectId

from app.core.timeutils import utcnow
from app.replays.settlement import RentalSettlement, revenue_shares
from tests.helpers import auth
from tests.replays.conftest import credits_of, make_rentable
from tests.streams import API

MS = timedelta(milliseconds=1)


async def rent(client, token, stream):
    response = await client.post(f"{API}/{stream['id']}/replay-rentals", headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def window_end(db, rental):
    return (await db["replay_rentals"].find_one({"_id": ObjectId(rental["_id"])}))["expiresAt"]


async def test_solo_revenue_80_20_after_the_window_once(client, make_user, db, solo):
    creator, _, stream = solo
    _, token = await make_user(credits=50)
    rental = await rent(client, token, stream)
    closes = await window_end(db, rental)
    settlement = RentalSettlement(db)

    assert await settlement.run_once(closes - MS) == 0
    assert await credits_of(db, creator) == 0
    assert sum(await asyncio.gather(*(settlement.run_once(closes) for _ in range(3)))) == 1
    assert await credits_of(db, creator) == 40  # the platform's 10 goes to no account
    assert await settlement.run_once(closes + timedelta(days=1)) == 0
    assert await credits_of(db, creator) == 40
    row = await db["replay_rentals"].find_one({"_id": ObjectId(rental["_id"])})
    assert row["status"] == "expired" and row["settlement"] == "revenue"
    assert row["revenueShares"] == {"creator": 40, "guest": 0, "platform": 10}
    revenue = await db["credit_transactions"].find({"type": "replay_rental_revenue"}).to_list()
    assert [(tx["userId"], tx["amount"]) for tx in revenue] == [(ObjectId(creator["_id"]), 40)]


async def test_duo_revenue_40_40_20(client, make_user, db):
    guest, _ = await make_user()
    creator, host = await make_user()
    stream = await make_rentable(
        client, db, host, price=50, liveStreamType="duocrowd", guests=json.dumps([guest["_id"]])
    )
    _, token = await make_user(credits=50)
    rental = await rent(client, token, stream)
    assert await RentalSettlement(db).run_once(await window_end(db, rental)) == 1
    assert (await credits_of(db, creator), await credits_of(db, guest)) == (20, 20)


@pytest.mark.parametrize(
    "price, kind, shares",
    [
        (50, "solo", (40, 0, 10)),
        (50, "duoself", (20, 20, 10)),
        (7, "solo", (5, 0, 2)),
        (7, "duocrowd", (2, 2, 3)),
        (1, "duoself", (0, 0, 1)),
    ],
)
def test_shares_are_whole_credits_with_the_remainder_to_the_platform(price, kind, shares):
    assert revenue_shares(price, kind, has_guest=kind != "solo") == dict(
        zip(("creator", "guest", "platform"), shares, strict=True)
    )


async def crashed_second_period(db, rental):
    """Make the row look like a re-rent that claimed period 2 and died before charging."""
    past = utcnow() - timedelta(minutes=5)
    before = {"status": "expired", "settlement": "revenue", "settledAt": past}
    claimed = {"status": "pending", "rentalNumber": 2, "settlement": None, "settledAt": None}
    await db["replay_rentals"].update_one(
        {"_id": ObjectId(rental["_id"])}, {"$set": {**claimed, "previous": before, "updatedAt": past}}
    )


@pytest.mark.parametrize("credits, status, left", [(150, "active", 50), (80, "expired", 30)])
async def test_a_request_that_died_after_claiming_is_finished_by_the_pass(
    client, make_user, db, solo, credits, status, left
):
    _, _, stream = solo
    fan, token = await make_user(credits=credits)
    rental = await rent(client, token, stream)
    await crashed_second_period(db, rental)
    await RentalSettlement(db).run_once(utcnow())
    row = await db["replay_rentals"].find_one({"_id": ObjectId(rental["_id"])})
    # Charged and activated, or (too few credits) put back as it was before the claim.
    assert row["status"] == status and row["rentalNumber"] == 2
    assert await credits_of(db, fan) == left


async def test_stream_deleted_while_a_rental_is_charging_nets_to_zero(client, make_user, db, solo):
    _, host, stream = solo
    fan, token = await make_user(credits=100)
    rental = await rent(client, token, stream)
    pending = {"status": "pending", "rentalNumber": 2, "settlement": None, "settledAt": None}
    await db["replay_rentals"].update_one({"_id": ObjectId(rental["_id"])}, {"$set": pending})
    assert (await client.delete(f"{API}/{stream['id']}", headers=auth(host))).status_code == 200
    row = await db["replay_rentals"].find_one({"_id": ObjectId(rental["_id"])})
    assert row["status"] == "refunded" and row["settledAt"] is not None
    # Period 2 was charged (by the refund step, as the dead request would have) and refunded.
    assert await credits_of(db, fan) == 50
    await RentalSettlement(db).run_once(utcnow() + timedelta(days=2))
    assert await credits_of(db, fan) == 50
