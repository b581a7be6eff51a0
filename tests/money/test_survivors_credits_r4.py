"""Named checks for the mutants of the credit ledger (`app/users/credits.py`) that survived round 3 of
`make mutate` (issue 23, docs/money.md "Mutation score"), round 4: a movement of nothing, a key reused
for another movement, the stored shape of a movement before and after it is decided, and the text a
lagging final read answers with.

Each drives the ledger directly on a fresh embedded database (cheap: mutmut runs them first); expected
balances, rows and texts come from the values written here, never from the code's own records.
"""

from datetime import timedelta
from typing import Any, cast

import pytest
from bson import ObjectId

from app.core.errors import STALE_READ, Conflict, DatabaseUnavailable, ErrorCode, ValidationFailed
from app.core.timeutils import utcnow
from app.users.credits import (
    CreditLedger,
    CreditMovement,
    CreditTransactionRepository,
    Direction,
    TxType,
)
from tests.money.harness import database_client, fresh_database, shifted_clock
from tests.money.world import Ctx, add_user, apply, crash_after

# The fields of a stored movement (`CreditMovement`, docs/money.md): nothing more, nothing less.
MOVEMENT_FIELDS = {
    "_id",
    "userId",
    "type",
    "direction",
    "amount",
    "status",
    "idempotencyKey",
    "reference",
    "balanceAfter",
    "occurredAt",
    "createdAt",
    "updatedAt",
}


async def balance_of(db: Any, user_id: ObjectId) -> int:
    user = await db["users"].find_one({"_id": user_id}, {"credits": 1})
    assert user is not None
    return int(user["credits"])


async def test_a_movement_of_zero_credits_is_refused_and_writes_nothing() -> None:
    """`amount` must be positive: 0 is a validation error, and no ledger row is written for it."""
    async with database_client() as client, fresh_database(client) as db:
        payer = await add_user(db, Ctx(), "payer", credits=100)
        for direction in (Direction.debit, Direction.credit):
            with pytest.raises(ValidationFailed) as refused:
                await apply(db, payer, 0, direction, f"ext:zero-{direction}")
            assert refused.value.detail == "amount must be a positive integer"
        assert await db["credit_transactions"].count_documents({}) == 0
        assert await balance_of(db, payer) == 100


async def test_a_key_reused_for_another_movement_is_a_conflict_and_moves_nothing_more() -> None:
    """The same (user, key) with another amount, direction or type is refused with 409
    IDEMPOTENCY_KEY_REUSED and its text, never answered with the first movement as if it were paid;
    the same movement again is the first one (applied once)."""
    async with database_client() as client, fresh_database(client) as db:
        payer = await add_user(db, Ctx(), "payer", credits=100)
        first = await apply(db, payer, 10, Direction.debit, "ext:k")
        for amount, direction, tx_type in (
            (20, Direction.debit, TxType.grant),
            (10, Direction.credit, TxType.grant),
            (10, Direction.debit, TxType.superlike),
        ):
            with pytest.raises(Conflict) as reused:
                await apply(db, payer, amount, direction, "ext:k", tx_type)
            assert reused.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
            assert reused.value.detail == "idempotency key reused for a different credit movement"
            assert reused.value.status_code == 409
        again = await apply(db, payer, 10, Direction.debit, "ext:k")
        assert again["_id"] == first["_id"]
        assert await balance_of(db, payer) == 90
        assert await db["credit_transactions"].count_documents({}) == 1


async def test_a_movement_is_stored_with_its_fields_pending_and_final() -> None:
    """A movement recorded by a request that died right after (pending) carries every field, with no
    balance yet and `updatedAt` its creation time; once a later runner decides it, `balanceAfter` is
    the balance it left and `updatedAt` the time it was decided - and no other field appeared."""
    async with database_client() as client, fresh_database(client) as db:
        payer = await add_user(db, Ctx(), "payer", credits=100)
        created_at = utcnow() - timedelta(minutes=10)
        decided_at = created_at + timedelta(minutes=3)
        near = timedelta(seconds=30)  # the shifted clock keeps running
        with shifted_clock(created_at):
            await crash_after(
                db,
                lambda sdb: apply(sdb, payer, 30, Direction.debit, "ext:p"),
                "credit_transactions",
                "insert_one",
            )
        pending = await db["credit_transactions"].find_one({"idempotencyKey": "ext:p"})
        assert pending is not None
        assert set(pending) == MOVEMENT_FIELDS, set(pending) ^ MOVEMENT_FIELDS
        assert pending["status"] == "pending"
        assert pending["balanceAfter"] is None
        assert pending["createdAt"] == pending["updatedAt"] == pending["occurredAt"]
        assert abs(pending["createdAt"] - created_at) < near

        with shifted_clock(decided_at):
            await CreditLedger(db).drive(cast(CreditMovement, pending))
        final = await db["credit_transactions"].find_one({"_id": pending["_id"]})
        assert final is not None
        assert set(final) == MOVEMENT_FIELDS, set(final) ^ MOVEMENT_FIELDS
        assert (final["status"], final["balanceAfter"]) == ("completed", 70)
        assert abs(final["updatedAt"] - decided_at) < near
        assert final["createdAt"] == final["occurredAt"] == pending["createdAt"]
        assert await balance_of(db, payer) == 70


async def test_a_final_read_older_than_the_decision_answers_the_stale_read_text() -> None:
    """A final read that still shows the movement pending (a lagging read) is a 503 whose text says
    why and that a retry with the same key is safe (`STALE_READ`), not the generic outage text."""

    class LaggingTransactions(CreditTransactionRepository):
        async def get(self, _id: ObjectId | str, *, include_deleted: bool = False) -> Any:
            current = await super().get(_id, include_deleted=include_deleted)
            return None if current is None else {**current, "status": "pending", "balanceAfter": None}

    async with database_client() as client, fresh_database(client) as db:
        payer = await add_user(db, Ctx(), "payer", credits=100)
        lagging = CreditLedger(db)
        lagging.transactions = LaggingTransactions(db)
        with pytest.raises(DatabaseUnavailable) as unavailable:
            await lagging.apply(
                payer, amount=30, direction=Direction.debit, type=TxType.grant, idempotency_key="ext:lag"
            )
        assert unavailable.value.detail == STALE_READ
        assert STALE_READ in unavailable.value.messages
