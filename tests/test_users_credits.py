"""The credit ledger (`app.users.credits`) and `GET /api/v1/users/me/transactions`."""

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from app.core import repository
from app.core.envelope import Envelope
from app.core.errors import Conflict, InsufficientCredits, NotFound, ValidationFailed
from app.core.pagination import Page
from app.users.credits import CreditLedger, Direction, TxType
from app.users.schemas import Transaction
from tests.helpers import assert_error, auth

ENDPOINT = "/api/v1/users/me/transactions"


async def user_with(make_user, credits: int) -> tuple[ObjectId, str]:
    user, token = await make_user(credits=credits)
    return ObjectId(user["_id"]), token


async def balance(db, user_id: ObjectId) -> int:
    return (await db.users.find_one({"_id": user_id}))["credits"]


def debit(key: str, amount: int = 10, type: TxType = TxType.replay_rental) -> dict:
    return {"amount": amount, "direction": Direction.debit, "type": type, "idempotency_key": key}


def credit(key: str, amount: int = 10, type: TxType = TxType.grant) -> dict:
    return {"amount": amount, "direction": Direction.credit, "type": type, "idempotency_key": key}


class TestLedger:
    async def test_debit_and_credit(self, db, make_user):
        user_id, _ = await user_with(make_user, 100)
        ledger = CreditLedger(db)
        reference = {"kind": "liveStream", "id": ObjectId()}
        tx = await ledger.apply(user_id, **debit("rent-1", 30), reference=reference)
        assert (tx["status"], tx["balanceAfter"], tx["amount"], tx["direction"]) == (
            "completed",
            70,
            30,
            "debit",
        )
        assert tx["reference"] == reference
        tx = await ledger.apply(user_id, **credit("grant-1", 5))
        assert (tx["status"], tx["balanceAfter"]) == ("completed", 75)
        assert await balance(db, user_id) == 75 == await ledger.balance(user_id)
        assert await db.credit_transactions.count_documents({"userId": user_id}) == 2

    async def test_same_key_twice_moves_once(self, db, make_user):
        user_id, _ = await user_with(make_user, 100)
        ledger = CreditLedger(db)
        first = await ledger.apply(user_id, **debit("fund-1", 40))
        second = await ledger.apply(user_id, **debit("fund-1", 40))
        assert first["_id"] == second["_id"] and second["status"] == "completed"
        assert await balance(db, user_id) == 60
        assert await db.credit_transactions.count_documents({"userId": user_id}) == 1

    async def test_same_key_concurrently_moves_once(self, db, make_user):
        user_id, _ = await user_with(make_user, 100)
        ledger = CreditLedger(db)
        results = await asyncio.gather(*(ledger.apply(user_id, **debit("fund-x", 10)) for _ in range(20)))
        assert len({tx["_id"] for tx in results}) == 1
        assert await balance(db, user_id) == 90
        assert await db.credit_transactions.count_documents({"userId": user_id}) == 1

    async def test_keys_are_per_user(self, db, make_user):
        alice, _ = await user_with(make_user, 50)
        bob, _ = await user_with(make_user, 50)
        ledger = CreditLedger(db)
        await ledger.apply(alice, **debit("same-key", 10))
        await ledger.apply(bob, **debit("same-key", 10))
        assert (await balance(db, alice), await balance(db, bob)) == (40, 40)

    @pytest.mark.parametrize(
        "changed",
        [{"amount": 11}, {"direction": Direction.credit}, {"type": TxType.live_stream_funding}],
        ids=["amount", "direction", "type"],
    )
    async def test_same_key_different_movement_409(self, db, make_user, changed):
        user_id, _ = await user_with(make_user, 100)
        ledger = CreditLedger(db)
        await ledger.apply(user_id, **debit("k", 10))
        with pytest.raises(Conflict) as caught:
            await ledger.apply(user_id, **{**debit("k", 10), **changed})
        assert caught.value.status_code == 409
        assert await balance(db, user_id) == 90

    async def test_insufficient_credits(self, db, make_user):
        user_id, _ = await user_with(make_user, 5)
        ledger = CreditLedger(db)
        with pytest.raises(InsufficientCredits) as caught:
            await ledger.apply(user_id, **debit("too-much", 6))
        assert caught.value.status_code == 400
        assert caught.value.messages == ["Validation failed", "Insufficient credits"]
        assert await balance(db, user_id) == 5
        tx = await db.credit_transactions.find_one({"userId": user_id, "idempotencyKey": "too-much"})
        assert (tx["status"], tx["balanceAfter"]) == ("failed", None)
        # A retry with the same key reports the same outcome and still moves nothing.
        with pytest.raises(InsufficientCredits):
            await ledger.apply(user_id, **debit("too-much", 6))
        assert await balance(db, user_id) == 5

    async def test_exact_balance_can_be_spent(self, db, make_user):
        user_id, _ = await user_with(make_user, 7)
        tx = await CreditLedger(db).apply(user_id, **debit("all", 7))
        assert tx["balanceAfter"] == 0

    @pytest.mark.parametrize("amount", [0, -5])
    async def test_non_positive_amount_400(self, db, make_user, amount):
        user_id, _ = await user_with(make_user, 10)
        with pytest.raises(ValidationFailed):
            await CreditLedger(db).apply(user_id, **debit("bad", amount))
        assert await db.credit_transactions.count_documents({}) == 0

    async def test_unknown_user_404(self, db):
        with pytest.raises(NotFound):
            await CreditLedger(db).apply(ObjectId(), **credit("ghost", 5))

    async def test_concurrent_debits_never_overspend(self, db, make_user):
        user_id, _ = await user_with(make_user, 60)
        ledger = CreditLedger(db)

        async def spend(i: int) -> bool:
            try:
                await ledger.apply(user_id, **debit(f"race-{i}", 1))
            except InsufficientCredits:
                return False
            return True

        outcomes = await asyncio.gather(*(spend(i) for i in range(100)))
        assert outcomes.count(True) == 60
        assert await balance(db, user_id) == 0
        statuses = await db.credit_transactions.distinct("status", {"userId": user_id})
        assert sorted(statuses) == ["completed", "failed"]
        assert await db.credit_transactions.count_documents({"userId": user_id, "status": "completed"}) == 60
        assert await db.credit_transactions.count_documents({"userId": user_id, "status": "failed"}) == 40

    async def test_pending_movement_is_resumed_not_doubled(self, db, make_user):
        """A request that died between inserting the movement and applying it is finished by the retry."""
        user_id, _ = await user_with(make_user, 20)
        now = datetime.now(UTC)
        await db.credit_transactions.insert_one(
            {"userId": user_id, "type": "replay_rental", "direction": "debit", "amount": 15, "status": "pending",
             "idempotencyKey": "crashed", "reference": None, "balanceAfter": None, "occurredAt": now,
             "createdAt": now, "updatedAt": now}
        )  # fmt: skip
        tx = await CreditLedger(db).apply(user_id, **debit("crashed", 15))
        assert (tx["status"], tx["balanceAfter"]) == ("completed", 5)
        assert await balance(db, user_id) == 5

    async def test_applied_but_unfinished_movement_is_not_applied_twice(self, db, make_user):
        """Crash after the balance update but before `completed`: the retry only finishes the record."""
        user_id, _ = await user_with(make_user, 20)
        ledger = CreditLedger(db)
        tx = await ledger.apply(user_id, **debit("half-done", 15))
        # Rewind to the state a crash right after the decision leaves: decision recorded on the user
        # (balance already debited), movement still pending.
        await db.credit_transactions.update_one({"_id": tx["_id"]}, {"$set": {"status": "pending"}})
        entry = {"d": "completed", "at": tx["updatedAt"], "balance": 5}
        await db.users.update_one({"_id": user_id}, {"$set": {f"opInFlight.{tx['_id']}": entry}})
        again = await ledger.apply(user_id, **debit("half-done", 15))
        assert (again["status"], again["balanceAfter"]) == ("completed", 5)
        assert await balance(db, user_id) == 5


async def seed_history(db, make_user) -> tuple[ObjectId, str, list[dict]]:
    """Six movements of one user at known times (one hour apart, oldest first) plus another user's."""
    user_id, token = await user_with(make_user, 100)
    ledger = CreditLedger(db)
    movements = [
        credit("t0", 50, TxType.grant),
        debit("t1", 10, TxType.live_stream_funding),
        debit("t2", 20, TxType.replay_rental),
        credit("t3", 10, TxType.live_stream_funding_refund),
        debit("t4", 30, TxType.replay_rental),
    ]
    done = [await ledger.apply(user_id, **movement) for movement in movements]
    with pytest.raises(InsufficientCredits):
        await ledger.apply(user_id, **debit("t5", 10_000, TxType.replay_rental))
    done.append(await db.credit_transactions.find_one({"userId": user_id, "idempotencyKey": "t5"}))
    base = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    for hour, tx in enumerate(done):
        tx["occurredAt"] = base + timedelta(hours=hour)
        await db.credit_transactions.update_one(
            {"_id": tx["_id"]}, {"$set": {"occurredAt": tx["occurredAt"]}}
        )
    other, _ = await user_with(make_user, 100)
    await ledger.apply(other, **debit("t0", 1))
    return user_id, token, done


def keys(response) -> list[str]:
    return [item["type"] + ":" + item["status"] for item in response.json()["data"]["list"]]


class TestTransactionsEndpoint:
    async def test_default_page_newest_first(self, client, db, make_user):
        _, token, done = await seed_history(db, make_user)
        response = await client.get(ENDPOINT, headers=auth(token))
        assert response.status_code == 200, response.text
        page = Envelope[Page[Transaction]].model_validate(response.json()).data
        # The refused t5 moved nothing: it stays in the ledger but is not history.
        assert [item.id for item in page.list] == [str(tx["_id"]) for tx in reversed(done[:5])]
        assert response.json()["data"]["pagination"] == {
            "currentPage": 1, "totalPages": 1, "totalItems": 5, "itemsPerPage": 20,
            "hasNextPage": False, "hasPrevPage": False,
        }  # fmt: skip
        newest = response.json()["data"]["list"][0]
        assert newest["occurredAt"] == "2026-01-15T14:00:00.000Z"
        assert set(newest) == {"_id", "type", "direction", "amount", "status", "balanceAfter", "reference",
                               "occurredAt"}  # fmt: skip

    async def test_balance_after_on_each_movement(self, client, db, make_user):
        _, token, _ = await seed_history(db, make_user)
        items = (await client.get(f"{ENDPOINT}?sort=asc", headers=auth(token))).json()["data"]["list"]
        assert [item["balanceAfter"] for item in items] == [150, 140, 120, 130, 100]

    async def test_pages(self, client, db, make_user):
        _, token, done = await seed_history(db, make_user)
        response = await client.get(f"{ENDPOINT}?page=2&limit=4", headers=auth(token))
        data = response.json()["data"]
        assert [item["_id"] for item in data["list"]] == [str(done[0]["_id"])]
        assert data["pagination"] == {
            "currentPage": 2, "totalPages": 2, "totalItems": 5, "itemsPerPage": 4,
            "hasNextPage": False, "hasPrevPage": True,
        }  # fmt: skip
        beyond = (await client.get(f"{ENDPOINT}?page=9&limit=4", headers=auth(token))).json()["data"]
        assert beyond["list"] == [] and beyond["pagination"]["totalItems"] == 5

    async def test_total_is_counted_up_to_a_cap(self, client, db, make_user, monkeypatch):
        """A busy list's total costs at most the cap (or the page asked for) in keys: beyond it, the
        total is that bound ("at least"); hasNextPage stays exact (docs/contract.md, "Pagination")."""
        monkeypatch.setattr(repository, "PAGE_TOTAL_CAP", 3)
        _, token, _ = await seed_history(db, make_user)  # 5 movements in the history
        first = (await client.get(f"{ENDPOINT}?page=1&limit=1", headers=auth(token))).json()["data"]
        assert first["pagination"]["totalItems"] == 3  # at least 3
        assert first["pagination"]["totalPages"] == 3 and first["pagination"]["hasNextPage"] is True
        third = (await client.get(f"{ENDPOINT}?page=3&limit=1", headers=auth(token))).json()["data"]
        assert third["pagination"]["totalItems"] == 4 and third["pagination"]["hasNextPage"] is True
        last = (await client.get(f"{ENDPOINT}?page=5&limit=1", headers=auth(token))).json()["data"]
        assert last["pagination"]["totalItems"] == 5 and last["pagination"]["hasNextPage"] is False

    async def test_sort_ascending(self, client, db, make_user):
        _, token, done = await seed_history(db, make_user)
        response = await client.get(f"{ENDPOINT}?sort=asc&limit=2", headers=auth(token))
        assert [item["_id"] for item in response.json()["data"]["list"]] == [
            str(tx["_id"]) for tx in done[:2]
        ]

    async def test_filter_types(self, client, db, make_user):
        _, token, _ = await seed_history(db, make_user)
        response = await client.get(
            f"{ENDPOINT}?types[]=replay_rental&types[]=grant&sort=asc", headers=auth(token)
        )
        assert keys(response) == ["grant:completed", "replay_rental:completed", "replay_rental:completed"]

    async def test_filter_statuses(self, client, db, make_user):
        """Refused attempts are not history: asking for `failed` finds nothing (the ledger keeps them)."""
        user_id, token, _ = await seed_history(db, make_user)
        response = await client.get(f"{ENDPOINT}?statuses[]=failed", headers=auth(token))
        assert keys(response) == []
        assert await db.credit_transactions.count_documents({"userId": user_id, "status": "failed"}) == 1
        both = await client.get(f"{ENDPOINT}?statuses[]=failed&statuses[]=completed", headers=auth(token))
        assert both.json()["data"]["pagination"]["totalItems"] == 5

    async def test_filter_direction(self, client, db, make_user):
        _, token, _ = await seed_history(db, make_user)
        response = await client.get(f"{ENDPOINT}?direction=credit&sort=asc", headers=auth(token))
        assert keys(response) == ["grant:completed", "live_stream_funding_refund:completed"]

    async def test_filter_dates_inclusive(self, client, db, make_user):
        _, token, done = await seed_history(db, make_user)
        response = await client.get(
            f"{ENDPOINT}?from=2026-01-15T11:00:00.000Z&to=2026-01-15T13:00:00.000Z&sort=asc",
            headers=auth(token),
        )
        assert [item["_id"] for item in response.json()["data"]["list"]] == [
            str(tx["_id"]) for tx in done[1:4]
        ]

    async def test_filter_dates_with_offset(self, client, db, make_user):
        _, token, done = await seed_history(db, make_user)
        response = await client.get(
            ENDPOINT, params={"from": "2026-01-15T17:00:00+03:00"}, headers=auth(token)
        )
        assert [item["_id"] for item in response.json()["data"]["list"]] == [str(done[4]["_id"])]

    async def test_filters_combine(self, client, db, make_user):
        _, token, _ = await seed_history(db, make_user)
        response = await client.get(
            f"{ENDPOINT}?types[]=replay_rental&statuses[]=completed&direction=debit&to=2026-01-15T13:00:00Z",
            headers=auth(token),
        )
        assert keys(response) == ["replay_rental:completed"]

    async def test_only_own_movements(self, client, db, make_user):
        await seed_history(db, make_user)
        _, stranger_token = await make_user()
        response = await client.get(ENDPOINT, headers=auth(stranger_token))
        assert response.json()["data"]["list"] == []
        assert response.json()["data"]["pagination"]["totalPages"] == 0

    @pytest.mark.parametrize(
        "query",
        ["limit=101", "limit=0", "page=0", "page=-1", "types[]=bogus", "statuses[]=done", "direction=up",
         "sort=newest", "from=yesterday", "from=2026-01-16T00:00:00Z&to=2026-01-15T00:00:00Z"],
    )  # fmt: skip
    async def test_invalid_query_400(self, client, make_user, query):
        _, token = await make_user()
        assert_error(await client.get(f"{ENDPOINT}?{query}", headers=auth(token)), 400, "Validation failed")

    async def test_limit_100_is_allowed(self, client, make_user):
        _, token = await make_user()
        response = await client.get(f"{ENDPOINT}?limit=100", headers=auth(token))
        assert response.json()["data"]["pagination"]["itemsPerPage"] == 100

    async def test_naive_and_aware_dates_together(self, client, make_user):
        _, token = await make_user()
        response = await client.get(
            ENDPOINT,
            params={"from": "2026-01-15T00:00:00", "to": "2026-01-16T00:00:00Z"},
            headers=auth(token),
        )
        assert response.status_code == 200, response.text


class TestIssue26Item8VisibleChain:
    """`balanceAfter` is recomputed over the visible rows: voided pairs and decision order do not show."""

    @staticmethod
    def assert_chain(items: list[dict], balance_now: int) -> None:
        """Newest first: the newest shows the balance, each older row the newer one minus its amount."""
        assert items[0]["balanceAfter"] == balance_now
        for newer, older in itertools.pairwise(items):
            sign = 1 if newer["direction"] == "credit" else -1
            assert newer["balanceAfter"] == older["balanceAfter"] + sign * newer["amount"], (newer, older)

    async def superlikes_one_voided(self, db, make_user) -> tuple[ObjectId, str]:
        """1000 credits, three superlikes of 10; the second one's debit was given straight back and
        voided (a contribution never counted) *after* the third was decided."""
        user_id, token = await user_with(make_user, 1000)
        ledger = CreditLedger(db)
        await ledger.apply(user_id, **debit("like-1", 10, TxType.superlike))
        await ledger.apply(user_id, **debit("like-2", 10, TxType.superlike))
        await ledger.apply(user_id, **debit("like-3", 10, TxType.superlike))
        await ledger.apply(user_id, **credit("like-2-refund", 10, TxType.live_stream_entry_refund))
        await ledger.void(user_id, ["like-2", "like-2-refund"])
        return user_id, token

    async def test_voided_pair_leaves_no_gap(self, client, db, make_user):
        user_id, token = await self.superlikes_one_voided(db, make_user)
        items = (await client.get(ENDPOINT, headers=auth(token))).json()["data"]["list"]
        assert [item["balanceAfter"] for item in items] == [980, 990]  # stored: 970, 990
        self.assert_chain(items, await balance(db, user_id))
        assert await balance(db, user_id) == 980

    async def test_chain_across_pages_orders_and_filters(self, client, db, make_user):
        user_id, token = await user_with(make_user, 1000)
        ledger = CreditLedger(db)
        for i in range(7):
            await ledger.apply(user_id, **debit(f"like-{i}", 10 + i, TxType.superlike))
            if i % 3 != 1:
                await ledger.apply(user_id, **credit(f"gift-{i}", 3))
        for i in (1, 4):  # refused ones, given back (later) and voided
            await ledger.apply(user_id, **credit(f"back-{i}", 10 + i, TxType.live_stream_entry_refund))
            await ledger.void(user_id, [f"like-{i}", f"back-{i}"])
        balance_now = await balance(db, user_id)
        full = (await client.get(f"{ENDPOINT}?limit=100", headers=auth(token))).json()["data"]["list"]
        self.assert_chain(full, balance_now)
        by_id = {item["_id"]: item["balanceAfter"] for item in full}
        for query in (
            "limit=3&page=2",
            "limit=4&page=3",
            "sort=asc&limit=5",
            "types[]=grant",
            "direction=debit",
        ):
            page = (await client.get(f"{ENDPOINT}?{query}", headers=auth(token))).json()["data"]["list"]
            assert page, query
            assert {item["_id"]: item["balanceAfter"] for item in page} == {
                item["_id"]: by_id[item["_id"]] for item in page
            }, query

    async def test_decided_out_of_order_and_applied_but_unfinished(self, client, db, make_user):
        """A movement inserted first but decided last, and one applied whose row is still pending."""
        user_id, token = await user_with(make_user, 100)
        ledger = CreditLedger(db)
        first = await ledger.apply(user_id, **debit("first", 10))
        second = await ledger.apply(user_id, **debit("second", 20))
        # `first` occurred before `second` but was decided after it (stored balances 70 then 90).
        await db.credit_transactions.update_one({"_id": first["_id"]}, {"$set": {"balanceAfter": 70}})
        await db.credit_transactions.update_one({"_id": second["_id"]}, {"$set": {"balanceAfter": 80}})
        # A third movement applied to the balance, its row not yet marked completed (a crash).
        third = await ledger.apply(user_id, **debit("third", 5))
        await db.credit_transactions.update_one({"_id": third["_id"]}, {"$set": {"status": "pending"}})
        entry = {"d": "completed", "at": third["updatedAt"], "balance": 65}
        await db.users.update_one({"_id": user_id}, {"$set": {f"opInFlight.{third['_id']}": entry}})
        items = (await client.get(ENDPOINT, headers=auth(token))).json()["data"]["list"]
        assert [item["balanceAfter"] for item in items] == [70, 90]
        self.assert_chain(items, 70)
        # Once it is finished, it joins the chain and the newest row shows the balance.
        await ledger.apply(user_id, **debit("third", 5))
        items = (await client.get(ENDPOINT, headers=auth(token))).json()["data"]["list"]
        assert [item["balanceAfter"] for item in items] == [65, 70, 90]
        self.assert_chain(items, await balance(db, user_id))
