"""The stored shape of a live stream (`live_streams` collection), as every module that reads one sees it.

`total=False`: lists read with `LIST_PROJECTION` lack the bookkeeping fields, and fields added by a
state change (`aioz`, `liveSlotOwner`, payouts, follow-ups) exist only after it. Field names are the
API's (camelCase), as stored.
"""

from datetime import datetime
from typing import Any, TypedDict

from bson import ObjectId


class Broadcaster(TypedDict):
    user: ObjectId
    role: str  # Role: host, guest
    uid: int  # Agora uid


class AiozSession(TypedDict, total=False):
    """The stream's AIOZ streaming, and what the reconcile loop still has to do with it."""

    keyId: str
    streamingId: str
    hlsUrl: str | None
    state: str  # open, closing, closed, recorded, failed
    attempts: int
    reconcileAt: datetime | None


class LiveStreamDocument(TypedDict, total=False):
    _id: ObjectId
    title: str
    liveStreamType: str  # LiveStreamType
    channelName: str
    creatorId: ObjectId
    guestIds: list[ObjectId]
    broadcasters: list[Broadcaster]
    thumbnailUrl: str | None
    recording: bool
    recordingUrl: str | None
    status: str  # LiveStreamStatus
    accessType: str  # AccessType
    price: float | None  # whole credits; documents stored before prices were integers may hold decimals
    interest: str | None
    durationGoal: int | None
    motivation: str | None
    isActiveReplayOnCreatorProfile: bool | None
    replayCreditPrice: int | None
    plannedStartDate: datetime | None
    plannedEndDate: datetime | None
    startedAt: datetime | None
    endedAt: datetime | None
    createdAt: datetime
    updatedAt: datetime
    deletedAt: datetime | None
    fundingGoal: int | None
    collectedFunding: int
    miniCrowdFundings: list[Any]
    # The live slot a start claims (lifecycle.py) and the AIOZ session it opens.
    liveSlotOwner: ObjectId
    startingAt: datetime
    aioz: AiozSession
    # Pots (app.core.once): decisions in flight, and the payouts made at the end.
    opVersion: int
    opInFlight: dict[str, Any]
    opInFlightAt: datetime
    fundingPayout: dict[str, Any]
    entryPayout: dict[str, Any]
    # Compensations a state change made due (follow_ups.py), and the rentals admitted (replays).
    followUps: dict[str, Any]
    followUpAt: datetime
    lastRentalAdmittedAt: datetime
