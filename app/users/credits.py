"""The credit ledger: one document per movement, applied to the balance exactly once.

A movement is a small state machine, `pending` → `completed` | `failed` (docs/money.md):

1. insert it `pending` under a unique (userId, idempotencyKey) - a retry finds the same movement;
2. decide it on the user's document with `app.core.once`: *applied* (the balance changes in the same
   write) or *failed* (a debit above the balance - the refusal is recorded atomically too, so two runs
   of one movement can never disagree);
3. mark the movement final from that decision, then forget the decision on the user.

Any number of runners (the request, a retry with the same key, a recovery pass) may drive the same
movement at once; each ends with the same answer and the balance moves once. A caller is told "paid"
only once the movement is `completed`.
"""

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, NotRequired, TypedDict, cast

import structlog
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.db import Database
from app.core.errors import (
    STALE_READ,
    Conflict,
    DatabaseUnavailable,
    ErrorCode,
    InsufficientCredits,
    NotFound,
    ValidationFailed,
)
from app.core.once import IN_FLIGHT, PRUNE_AFTER, HolderMissing, Rule
from app.core.repository import Repository
from app.core.sessions import causal
from app.core.timeutils import utcnow
from app.users.repository import UserRepository

log = structlog.get_logger("app.credits")


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
    live_stream_funding_payout = "live_stream_funding_payout"
    live_stream_entry = "live_stream_entry"
    live_stream_entry_refund = "live_stream_entry_refund"
    live_stream_entry_revenue = "live_stream_entry_revenue"
    mini_crowd_funding = "mini_crowd_funding"
    mini_crowd_funding_refund = "mini_crowd_funding_refund"
    mini_crowd_funding_payout = "mini_crowd_funding_payout"
    superlike = "superlike"
    superlike_revenue = "superlike_revenue"
    replay_rental = "replay_rental"
    replay_rental_refund = "replay_rental_refund"
    replay_rental_revenue = "replay_rental_revenue"


class CreditMovement(TypedDict):
    """A stored ledger movement (`credit_transactions`), as the ledger hands it to other modules."""

    _id: ObjectId
    userId: ObjectId
    type: str  # a TxType value
    direction: str  # a Direction value
    amount: int  # whole credits, > 0
    status: str  # a TxStatus value
    idempotencyKey: str
    reference: dict[str, Any] | None
    balanceAfter: int | None  # set when the movement is final
    occurredAt: datetime
    createdAt: datetime
    updatedAt: datetime
    voided: NotRequired[bool]  # a debit and its refund hidden from the history


def _visible(user_id: ObjectId) -> dict[str, Any]:
    """The movements a user's history shows: completed ones that are not half of a voided pair."""
    return {"userId": user_id, "status": TxStatus.completed.value, "voided": {"$ne": True}}


def _order(row: Mapping[str, Any]) -> tuple[datetime, ObjectId]:
    """The history's order: occurredAt, then _id."""
    return row["occurredAt"], row["_id"]


def signed(movement: Mapping[str, Any]) -> int:
    amount = int(movement["amount"])
    return amount if movement["direction"] == Direction.credit else -amount


class CreditTransactionRepository(Repository):
    collection_name = "credit_transactions"
    durable = True  # money: w:"majority", majority reads, primary (docs/decisions.md)
    required_indexes = ("idempotency",)  # a retried movement is applied once (docs/money.md)
    shard_key = (("userId", 1),)
    indexes = [
        IndexModel([("userId", ASCENDING), ("idempotencyKey", ASCENDING)], unique=True, name="idempotency"),
        IndexModel([("userId", ASCENDING), ("occurredAt", DESCENDING), ("_id", DESCENDING)], name="history"),
        IndexModel([("status", ASCENDING), ("createdAt", ASCENDING)], name="pending_scan"),
    ]

    async def history(
        self,
        user_id: ObjectId,
        *,
        types: list[TxType] | None,
        direction: Direction | None,
        date_from: datetime | None,
        date_to: datetime | None,
        descending: bool,
        skip: int,
        limit: int,
    ) -> tuple[list[CreditMovement], int]:
        """The user's completed movements (`history` index); voided pairs - a debit given straight back
        because its contribution was never counted - did not happen for the user and are left out."""
        query: dict[str, Any] = _visible(user_id)
        if types:
            query["type"] = {"$in": [t.value for t in types]}
        if direction:
            query["direction"] = direction.value
        if date_from or date_to:
            query["occurredAt"] = {
                **({"$gte": date_from} if date_from else {}),
                **({"$lte": date_to} if date_to else {}),
            }
        order = DESCENDING if descending else ASCENDING
        cursor = (
            self.collection.find(query).sort([("occurredAt", order), ("_id", order)]).skip(skip).limit(limit)
        )
        movements = cast(list[CreditMovement], await cursor.to_list())
        return movements, await self.page_total(query, skip, limit)

    async def net_newer_than(self, user_id: ObjectId, occurred_at: datetime) -> int:
        """Signed total of the visible movements that occurred after `occurred_at` (history index)."""
        cursor = await self.collection.aggregate(
            [
                {"$match": {**_visible(user_id), "occurredAt": {"$gt": occurred_at}}},
                {
                    "$group": {
                        "_id": None,
                        "net": {
                            "$sum": {
                                "$cond": [
                                    {"$eq": ["$direction", Direction.credit.value]},
                                    "$amount",
                                    {"$multiply": [-1, "$amount"]},
                                ]
                            }
                        },
                    }
                },
            ]
        )
        rows = await cursor.to_list()
        return int(rows[0]["net"]) if rows else 0

    async def visible_between(
        self, user_id: ObjectId, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """Every visible movement with `start <= occurredAt <= end`, whatever the page's filters."""
        fields = {"occurredAt": 1, "direction": 1, "amount": 1}
        query = {**_visible(user_id), "occurredAt": {"$gte": start, "$lte": end}}
        return await self.collection.find(query, fields).to_list()

    async def pending_among(self, user_id: ObjectId, tx_ids: list[ObjectId]) -> list[dict[str, Any]]:
        query = {"_id": {"$in": tx_ids}, "userId": user_id, "status": TxStatus.pending.value}
        return await self.collection.find(query, {"direction": 1, "amount": 1}).to_list()

    async def is_final(self, tx_id: ObjectId) -> bool:
        tx = await self.collection.find_one({"_id": tx_id}, {"status": 1})
        return tx is not None and tx["status"] != TxStatus.pending

    async def final_among(self, tx_ids: list[str]) -> set[str]:
        ids = [ObjectId(tx_id) for tx_id in tx_ids]
        docs = await self.collection.find(
            {"_id": {"$in": ids}, "status": {"$ne": TxStatus.pending.value}}, {"_id": 1}
        ).to_list()
        return {str(doc["_id"]) for doc in docs}

    async def finish(self, tx_id: ObjectId, status: TxStatus, balance: int | None) -> None:
        await self.collection.update_one(
            {"_id": tx_id, "status": TxStatus.pending.value},
            {"$set": {"status": status.value, "balanceAfter": balance, "updatedAt": utcnow()}},
        )

    async def void(self, user_id: ObjectId, keys: list[str]) -> None:
        await self.collection.update_many(
            {"userId": user_id, "idempotencyKey": {"$in": keys}}, {"$set": {"voided": True}}
        )

    async def stale_pending(self, older_than: datetime, limit: int) -> list[CreditMovement]:
        cursor = self.collection.find({"status": TxStatus.pending.value, "createdAt": {"$lte": older_than}})
        return cast(list[CreditMovement], await cursor.sort("createdAt", ASCENDING).limit(limit).to_list())


class CreditLedger:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.transactions = CreditTransactionRepository(db)
        self.users = UserRepository(db)

    async def apply(
        self,
        user_id: ObjectId,
        *,
        amount: int,
        direction: Direction,
        type: TxType,
        idempotency_key: str,
        reference: dict[str, Any] | None = None,
    ) -> CreditMovement:
        """Move `amount` credits once per (user, idempotency_key); returns the completed movement."""
        if amount <= 0:
            raise ValidationFailed("amount must be a positive integer")
        async with causal(self.db):
            tx = await self._start(user_id, amount, direction, type, idempotency_key, reference)
            return await self.drive(tx)

    async def drive(self, tx: CreditMovement) -> CreditMovement:
        """Run (or resume) one movement to its end; raises InsufficientCredits when it failed.

        In one causally consistent session (app.core.sessions): the final read sees the decision."""
        if tx["status"] == TxStatus.pending:
            async with causal(self.db):
                tx = await self._decide(tx)
        if tx["status"] == TxStatus.failed:
            raise InsufficientCredits()
        return tx

    async def _decide(self, tx: CreditMovement) -> CreditMovement:
        signed = tx["amount"] if tx["direction"] == Direction.credit else -tx["amount"]

        def rule(user: dict[str, Any]) -> Rule:
            credits = int(user.get("credits") or 0)
            if credits + signed < 0:
                return Rule(TxStatus.failed.value)
            return Rule(
                TxStatus.completed.value,
                condition={"credits": credits},
                effect={"$inc": {"credits": signed}},
                note={"balance": credits + signed},
            )

        try:
            decided = await self.users.decide_once(
                tx["userId"],
                tx["_id"],
                op_is_final=lambda: self.transactions.is_final(tx["_id"]),
                rule=rule,
                final_among=self.transactions.final_among,
                projection=("credits",),
            )
        except HolderMissing:
            await self.transactions.finish(tx["_id"], TxStatus.failed, None)
            raise NotFound("user not found") from None
        if decided.outcome is not None:
            await self.transactions.finish(tx["_id"], TxStatus(decided.outcome), decided.entry.get("balance"))
            await self.users.forget(tx["userId"], tx["_id"])
        final = await self.transactions.get(tx["_id"])
        if final is None or final["status"] == TxStatus.pending:  # older than our own writes
            raise DatabaseUnavailable(STALE_READ)
        return cast(CreditMovement, final)

    async def _start(
        self,
        user_id: ObjectId,
        amount: int,
        direction: Direction,
        tx_type: TxType,
        key: str,
        reference: dict[str, Any] | None,
    ) -> CreditMovement:
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
            raise Conflict(
                "idempotency key reused for a different credit movement",
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            )
        return cast(CreditMovement, existing)

    async def void(self, user_id: ObjectId, keys: list[str]) -> None:
        """Hide a debit and the refund that cancelled it from the history (a failed attempt, not a
        movement the user made); the balance is untouched - both movements stay in the ledger."""
        await self.transactions.void(user_id, keys)

    async def resume_stale(self, older_than: datetime, limit: int = 200) -> int:
        """Drive movements whose runner died midway (called by the reconcile loop)."""
        stale = await self.transactions.stale_pending(older_than, limit)
        for tx in stale:
            try:
                await self.drive(tx)
            except (InsufficientCredits, NotFound) as exc:  # decided (failed) or its user is gone: look
                log.warning(
                    "stale_movement_not_applied",
                    tx_id=str(tx["_id"]),
                    user_id=str(tx["userId"]),
                    reason=type(exc).__name__,
                )
        await self.users.sweep(older_than - PRUNE_AFTER, self.transactions.final_among, limit)
        return len(stale)

    async def balance(self, user_id: ObjectId) -> int:
        return await self.users.credits_of(user_id)

    async def with_balances(self, user_id: ObjectId, page: list[CreditMovement]) -> list[CreditMovement]:
        """The page's rows with `balanceAfter` recomputed over the *visible* chain (issue 26 item 8).

        The stored `balanceAfter` is the balance when the movement was decided: it counts the voided
        pairs the history hides, and movements decided in another order than they occurred. Read from
        the balance backwards instead: the newest visible row shows the balance (less the movements
        applied but not yet marked final, which are not shown yet) and each older row the next newer
        one's minus that row's amount, so every row equals the previous visible row ± its amount,
        whatever the page's filters and order.

        Its reads run in the caller's causally consistent session (or one of their own), so after a
        failover the chain is read no older than the page it completes (app.core.sessions)."""
        if not page:
            return page
        oldest, newest = min(page, key=_order), max(page, key=_order)
        async with causal(self.db):
            running = await self._settled_balance(user_id)
            running -= await self.transactions.net_newer_than(user_id, newest["occurredAt"])
            span = await self.transactions.visible_between(
                user_id, oldest["occurredAt"], newest["occurredAt"]
            )
        after: dict[ObjectId, int] = {}
        for row in sorted(span, key=_order, reverse=True):
            after[row["_id"]] = running
            running -= signed(row)
        return [cast(CreditMovement, {**row, "balanceAfter": after.get(row["_id"])}) for row in page]

    async def _settled_balance(self, user_id: ObjectId) -> int:
        """The balance less the movements decided on it whose ledger row is still pending."""
        user = await self.users.collection.find_one({"_id": user_id}, {"credits": 1, IN_FLIGHT: 1})
        if user is None:
            return 0
        applied = [
            ObjectId(op)
            for op, entry in (user.get(IN_FLIGHT) or {}).items()
            if entry.get("d") == TxStatus.completed.value and ObjectId.is_valid(op)
        ]
        in_flight = await self.transactions.pending_among(user_id, applied) if applied else []
        return int(user.get("credits") or 0) - sum(signed(tx) for tx in in_flight)
