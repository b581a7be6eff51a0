"""Live-stream API shapes (spec §3). The pydantic models document the OpenAPI; answers are built
as plain dicts by `presenter.py` in exactly this field order."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.agora.tokens import AgoraRole
from app.core.pagination import Pagination
from app.core.types import ObjectIdStr
from app.users.schemas import ProfilePhoto, UserSummary


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
    price: float | None
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
    miniCrowdFundings: list[dict]


class FundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: int = Field(strict=True, gt=0, le=1_000_000_000, description="Credits, a positive integer.")


DeviceText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]


class JoinIn(BaseModel):
    liveStreamId: ObjectIdStr
    deviceType: DeviceText | None = Field(default=None, examples=["iOS"])
    deviceModel: DeviceText | None = None
    osVersion: DeviceText | None = None
    appVersion: DeviceText | None = Field(default=None, examples=["1.4.2"])
    ipAddress: DeviceText | None = None
    country: DeviceText | None = Field(default=None, examples=["Turkey"])
    role: Role | None = Field(default=None, description="Only `audience` is accepted here.")


class JoinAsIn(BaseModel):
    liveStreamId: ObjectIdStr


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


class MostWatchedCreator(BaseModel):
    id: str = Field(alias="_id")
    username: str
    name: str
    surname: str
    availabilityStatus: str
    profilePhoto: ProfilePhoto | None
    expertise: str | None
    isFollowing: bool | None


class GuestStreamSort(StrEnum):
    createdAt = "createdAt"
    updatedAt = "updatedAt"
    startedAt = "startedAt"
    plannedStartDate = "plannedStartDate"
    endedAt = "endedAt"
    durationGoal = "durationGoal"
    fundingGoal = "fundingGoal"
