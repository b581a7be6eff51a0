"""Live-stream API shapes (docs/contract.md). The pydantic models document the OpenAPI; answers are built
as plain dicts by `presenter.py` in exactly this field order."""

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.agora.tokens import AgoraRole
from app.core.pagination import Pagination
from app.core.text import TextRule, checked
from app.core.types import ObjectIdStr
from app.users.schemas import ProfilePhoto, UserSummary

# AIOZ refuses stream titles over 255 UTF-8 bytes (every `start` would then answer 502).
TITLE_MAX_BYTES = 255

# Free text from users under the one text policy (app/core/text.py): one line (titles, interests,
# device fields) or several (motivation); trimmed, checked. Blank titles are refused by the route
# ("title must not be blank").
STREAM_TITLE = TextRule(max_chars=150, max_bytes=TITLE_MAX_BYTES, required=False)
INTEREST = TextRule(max_chars=50, required=False)
MOTIVATION = TextRule(max_chars=2000, multiline=True, required=False)
MINI_CROWD_FUNDING_TITLE = TextRule(max_chars=100)
DEVICE_TEXT = TextRule(max_chars=100, required=False)

StreamTitle = Annotated[str, checked(STREAM_TITLE)]
Interest = Annotated[str, checked(INTEREST)]
Motivation = Annotated[str, checked(MOTIVATION)]


def example_start_date() -> str:
    """A `plannedStartDate` example that is valid when tried: a week from now, on the hour."""
    start = (datetime.now(UTC) + timedelta(days=7)).replace(minute=0, second=0, microsecond=0)
    return start.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class LiveStreamStatus(StrEnum):
    active = "active"
    ended = "ended"
    scheduled = "scheduled"
    preparing = "preparing"
    expired = "expired"
    cancelled_by_host = "cancelled_by_host"
    cancelled_by_guest = "cancelled_by_guest"


STARTABLE = (LiveStreamStatus.scheduled, LiveStreamStatus.preparing)
CANCELLED = (LiveStreamStatus.cancelled_by_host, LiveStreamStatus.cancelled_by_guest)


class LiveStreamType(StrEnum):
    solo = "solo"
    duocrowd = "duocrowd"
    duoself = "duoself"


class AccessType(StrEnum):
    free = "free"
    paid = "paid"


class Role(StrEnum):
    host = "host"
    guest = "guest"
    audience = "audience"


class ReplayStatus(StrEnum):
    owner = "owner"
    rented = "rented"
    available = "available"
    expired = "expired"
    unavailable = "unavailable"


class ReplayAccess(BaseModel):
    status: ReplayStatus
    canRent: bool
    canViewRecording: bool
    price: float | None
    rentedAt: datetime | None
    expiresAt: datetime | None
    remainingSeconds: int | None


class Broadcaster(BaseModel):
    user: str
    role: Role
    uid: int
    userSummary: UserSummary | None


class MiniCrowdFunding(BaseModel):
    """A small goal opened by the creator during an active stream (docs/money.md)."""

    id: str = Field(alias="_id", examples=["64d15f9e2e6c8f4d5a123456"])
    title: str = Field(examples=["30 more minutes"])
    goal: int = Field(examples=[500], description="Credits.")
    collected: int = Field(examples=[120], description="Credits collected so far.")
    percentage: float = Field(examples=[24.0])
    status: str = Field(examples=["open"], description="open, closed (being settled), paid or refunded.")
    deadline: datetime


class LiveStream(BaseModel):
    id: str = Field(examples=["64d15f9e2e6c8f4d5a123456"])
    title: str
    liveStreamType: LiveStreamType
    channelName: str = Field(examples=["yeni-urun-tanitimi-1a2b"])
    broadcasters: list[Broadcaster]
    guests: list[UserSummary]
    creator: UserSummary
    thumbnailUrl: str
    recording: bool
    recordingUrl: str | None
    replayAccess: ReplayAccess
    status: LiveStreamStatus
    accessType: AccessType
    price: float | None = Field(
        description="Entry price in credits as the creator set it (e.g. `9.99`); a viewer is charged it "
        "once, rounded up to whole credits."
    )
    interest: str | None
    durationGoal: int | None
    motivation: str | None
    isActiveReplayOnCreatorProfile: bool | None
    replayCreditPrice: float | None
    startedAt: datetime | None
    plannedStartDate: datetime | None
    endedAt: datetime | None
    plannedEndDate: datetime | None
    createdAt: datetime
    updatedAt: datetime
    fundingGoal: int | None
    collectedFunding: int
    fundingPercentage: float
    role: Role | None
    miniCrowdFundings: list[MiniCrowdFunding]


class MiniCrowdFundingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, checked(MINI_CROWD_FUNDING_TITLE)] = Field(
        description="One line, 1–100 characters after trimming.", examples=["30 more minutes"]
    )
    goal: int = Field(strict=True, gt=0, le=1_000_000_000, description="Credits.", examples=[500])
    durationMinutes: int = Field(
        default=30, strict=True, ge=1, le=240, description="Open for this long (or until the stream ends)."
    )


class FundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: int = Field(
        strict=True, gt=0, le=1_000_000_000, description="Credits, a positive integer.", examples=[10]
    )


DeviceText = Annotated[str, checked(DEVICE_TEXT)]


class JoinIn(BaseModel):
    liveStreamId: ObjectIdStr = Field(
        description="`id` of an active stream, e.g. from `GET /api/v1/live-stream/featured`."
    )
    deviceType: DeviceText | None = Field(default=None, examples=["iOS"])
    deviceModel: DeviceText | None = None
    osVersion: DeviceText | None = None
    appVersion: DeviceText | None = Field(default=None, examples=["1.4.2"])
    ipAddress: DeviceText | None = None
    country: DeviceText | None = Field(default=None, examples=["Turkey"])
    role: Role | None = Field(
        default=None, description="Only `audience` is accepted here.", examples=["audience"]
    )


class JoinAsIn(BaseModel):
    liveStreamId: ObjectIdStr = Field(description="`id` of the stream (yours, or one you are invited to).")


class Ingest(BaseModel):
    """Where the creator's encoder publishes (OBS: Server = rtmpUrl, Stream Key = streamKey)."""

    rtmpUrl: str
    streamKey: str
    publishUrl: str
    playbackHlsUrl: str | None


class JoinResult(BaseModel):
    liveStream: LiveStream
    appId: str
    channelName: str
    uid: int
    role: AgoraRole
    token: str
    expiresAt: datetime
    isDevToken: bool
    ingest: Ingest | None = Field(
        default=None, description="Only in join-as-creator, once the stream started."
    )


class LeaveResult(BaseModel):
    streamId: str
    leftAt: datetime
    watchTimeSeconds: int


class Viewer(BaseModel):
    id: str = Field(alias="_id")
    username: str
    name: str
    surname: str
    profilePhoto: ProfilePhoto | None
    followersCount: int
    followingCount: int
    expertise: str | None
    isFollowing: bool
    joinedAt: datetime


class ViewersPage(BaseModel):
    list: list[Viewer]
    pagination: Pagination
    participantAudienceTotal: int


class ViewerCount(BaseModel):
    streamId: str
    viewerCount: int


class GuestStreamSort(StrEnum):
    createdAt = "createdAt"
    updatedAt = "updatedAt"
    startedAt = "startedAt"
    plannedStartDate = "plannedStartDate"
    endedAt = "endedAt"
    durationGoal = "durationGoal"
    fundingGoal = "fundingGoal"
