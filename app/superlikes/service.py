"""Superlikes: a viewer of an active stream sends 10 credits to its creator (shared with the guest of a
duo stream like replay revenue: solo 80 % creator; duo 40 % + 40 %; the platform keeps the rest).

A superlike is a transfer driven by idempotent steps (docs/money.md): insert it `pending` under a unique
(senderId, idempotencyKey) → debit the sender (`superlike:{id}`) → credit each payee
(`superlike-revenue:{id}:{payee}`) → `completed`. A crash between the steps leaves it `pending`; the
reconcile loop's recovery pass (`resume_stale`) finishes it, so credits taken are always passed on.
"""

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId

from app.core import events
from app.core.errors import Conflict, ErrorCode, Forbidden, InsufficientCredits
from app.core.timeutils import utcnow
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.pots import payout_shares
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import LiveStreamStatus, LiveStreamType
from app.superlikes.repository import SuperlikeRepository, SuperlikeStatus
from app.users.credits import CreditLedger, Direction, TxType
from app.users.repository import UserRepository

PRICE = 10
# Who may not send one: the bans domain answers "is this user banned from this stream?".
BanCheck = Callable[[ObjectId, ObjectId], Awaitable[bool]]


# pragma: no mutate start (not money: the sender's profile)
def sender_snapshot(user: Mapping[str, Any]) -> dict[str, Any]:
    photo = user.get("profilePhoto")
    return {
        "_id": user["_id"],
        "username": user["username"],
        "name": user.get("name", ""),
        "surname": user.get("surname", ""),
        "profilePhoto": photo.get("url") if isinstance(photo, dict) else photo,
    }


# pragma: no mutate end


def superlike_out(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "streamId": doc["liveStreamId"],
        "senderId": doc["senderId"],
        "senderSnapshot": doc["senderSnapshot"],
        "price": doc["price"],
        "timestamp": doc["createdAt"],
    }


class SuperlikeService:
    def __init__(self, db: Any, is_banned: BanCheck | None = None) -> None:
        self.superlikes = SuperlikeRepository(db)
        self.streams = LiveStreamRepository(db)
        self.users = UserRepository(db)
        self.ledger = CreditLedger(db)
        self.is_banned = is_banned

    async def send(
        self, stream_id: ObjectId, sender_id: ObjectId, idempotency_key: str | None
    ) -> dict[str, Any]:
        stream = await self.streams.get_or_404(stream_id)
        request_hash = hashlib.sha256(str(stream_id).encode()).hexdigest()
        existing = await self.superlikes.of_key(sender_id, idempotency_key) if idempotency_key else None
        first_run = existing is None
        if existing is None:
            # Every refusal is answered before anything is written.
            if stream["creatorId"] == sender_id:
                raise Forbidden("you cannot superlike your own stream")
            if self.is_banned is not None and await self.is_banned(stream_id, sender_id):
                raise Forbidden("you are banned from this stream's chat", code=ErrorCode.BANNED)
            if stream["status"] != LiveStreamStatus.active:
                raise Conflict(
                    f"the stream is {stream['status']}; superlikes need an active stream",
                    code=ErrorCode.INVALID_STREAM_STATE,
                )
            if await self.ledger.balance(sender_id) < PRICE:
                raise InsufficientCredits()
            existing = await self._start(stream, sender_id, idempotency_key, request_hash)
        if existing["requestHash"] != request_hash:
            raise Conflict(
                "Idempotency-Key was already used with a different request",
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            )
        superlike = await self.drive(existing)
        if superlike["status"] != SuperlikeStatus.completed:
            raise InsufficientCredits()
        answer = superlike_out(superlike)
        if first_run:  # a retry with the same key is not a second superlike on the stream's screen
            events.emit(events.STREAM_SUPERLIKE, answer)
        return answer

    async def _start(
        self, stream: LiveStreamDocument, sender_id: ObjectId, key: str | None, request_hash: str
    ) -> dict[str, Any]:
        sender = await self.users.get_or_404(sender_id)
        guest_ids = stream.get("guestIds") or []
        has_guest = stream["liveStreamType"] != LiveStreamType.solo and bool(guest_ids)
        now = utcnow()
        superlike, _ = await self.superlikes.start(
            {
                "liveStreamId": stream["_id"],
                "senderId": sender_id,
                "senderSnapshot": sender_snapshot(sender),
                "price": PRICE,
                "payees": {"creator": stream["creatorId"], "guest": guest_ids[0] if has_guest else None},
                "shares": payout_shares(PRICE, stream["liveStreamType"], has_guest),
                "idempotencyKey": key or f"auto:{uuid.uuid4().hex}",
                "requestHash": request_hash,
                "status": SuperlikeStatus.pending.value,
                "createdAt": now,
                "updatedAt": now,
            }
        )
        return superlike

    async def drive(self, superlike: dict[str, Any]) -> dict[str, Any]:
        """Run (or resume) a superlike's steps; every step is a no-op the second time."""
        if superlike["status"] != SuperlikeStatus.pending:
            return superlike
        reference = {"kind": "liveStream", "id": str(superlike["liveStreamId"])}
        try:
            await self.ledger.apply(
                superlike["senderId"],
                amount=superlike["price"],
                direction=Direction.debit,
                type=TxType.superlike,
                idempotency_key=f"superlike:{superlike['_id']}",
                reference=reference,
            )
        except InsufficientCredits:
            return await self.superlikes.finish(superlike["_id"], SuperlikeStatus.rejected) or superlike
        for payee, user_id in superlike["payees"].items():
            if user_id is None or superlike["shares"][payee] <= 0:
                continue
            await self.ledger.apply(
                user_id,
                amount=superlike["shares"][payee],
                direction=Direction.credit,
                type=TxType.superlike_revenue,
                idempotency_key=f"superlike-revenue:{superlike['_id']}:{payee}",
                reference=reference,
            )
        return await self.superlikes.finish(superlike["_id"], SuperlikeStatus.completed) or superlike

    async def resume_stale(self, older_than: datetime, limit: int = 100) -> int:
        """Finish superlikes whose request died midway (called by the reconcile loop)."""
        stale = await self.superlikes.stale_pending(older_than, limit)
        for superlike in stale:
            await self.drive(superlike)
        return len(stale)
