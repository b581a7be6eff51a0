"""Cross-domain orchestration: what a stream's state change sets off in other domains.

The stream domain records follow-ups (`app.live_streams.follow_ups`) in the same write as a cancel,
delete, expiry or end; this module is the one place that says who does each of them, so no domain has
to import the domains that react to it (live streams never import replays or creators).
"""

from datetime import datetime
from typing import Any

from app.core.once import PRUNE_AFTER
from app.core.timeutils import utcnow
from app.creators.service import RankingService
from app.live_streams.entries import EntryService
from app.live_streams.follow_ups import FollowUp, FollowUpRunner
from app.live_streams.funding import FundingService
from app.live_streams.participant_repository import ParticipantRepository
from app.live_streams.reconcile import Reconciler
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.streaming import StreamingGateway
from app.replays.settlement import RentalSettlement
from app.superlikes.service import SuperlikeService
from app.users.credits import CreditLedger


def follow_up_runner(db: Any) -> FollowUpRunner:
    fundings = FundingService(db)
    entries = EntryService(db)
    rentals = RentalSettlement(db)
    participants = ParticipantRepository(db)
    rankings = RankingService(db)

    async def refund_rentals(stream: dict[str, Any]) -> None:
        await rentals.refund_deleted_stream(stream, utcnow())

    async def close_participants(stream: dict[str, Any]) -> None:
        await participants.close_all(stream["_id"])

    async def forget_viewers(stream: dict[str, Any]) -> None:
        await rankings.forget_stream(stream["_id"])

    return FollowUpRunner(
        LiveStreamRepository(db),
        {
            FollowUp.refund_fundings: fundings.refund_all,
            FollowUp.payout_fundings: fundings.pay_out,
            FollowUp.payout_entries: entries.pay_out,
            FollowUp.refund_rentals: refund_rentals,
            FollowUp.close_participants: close_participants,
            FollowUp.forget_viewers: forget_viewers,
        },
    )


def reconciler(db: Any, gateway: StreamingGateway) -> Reconciler:
    """The reconcile pass with every recovery step: AIOZ sessions, expiry, follow-ups, and the ledger
    movements and fundings that a crashed request left pending."""
    fundings, entries = FundingService(db), EntryService(db)

    async def sweep_streams(older_than: datetime) -> None:
        async def final_among(ids: list[str]) -> set[str]:
            return {*await fundings.fundings.final_among(ids), *await entries.entries.final_among(ids)}

        await LiveStreamRepository(db).sweep(older_than - PRUNE_AFTER, final_among)

    return Reconciler(
        db,
        gateway,
        follow_up_runner(db),
        recovery=(
            CreditLedger(db).resume_stale,
            fundings.resume_stale,
            entries.resume_stale,
            SuperlikeService(db).resume_stale,
            sweep_streams,
        ),
    )
