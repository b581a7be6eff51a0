"""Every repository of the app, listed explicitly: the index migration brings their declared indexes.

`app/core` knows no domain, so the list lives here and is handed to `app.core.migrations`. A new
repository must be added here; `tests/test_core_indexes.py` fails when one is missing.
"""

from typing import Any

from app.bans.repository import BanRepository
from app.chat.repository import ChatMessageRepository, ChatRateWindowRepository
from app.core.leases import JobRunRepository, LeaseRepository
from app.core.repository import Repository
from app.creators.ranking_repository import RankingSnapshotRepository
from app.creators.viewer_repository import CreatorViewerCountRepository, CreatorViewerRepository
from app.feeds.repository import FeedRepository, FeedSnapshotRepository
from app.live_streams.entries import EntryRepository
from app.live_streams.funding_repository import FundingRepository
from app.live_streams.mini_crowd_fundings import MiniContributionRepository, MiniCrowdFundingRepository
from app.live_streams.participant_repository import ParticipantRepository
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.streaming import AiozKeyRepository
from app.participants.repository import AudiencePeakRepository
from app.reminders.repository import ReminderRepository
from app.replays.repository import ReplayRentalRepository
from app.superlikes.repository import SuperlikeRepository
from app.users.credits import CreditTransactionRepository
from app.users.repository import FollowRepository, UserRepository

REPOSITORIES: tuple[type[Repository[Any]], ...] = (
    UserRepository,
    FollowRepository,
    CreditTransactionRepository,
    LiveStreamRepository,
    FeedRepository,
    FeedSnapshotRepository,
    FundingRepository,
    EntryRepository,
    MiniCrowdFundingRepository,
    MiniContributionRepository,
    ParticipantRepository,
    AudiencePeakRepository,
    AiozKeyRepository,
    CreatorViewerRepository,
    CreatorViewerCountRepository,
    RankingSnapshotRepository,
    ReminderRepository,
    ReplayRentalRepository,
    SuperlikeRepository,
    ChatMessageRepository,
    ChatRateWindowRepository,
    BanRepository,
    LeaseRepository,
    JobRunRepository,
)
