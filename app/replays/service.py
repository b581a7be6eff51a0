"""Replay rules (docs/contract.md): settings, the caller's access, renting for 24 h, the caller's rentals."""

import uuid
from datetime import datetime
from typing import Any

from bson import ObjectId

from app.core.db import Database
from app.core.errors import Conflict, ErrorCode, Forbidden, InsufficientCredits, NotFound, ValidationFailed
from app.core.pagination import PageParams
from app.core.security import AuthenticatedUser
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.presenter import LiveStreamPresenter
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import LiveStreamType
from app.replays.access import is_member, is_rentable, replay_access
from app.replays.repository import RentalState, ReplayRentalRepository, rental_is_active
from app.replays.schemas import rental_out
from app.replays.settlement import RentalSettlement
from app.users.credits import CreditLedger


class ReplayService:
    def __init__(self, db: Database, presenter: LiveStreamPresenter) -> None:
        self.streams = LiveStreamRepository(db)
        self.rentals = ReplayRentalRepository(db)
        self.settlement = RentalSettlement(db)
        self.ledger = CreditLedger(db)
        self.presenter = presenter

    async def update_settings(
        self, stream_id: ObjectId, caller: AuthenticatedUser, changes: dict[str, Any]
    ) -> dict[str, Any]:
        stream = await self.streams.get_or_404(stream_id)
        if stream["creatorId"] != caller.id:
            raise Forbidden("only the creator can change replay settings")
        if not changes:
            raise ValidationFailed("send isActiveReplayOnCreatorProfile and/or replayCreditPrice")
        updated = await self.streams.set_replay_settings(stream_id, changes)
        if updated is None:
            raise NotFound()  # deleted meanwhile
        return await self.presenter.one(updated, caller)

    async def access(self, stream_id: ObjectId, caller: AuthenticatedUser, now: datetime) -> dict[str, Any]:
        stream = await self.streams.get_or_404(stream_id)
        rental = await self.rentals.find_of(caller.id, stream_id)
        return replay_access(stream, caller.id, rental, now)

    async def rent(
        self, stream_id: ObjectId, caller: AuthenticatedUser, idempotency_key: str | None, now: datetime
    ) -> dict[str, Any]:
        """Rent for 24 h: one causally consistent session (app.core.sessions), so every read of the
        sequence sees its own writes, also across an election."""
        async with self.rentals.causal():
            return await self._rent(stream_id, caller, idempotency_key, now)

    async def _rent(
        self, stream_id: ObjectId, caller: AuthenticatedUser, idempotency_key: str | None, now: datetime
    ) -> dict[str, Any]:
        stream = await self.streams.get_or_404(stream_id)
        if is_member(stream, caller.id):
            raise Forbidden("the creator, guests and broadcasters watch this replay for free")
        rental = await self.rentals.find_of(caller.id, stream_id)
        if rental and idempotency_key and rental.get("idempotencyKey") == idempotency_key:
            if rental["status"] == RentalState.pending:  # a retry of a request that did not finish
                rental = await self.settlement.complete(rental, now)
            return await self._answer(rental, stream, caller, now)
        if rental_is_active(rental, now):
            raise Conflict("you already rent this replay")
        if rental and rental["status"] == RentalState.pending:
            raise Conflict("a rental of this replay is in progress", code=ErrorCode.REQUEST_IN_PROGRESS)
        if not is_rentable(stream):
            raise Conflict("this replay cannot be rented", code=ErrorCode.INVALID_STREAM_STATE)
        price = int(stream.get("replayCreditPrice") or 0)  # set: is_rentable
        if await self.ledger.balance(caller.id) < price:
            raise InsufficientCredits()  # checked first, so a plain shortfall writes no movement
        if rental and rental["status"] == RentalState.active:  # its window closed: pay it out first
            await self.settlement.settle_expired(rental, now)
            rental = await self.rentals.get(rental["_id"])
        claimed = await self._claim(rental, stream, caller.id, price, idempotency_key, now)
        if claimed is None:
            raise Conflict("a rental of this replay is in progress", code=ErrorCode.REQUEST_IN_PROGRESS)
        return await self._answer(await self.settlement.complete(claimed, now), stream, caller, now)

    async def list_mine(self, caller: AuthenticatedUser, page: PageParams, now: datetime) -> dict[str, Any]:
        rentals, total = await self.rentals.page_of_user(caller.id, page.skip, page.limit)
        streams = await self.streams.get_many([r["liveStreamId"] for r in rentals])
        shown = [r for r in rentals if r["liveStreamId"] in streams]
        presented = await self.presenter.many([streams[r["liveStreamId"]] for r in shown], caller)
        items = [rental_out(r, item, now) for r, item in zip(shown, presented, strict=True)]
        return page.page_of(items, total)

    async def _claim(
        self,
        rental: dict[str, Any] | None,
        stream: LiveStreamDocument,
        user_id: ObjectId,
        price: int,
        idempotency_key: str | None,
        now: datetime,
    ) -> dict[str, Any] | None:
        guest_ids = stream.get("guestIds") or []
        shares_with_guest = stream["liveStreamType"] != LiveStreamType.solo and guest_ids
        period = {
            "status": RentalState.pending.value,
            "price": price,
            "idempotencyKey": idempotency_key or f"auto:{uuid.uuid4().hex}",
            "creatorId": stream["creatorId"],
            "guestId": guest_ids[0] if shares_with_guest else None,
            "liveStreamType": stream["liveStreamType"],
            "settlement": None,
            "settledAt": None,
            "response": None,
        }
        if rental is None:
            return await self.rentals.open(
                {
                    **period,
                    "userId": user_id,
                    "liveStreamId": stream["_id"],
                    "rentalNumber": 1,
                    "previous": None,
                    "rentedAt": None,
                    "expiresAt": None,
                    "streamDeletedAt": None,
                    "createdAt": now,
                    "updatedAt": now,
                }
            )
        return await self.rentals.reopen(rental, period)

    async def _answer(
        self, rental: dict[str, Any], stream: LiveStreamDocument, caller: AuthenticatedUser, now: datetime
    ) -> dict[str, Any]:
        """The period's first answer, stored: a retry with the same Idempotency-Key gets it as it was."""
        if rental.get("response") is not None:
            stored: dict[str, Any] = rental["response"]
            return stored
        return await self.rentals.store_answer(rental, await self._view(rental, stream, caller, now))

    async def _view(
        self, rental: dict[str, Any], stream: LiveStreamDocument, caller: AuthenticatedUser, now: datetime
    ) -> dict[str, Any]:
        return rental_out(rental, await self.presenter.one(stream, caller), now)
