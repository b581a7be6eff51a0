"""Crowd-funding: a scheduled stream's pot (`pots.py`), paid out when the stream ends with its goal
reached, refunded when it is cancelled, deleted or expires, or ends below its goal (all or nothing)."""

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, cast

from bson import ObjectId

from app.core.errors import Forbidden
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.funding_repository import FundingRepository
from app.live_streams.pots import Pot, PotKind
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import LiveStreamStatus
from app.users.credits import TxType

NOT_FUNDABLE = "this stream is not open for funding"

Present = Callable[[LiveStreamDocument], Awaitable[dict[str, Any]]]


def is_fundable(stream: Mapping[str, Any]) -> bool:
    return (
        stream["status"] == LiveStreamStatus.scheduled
        and stream.get("deletedAt") is None
        and (stream.get("fundingGoal") or 0) > 0
    )


CROWD_FUNDING = PotKind(
    name="funding",
    counter="collectedFunding",
    payout_field="fundingPayout",
    debit=TxType.live_stream_funding,
    refund=TxType.live_stream_funding_refund,
    payout=TxType.live_stream_funding_payout,
    is_open=is_fundable,
    open_condition=lambda: {"status": LiveStreamStatus.scheduled.value},
    goal_field="fundingGoal",
)


class FundingService:
    def __init__(self, db: Any) -> None:
        self.fundings = FundingRepository(db)
        self.streams = LiveStreamRepository(db)
        self.pot = Pot(db, CROWD_FUNDING, self.fundings)

    async def fund(
        self,
        stream_id: ObjectId,
        funder_id: ObjectId,
        amount: int,
        idempotency_key: str | None,
        present: Present,
    ) -> dict[str, Any]:
        """Fund a stream; the answer is the presented stream. A retry with the same Idempotency-Key
        gets the stored first answer (or the same error)."""
        stream = await self.streams.get_or_404(stream_id)
        if stream["creatorId"] == funder_id:
            raise Forbidden("you cannot fund your own stream")
        request_hash = hashlib.sha256(f"{stream_id}:{amount}".encode()).hexdigest()

        async def present_counted(counted: dict[str, Any] | None) -> dict[str, Any]:
            # The stream as this funding left it (its own increment), like a synchronous write shows.
            return await present(cast(LiveStreamDocument, {**stream, **counted}) if counted else stream)

        return await self.pot.contribute(
            stream_id=stream_id,
            user_id=funder_id,
            amount=amount,
            key=idempotency_key,
            request_hash=request_hash,
            is_open=is_fundable(stream),
            not_open=NOT_FUNDABLE,
            present=present_counted,
        )

    async def refund_all(self, stream: LiveStreamDocument) -> int:
        return await self.pot.refund_all(stream)

    async def pay_out(self, stream: LiveStreamDocument) -> None:
        await self.pot.pay_out(stream)

    # pragma: no mutate start (not money: listing)
    async def funded_stream_ids(self, user_id: ObjectId, limit: int) -> list[ObjectId]:
        return await self.fundings.funded_stream_ids(user_id, limit)

    # pragma: no mutate end

    async def resume_stale(self, older_than: datetime, limit: int = 100) -> int:
        return await self.pot.resume_stale(older_than, limit)
