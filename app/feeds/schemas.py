"""Feed shapes (docs/contract.md, "Shapes") and the query enums of the feed endpoints."""

from enum import StrEnum

from pydantic import BaseModel

from app.live_streams.schemas import LiveStream
from app.users.schemas import UserSummary

MAX_WINDOW_HOURS = 365 * 24
MAX_WINDOW_MINUTES = MAX_WINDOW_HOURS * 60


class CatchStreamer(BaseModel):
    creator: UserSummary
    activeLiveStream: LiveStream


class UpcomingLiveStream(LiveStream):
    isReminderActive: bool | None


class ForYouSection(StrEnum):
    live = "live"
    scheduled = "scheduled"
    crowdfunding = "crowdfunding"
