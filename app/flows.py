"""Cross-domain orchestration: what a stream's state change sets off in other domains.

The stream domain records follow-ups (`app.live_streams.follow_ups`) in the same write as a cancel,
delete, expiry or end; this module is the one place that says who does each of them, so no domain has
to import the domains that react to it (live streams never import replays or creators).
"""

from datetime import datetime
from typing import Any

from bson import ObjectId

from app.bans.service import BanEnforcer, BanGate
from app.core.config import Settings
from app.core.once import PRUNE_AFTER
from app.core.timeutils import utcnow
from app.creators.service import RankingService
from app.live_streams.audience import JoinHooks
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.entries import EntryService
from app.live_streams.follow_ups import FollowUp, FollowUpRunner
from app.live_streams.funding import FundingService
from app.live_streams.mini_crowd_fundings import MiniCrowdFundingService
from app.live_streams.participant_repository import ParticipantRepository
from app.live_streams.presenter import LiveStreamPresenter
from app.live_streams.reconcile import STALE_AFTER, Reconciler
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import Role
from app.live_streams.streaming import StreamingGateway
from app.participants.service import PeakTracker
from app.reminders.scheduler import ReminderScheduler
from app.replays.access import ReplayAccessPolicy
from app.replays.settlement import RentalSettlement
from app.superlikes.service import SuperlikeService
from app.users.credits import CreditLedger


def stream_presenter(db: Any, settings: Settings) -> LiveStreamPresenter:
    """Stream answers with the replays domain's access policy (live streams never import replays)."""
    return LiveStreamPresenter(db, settings.public_base_url, ReplayAccessPolicy(db))


def viewer_log(db: Any) -> RankingService:
    """Audience joins feed the creators' viewer rollup (live streams never import creators)."""
    return RankingService(db)


def follow_up_runner(db: Any) -> FollowUpRunner:
    fundings = FundingService(db)
    entries = EntryService(db)
    minis = MiniCrowdFundingService(db)
    rentals = RentalSettlement(db)
    participants = ParticipantRepository(db)
    rankings = RankingService(db)

    async def refund_rentals(stream: LiveStreamDocument) -> None:
        await rentals.refund_deleted_stream(stream, utcnow())

    async def close_participants(stream: LiveStreamDocument) -> None:
        await participants.close_all(stream["_id"])

    async def forget_viewers(stream: LiveStreamDocument) -> None:
        await rankings.forget_stream(stream["_id"])

    return FollowUpRunner(
        LiveStreamRepository(db),
        {
            FollowUp.refund_fundings: fundings.refund_all,
            FollowUp.payout_fundings: fundings.pay_out,
            FollowUp.payout_entries: entries.pay_out,
            FollowUp.settle_mini_fundings: minis.settle_stream,
            FollowUp.refund_rentals: refund_rentals,
            FollowUp.close_participants: close_participants,
            FollowUp.forget_viewers: forget_viewers,
            FollowUp.settle_reminders: ReminderScheduler(db).settle_stream,
        },
    )


class _JoinHooks:
    """Bans refuse joins (a BLOCK ban: 403, present participation closed); participant statistics
    record the audience peak after each join."""

    def __init__(self, db: Any) -> None:
        self.bans = BanGate(db)
        self.peaks = PeakTracker(db)

    async def admit(self, stream: LiveStreamDocument, user_id: ObjectId, role: Role) -> None:
        await self.bans.admit(stream, user_id, role)

    async def joined(self, stream: LiveStreamDocument, user_id: ObjectId, role: Role) -> None:
        await self.peaks.joined(stream, user_id, role)


def join_hooks(db: Any) -> JoinHooks:
    return _JoinHooks(db)


def reconciler(db: Any, gateway: StreamingGateway) -> Reconciler:
    """The reconcile pass with every recovery step: AIOZ sessions, expiry, follow-ups, and the ledger
    movements and fundings that a crashed request left pending."""
    fundings, entries, minis = FundingService(db), EntryService(db), MiniCrowdFundingService(db)

    async def sweep_holders(older_than: datetime) -> None:
        """Entries a crash left in holders' opInFlight (app.core.once): streams hold fundings and paid
        entries, mini crowd-fundings their contributions."""

        async def final_on_streams(ids: list[str]) -> set[str]:
            return {*await fundings.fundings.final_among(ids), *await entries.entries.final_among(ids)}

        await LiveStreamRepository(db).sweep(older_than - PRUNE_AFTER, final_on_streams)
        await minis.minis.sweep(older_than - PRUNE_AFTER, minis.contributions.final_among)

    async def settle_due_minis(older_than: datetime) -> None:
        await minis.settle_due(older_than + STALE_AFTER)

    return Reconciler(
        db,
        gateway,
        follow_up_runner(db),
        recovery=(
            CreditLedger(db).resume_stale,
            fundings.resume_stale,
            entries.resume_stale,
            SuperlikeService(db).resume_stale,
            minis.resume_stale,
            settle_due_minis,
            sweep_holders,
            BanEnforcer(db).close_joins_due,
        ),
    )
