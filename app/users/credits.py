"""The credit ledger: one document per movement, applied to the balance exactly once.

MongoDB transactions are unavailable on the embedded engine (and need a replica set), so a movement is
a small idempotent state machine instead (docs/decisions.md, "money"):

1. insert the movement as `pending` under a unique (userId, idempotencyKey);
2. apply it to the balance with one conditional update that also records the movement id in the
   user's bounded `appliedTxs` list: `{credits >= amount (debits), appliedTxs != id}`;
3. mark it `completed` (or `failed` when a debit found too few credits).

Calling `apply` again with the same key resumes a pending movement or returns the finished one, so a
crashed request or a retried one never loses or doubles credits.
"""

from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.repository import Repository
from app.core.timeutils import utcnow

APPLIED_TX_MEMORY = 64  # enough for every movement that can be in flight for one user at once


class Direction(StrEnum):
    credit = "credit"
    debit = "debit"


class TxStatus(StrEnum):
    pending = "pending"
    completed = "completed"
    failed = "failed"


class TxType(StrEnum):
    grant = "grant"
    live_stream_funding = "live_stream_funding"
    live_stream_funding_refund = "live_stream_funding_refund"
    replay_rental = "replay_rental"
    replay_rental_refund = "replay_rental_refund"
    replay_rental_revenue = "replay_rental_revenue"


class InsufficientCredits(ValidationFailed):
    def __init__(self) -> None:
        super().__init__("Insufficient credits")


class CreditTransactionRepository(Repository):
    collection_name = "credit_transactions"
    indexes = [
        IndexModel([("userId", ASCENDING), ("idempotencyKey", ASCENDING)], unique=True, name="idempotency"),
        IndexModel([("userId", ASCENDING), ("occurredAt", DESCENDING), ("_id", DESCENDING)], name="history"),
        IndexModel([("status", ASCENDING), ("createdAt", ASCENDING)], name="pending_scan"),
    ]

    async def page(
        self, query: dict[str, Any], *, descending: bool, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        order = DESCENDING if descending else ASCENDING
        cursor = (
            self.collection.find(query).sort([("occurredAt", order), ("_id", order)]).skip(skip).limit(limit)
        )
        return await cursor.to_list(), await self.collection.count_documents(query)


class CreditLedger:
    def __init__(self, db: Any) -> None:
        self.transactions = CreditTransactionRepository(db)
        self.users = db["users"]

    async def apply(
        self,
        user_id: ObjectId,
        *,
        amount: int,
        direction: Direction,
        type: TxType,
        idempotency_key: str,
        reference: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Move `amount` credits once per (user, idempotency_key); returns the completed movement."""
        if amount <= 0:
            raise ValidationFailed("amount must be a positive integer")
        tx = await self._start(user_id, amount, direction, type, idempotency_key, reference)
        if tx["status"] == TxStatus.completed:
            return tx
        if tx["status"] == TxStatus.failed:
            raise InsufficientCredits()
        return await self._apply_pending(tx)

    async def _start(
        self,
        user_id: ObjectId,
        amount: int,
        direction: Direction,
        tx_type: TxType,
        key: str,
        reference: dict[str, Any] | None,
    ) -> dict[str, Any]:
        now = utcnow()
        doc = {
            "userId": user_id,
            "type": tx_type.value,
            "direction": direction.value,
            "amount": amount,
            "status": TxStatus.pending.value,
            "idempotencyKey": key,
            "reference": reference,
            "balanceAfter": None,
            "occurredAt": now,
            "createdAt": now,
            "updatedAt": now,
        }
        existing, created = await self.transactions.insert_or_existing(doc, ("userId", "idempotencyKey"))
        if not created and (existing["amount"], existing["direction"], existing["type"]) != (
            amount,
            direction,
            tx_type,
        ):
            raise Conflict("idempotency key reused for a different credit movement")
        return existing

    async def _apply_pending(self, tx: dict[str, Any]) -> dict[str, Any]:
        signed = tx["amount"] if tx["direction"] == Direction.credit else -tx["amount"]
        query: dict[str, Any] = {"_id": tx["userId"], "appliedTxs": {"$ne": tx["_id"]}}
        if signed < 0:
            query["credits"] = {"$gte": -signed}
        user = await self.users.find_one_and_update(
            query,
            {
                "$inc": {"credits": signed},
                "$push": {"appliedTxs": {"$each": [tx["_id"]], "$slice": -APPLIED_TX_MEMORY}},
            },
            projection={"credits": 1},
            return_document=ReturnDocument.AFTER,
        )
        if user is None:
            current = await self.users.find_one({"_id": tx["userId"]}, {"credits": 1, "appliedTxs": 1})
            if current is None:
                await self._finish(tx, TxStatus.failed, None)
                raise NotFound("user not found")
            if tx["_id"] not in current.get("appliedTxs", []):
                await self._finish(tx, TxStatus.failed, None)
                raise InsufficientCredits()
            user = current  # an earlier attempt already applied it
        return await self._finish(tx, TxStatus.completed, user["credits"])

    async def _finish(self, tx: dict[str, Any], status: TxStatus, balance: int | None) -> dict[str, Any]:
        updated = await self.transactions.collection.find_one_and_update(
            {"_id": tx["_id"], "status": TxStatus.pending.value},
            {"$set": {"status": status.value, "balanceAfter": balance, "updatedAt": utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
        return updated or await self.transactions.collection.find_one({"_id": tx["_id"]})

    async def balance(self, user_id: ObjectId) -> int:
        doc = await self.users.find_one({"_id": user_id}, {"credits": 1})
        return int(doc["credits"]) if doc else 0
