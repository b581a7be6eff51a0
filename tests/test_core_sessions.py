"""Read-your-writes across an election (issue 22, defect 6): money sequences run in ONE causally consistent
session with majority read and write concerns (observed where the engine receives the calls), and a read
that is older than the sequence's own writes answers 503 (retryable, nothing lost), never a 500 or a 409.

A failover cannot be staged on the embedded engine; its observable effect on the app is a read that does
not show what the sequence just wrote, which these tests simulate at the repository that reads it.
"""

import asyncio
from typing import Any

import pytest
from bson import ObjectId

from app.core.embedded import EmbeddedCollection, EmbeddedSession
from app.core.errors import STALE_READ, DatabaseUnavailable
from app.core.sessions import causal, current_session
from app.live_streams.funding import FundingService
from app.live_streams.mini_crowd_fundings import MiniCrowdFundingRepository, MiniCrowdFundingService
from app.live_streams.pots import ContributionRepository
from app.live_streams.repository import LiveStreamRepository
from app.reminders.repository import ReminderRepository
from app.users.credits import CreditTransactionRepository
from tests.conftest import MONGODB_TEST_URL
from tests.helpers import assert_error, auth, create_stream, iso_in

pytestmark = pytest.mark.skipif(
    bool(MONGODB_TEST_URL), reason="observes the embedded adapter; the sequences are the same on mongod"
)

UNAVAILABLE = "Service unavailable"
SPIED = ("find", "find_one", "insert_one", "update_one", "update_many", "find_one_and_update", "aggregate")


@pytest.fixture
def calls(monkeypatch) -> list[dict[str, Any]]:
    """Every call the embedded adapter receives: collection, session, write and read concern."""
    seen: list[dict[str, Any]] = []
    for name in SPIED:
        original = getattr(EmbeddedCollection, name)

        def spy(
            self: EmbeddedCollection, *args: Any, _original: Any = original, _name: str = name, **kw: Any
        ):
            seen.append(
                {
                    "collection": self.name,
                    "op": _name,
                    "session": kw.get("session"),
                    "w": self.write_concern.document.get("w"),
                    "read": self.read_concern.level,
                }
            )
            return _original(self, *args, **kw)

        monkeypatch.setattr(EmbeddedCollection, name, spy)
    return seen


async def fundable_stream(client, token) -> dict[str, Any]:
    return await create_stream(client, token, plannedStartDate=iso_in(hours=4), fundingGoal=1000)


def fund(client, stream_id: str, token: str, amount: int = 100, key: str = "k-1"):
    return client.post(
        f"/api/v1/live-stream/{stream_id}/fund",
        json={"amount": amount},
        headers={**auth(token), "Idempotency-Key": key},
    )


async def credits_of(db, user_id: str) -> int:
    return (await db["users"].find_one({"_id": ObjectId(user_id)}))["credits"]


async def test_funding_runs_in_one_causal_session_with_majority_concerns(client, make_user, calls):
    _, host = await make_user()
    _, fan = await make_user(credits=300)
    stream = await fundable_stream(client, host)
    calls.clear()
    response = await fund(client, stream["id"], fan)
    assert response.status_code == 200, response.text
    money = {"fundings", "credit_transactions"}
    in_session = [c for c in calls if c["session"] is not None]
    # every call on the money collections, and every write on the holders (balance, pot), is in it
    assert [c for c in calls if c["collection"] in money and c["session"] is None] == []
    writes = {"insert_one", "update_one", "update_many", "find_one_and_update"}
    assert [c for c in calls if c["op"] in writes and c["session"] is None] == []
    assert {c["collection"] for c in in_session} >= {
        "fundings",
        "credit_transactions",
        "users",
        "live_streams",
    }
    sessions = {id(c["session"]) for c in in_session}
    assert len(sessions) == 1, "one session for the whole sequence"
    session = in_session[0]["session"]
    assert isinstance(session, EmbeddedSession) and session.options.causal_consistency
    assert session.has_ended  # closed with the request
    assert all(c["w"] == "majority" and c["read"] == "majority" for c in in_session)


async def test_history_balances_are_read_in_the_pages_causal_session(client, make_user, calls):
    """`balanceAfter` is recomputed from the balance and the chain around the page: those reads run in
    the page's causally consistent session, so after a failover they are no older than the page."""
    _, host = await make_user()
    _, fan = await make_user(credits=300)
    stream = await fundable_stream(client, host)
    for key in ("k-1", "k-2"):
        assert (await fund(client, stream["id"], fan, amount=50, key=key)).status_code == 200
    calls.clear()
    response = await client.get("/api/v1/users/me/transactions", headers=auth(fan))
    assert response.status_code == 200, response.text
    assert [row["balanceAfter"] for row in response.json()["data"]["list"]][:2] == [200, 250]
    ledger = [c for c in calls if c["collection"] == "credit_transactions"]
    # the page (find), the movements newer than it (aggregate) and the chain it spans (find)
    assert [c["op"] for c in ledger].count("find") >= 2 and "aggregate" in {c["op"] for c in ledger}
    assert all(c["session"] is not None for c in ledger)
    balance = [c for c in calls if c["collection"] == "users" and c["session"] is not None]
    assert balance, "the balance the chain starts from is read in the session"
    sessions = {id(c["session"]) for c in ledger + balance}
    assert len(sessions) == 1, "one session for the page and its balances"
    session = ledger[0]["session"]
    assert isinstance(session, EmbeddedSession) and session.options.causal_consistency
    assert session.has_ended
    assert all(c["w"] == "majority" and c["read"] == "majority" for c in ledger + balance)


async def test_non_durable_collection_gets_majority_concerns_inside_the_sequence(client, make_user, calls):
    _, host = await make_user()
    _, fan = await make_user()
    stream = await create_stream(client, host, plannedStartDate=iso_in(hours=4))
    calls.clear()
    response = await client.post(
        f"/api/v1/live-stream/{stream['id']}/reminder", json={"minute": 0}, headers=auth(fan)
    )
    assert response.status_code == 200, response.text
    reminders = [c for c in calls if c["collection"] == "reminders"]
    assert reminders and all(c["session"] is not None for c in reminders)
    assert all(c["w"] == "majority" and c["read"] == "majority" for c in reminders)


async def test_stale_contribution_read_answers_503_and_the_retry_is_applied_once(
    client, make_user, db, monkeypatch
):
    _, host = await make_user()
    fan, fan_token = await make_user(credits=300)
    stream = await fundable_stream(client, host)
    read = ContributionRepository.get

    async def stale(self, _id, **kwargs):  # the contribution as it was before this runner finished it
        doc = await read(self, _id, **kwargs)
        return {**doc, "status": "pending"}

    monkeypatch.setattr(ContributionRepository, "get", stale)
    body = assert_error(await fund(client, stream["id"], fan_token), 503, UNAVAILABLE)
    assert body["errors"][1] == STALE_READ
    monkeypatch.setattr(ContributionRepository, "get", read)
    retry = await fund(client, stream["id"], fan_token)
    assert retry.status_code == 200, retry.text
    assert retry.json()["data"]["collectedFunding"] == 100
    assert await credits_of(db, fan["_id"]) == 200  # debited once


async def test_missing_contribution_after_our_write_answers_503(client, make_user, monkeypatch):
    _, host = await make_user()
    _, fan_token = await make_user(credits=300)
    stream = await fundable_stream(client, host)

    async def missing(self, _id, **kwargs):
        return None

    monkeypatch.setattr(ContributionRepository, "get", missing)
    assert_error(await fund(client, stream["id"], fan_token), 503, UNAVAILABLE)


async def test_missing_ledger_movement_after_our_write_answers_503_not_500(
    client, make_user, db, monkeypatch
):
    _, host = await make_user()
    fan, fan_token = await make_user(credits=300)
    stream = await fundable_stream(client, host)
    read = CreditTransactionRepository.get

    async def missing(self, _id, **kwargs):
        return None

    monkeypatch.setattr(CreditTransactionRepository, "get", missing)
    body = assert_error(await fund(client, stream["id"], fan_token), 503, UNAVAILABLE)
    assert body["errors"][1] == STALE_READ
    monkeypatch.setattr(CreditTransactionRepository, "get", read)
    retry = await fund(client, stream["id"], fan_token)
    assert retry.status_code == 200, retry.text
    assert await credits_of(db, fan["_id"]) == 200


async def test_pay_out_never_pays_shares_of_a_stale_total(client, make_user, db, monkeypatch):
    host_user, host = await make_user()
    _, fan_token = await make_user(credits=1000)
    stream = await fundable_stream(client, host)  # goal 1000: reached
    assert (await fund(client, stream["id"], fan_token, amount=1000)).status_code == 200
    doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    read = LiveStreamRepository.get

    async def before_the_funding(self, _id, **kwargs):
        current = await read(self, _id, **kwargs)
        return {**current, "collectedFunding": 0}

    monkeypatch.setattr(LiveStreamRepository, "get", before_the_funding)
    with pytest.raises(DatabaseUnavailable):
        await FundingService(db).pay_out(doc)
    assert await db["credit_transactions"].count_documents({"type": "live_stream_funding_payout"}) == 0
    monkeypatch.setattr(LiveStreamRepository, "get", read)
    await FundingService(db).pay_out(doc)  # the follow-up's next run pays the real total
    payout = await db["credit_transactions"].find_one({"type": "live_stream_funding_payout"})
    assert payout["amount"] == 800 and str(payout["userId"]) == host_user["_id"]


async def test_mini_settlement_stale_read_is_503_not_an_assert(client, make_user, db, monkeypatch):
    _, host = await make_user()
    stream = await create_stream(client, host)
    started = await client.post(f"/api/v1/live-stream/{stream['id']}/start", headers=auth(host))
    assert started.status_code == 200, started.text
    service = MiniCrowdFundingService(db)
    creator = ObjectId((await db["live_streams"].find_one({"_id": ObjectId(stream["id"])}))["creatorId"])
    mini = await service.create(ObjectId(stream["id"]), creator, "more", 500, 30)
    doc = await db["mini_crowd_fundings"].find_one({"_id": mini["_id"]})

    async def missing(self, _id, **kwargs):
        return None

    monkeypatch.setattr(MiniCrowdFundingRepository, "get", missing)
    with pytest.raises(DatabaseUnavailable):
        await service.settle(doc, doc["deadline"])


async def test_reminder_removed_during_its_upsert_is_409_not_500(db, monkeypatch):
    async def clashed_with_a_fired_one(self, key, update):
        return None

    monkeypatch.setattr(ReminderRepository, "upsert_returning", clashed_with_a_fired_one)
    with pytest.raises(Exception) as raised:
        await ReminderRepository(db).upsert(ObjectId(), ObjectId(), {"minute": 0})
    assert getattr(raised.value, "status_code", None) == 409


async def test_sessions_nest_and_stay_with_their_task(db):
    async with causal(db) as outer:
        async with causal(db) as inner:
            assert inner is outer and current_session() is outer

        async def seen_by_a_child() -> Any:
            return current_session()

        child = await asyncio.create_task(seen_by_a_child())
        assert child is None  # a task started inside does not share the session (one op at a time)
        assert current_session() is outer
    assert current_session() is None and outer.has_ended


async def test_pay_out_runs_in_one_causal_session(client, make_user, db, calls):
    _, host = await make_user()
    _, fan_token = await make_user(credits=1000)
    stream = await fundable_stream(client, host)
    assert (await fund(client, stream["id"], fan_token, amount=1000)).status_code == 200
    doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    calls.clear()
    await FundingService(db).pay_out(doc)
    assert calls and all(c["session"] is not None for c in calls)
    assert len({id(c["session"]) for c in calls}) == 1
    assert all(c["w"] == "majority" and c["read"] == "majority" for c in calls)
    assert {"fundings", "live_streams", "credit_transactions", "users"} <= {c["collection"] for c in calls}
