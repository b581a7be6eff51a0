"""Live-stream rules: creation, reading, cancel and soft delete, guest streams, active streams.

Start/end (AIOZ provisioning) live in `lifecycle.py`, money in `funding.py`, joins and viewers in
`audience.py`. Every state change is one conditional update, so concurrent requests cannot both win.
"""

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from bson import ObjectId
from bson.errors import InvalidId
from slugify import slugify

from app.core import events
from app.core.errors import Conflict, ErrorCode, Forbidden, NotFound, ValidationFailed
from app.core.pagination import SortOrder
from app.core.security import AuthenticatedUser
from app.core.timeutils import utcnow
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.follow_ups import FollowUp, FollowUpRunner, due
from app.live_streams.funding import FundingService
from app.live_streams.presenter import LiveStreamPresenter
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import (
    STARTABLE,
    AccessType,
    GuestStreamSort,
    LiveStreamStatus,
    LiveStreamType,
)
from app.users.repository import UserRepository

log = structlog.get_logger("app.live_streams")

MAX_GUESTS = {LiveStreamType.solo: 0, LiveStreamType.duocrowd: 1, LiveStreamType.duoself: 1}
MIN_GUESTS = {LiveStreamType.solo: 0, LiveStreamType.duocrowd: 1, LiveStreamType.duoself: 1}
# Far beyond any real schedule; keeps date arithmetic (planned end, reminders) inside datetime's range.
MAX_SCHEDULE_AHEAD = timedelta(days=2 * 365)


@dataclass(frozen=True, slots=True)
class NewLiveStream:
    title: str
    guests: Sequence[str]
    price: float | None  # credits as sent (e.g. 9.99); entries charge it rounded up
    liveStreamType: LiveStreamType
    interest: str | None
    durationGoal: int | None
    motivation: str | None
    plannedStartDate: datetime | None
    fundingGoal: int | None
    recording: bool
    thumbnailUrl: str | None


def parse_guest_ids(fields: Sequence[str]) -> list[ObjectId]:
    """The `guests` form fields as user ids, in either form clients send them:

    - one field per id (`guests=64d1…`, repeated): what the OpenAPI document describes, what Swagger UI
      and generated clients send; a field may also hold several ids separated by commas;
    - Allmine's documented form, one field holding a JSON array (`guests=["64d1…"]`; `[]` for none).

    Empty fields are ignored (a form that leaves the field blank means no guest).
    """
    values: list[str] = []
    for field in fields:
        text = field.strip()
        if text.startswith("["):
            try:
                listed = json.loads(text)
            except (ValueError, RecursionError):  # JSONDecodeError, or nesting deeper than the parser goes
                raise ValidationFailed("guests must be a JSON array of user ids") from None
            if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
                raise ValidationFailed("guests must be a JSON array of user ids")
            values += listed
        else:
            values += [part.strip() for part in text.split(",") if part.strip()]
    try:
        ids = [ObjectId(v) for v in values]
    except (InvalidId, TypeError):
        raise ValidationFailed("guests must contain 24-character hex user ids") from None
    if len(set(ids)) != len(ids):
        raise ValidationFailed("guests must not repeat a user")
    return ids


class LiveStreamService:
    def __init__(self, db: Any, presenter: LiveStreamPresenter, follow_ups: FollowUpRunner) -> None:
        self.db = db
        self.follow_ups = follow_ups
        self.streams = LiveStreamRepository(db)
        self.users = UserRepository(db)
        self.presenter = presenter

    # --- reading ------------------------------------------------------------------------------------------

    async def get(self, stream_id: ObjectId) -> LiveStreamDocument:
        return await self.streams.get_or_404(stream_id)

    async def get_owned(self, stream_id: ObjectId, user: AuthenticatedUser) -> LiveStreamDocument:
        stream = await self.get(stream_id)
        if stream["creatorId"] != user.id:
            raise Forbidden()
        return stream

    async def list_all(self, caller: AuthenticatedUser, limit: int) -> list[dict[str, Any]]:
        return await self.presenter.many(await self.streams.list_all(limit), caller)

    async def active_stream_of(self, user_id: ObjectId, caller: AuthenticatedUser | None) -> dict[str, Any]:
        active = await self.streams.active_of_creator(user_id)
        if not active:
            raise NotFound()
        if len(active) > 1:  # the live-slot index makes this impossible for new data; old data may differ
            log.warning("several_active_streams", user_id=str(user_id), count=len(active))
        return await self.presenter.one(active[0], caller)

    async def funded(self, caller: AuthenticatedUser, limit: int) -> list[dict[str, Any]]:
        """Scheduled, alive streams the caller funded, each once, the latest funding first."""
        ids = await FundingService(self.db).funded_stream_ids(caller.id, limit=limit * 4)
        streams = await self.streams.scheduled_among(ids)  # filtered by the database, not here
        scheduled = [stream for i in ids if (stream := streams.get(i.binary)) is not None]
        return await self.presenter.many(scheduled[:limit], caller)

    async def guest_streams(
        self,
        caller: AuthenticatedUser,
        status: LiveStreamStatus | None,
        sort_by: GuestStreamSort,
        order: SortOrder,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        docs = await self.streams.guest_streams(caller.id, status, sort_by.value, order, limit)
        return await self.presenter.many(docs, caller)

    # --- creating -----------------------------------------------------------------------------------------

    async def create(self, creator: AuthenticatedUser, new: NewLiveStream) -> dict[str, Any]:
        guest_ids = await self._validated_guests(creator.id, new)
        now = utcnow()
        if new.plannedStartDate is not None and new.plannedStartDate <= now:
            raise ValidationFailed("plannedStartDate must be in the future")
        if new.plannedStartDate is not None and new.plannedStartDate > now + MAX_SCHEDULE_AHEAD:
            raise ValidationFailed(f"plannedStartDate must be within {MAX_SCHEDULE_AHEAD.days} days")
        planned_end = (
            new.plannedStartDate + timedelta(minutes=new.durationGoal)
            if new.plannedStartDate and new.durationGoal
            else None
        )
        doc: LiveStreamDocument = {
            "title": new.title,
            "liveStreamType": new.liveStreamType.value,
            "channelName": "",
            "creatorId": creator.id,
            "guestIds": guest_ids,
            "broadcasters": [],
            "thumbnailUrl": new.thumbnailUrl,
            "recording": new.recording,
            "recordingUrl": None,
            "status": (
                LiveStreamStatus.scheduled if new.plannedStartDate else LiveStreamStatus.preparing
            ).value,
            "accessType": (AccessType.paid if new.price else AccessType.free).value,
            "price": new.price,
            "interest": new.interest,
            "durationGoal": new.durationGoal,
            "motivation": new.motivation,
            "isActiveReplayOnCreatorProfile": None,
            "replayCreditPrice": None,
            "startedAt": None,
            "plannedStartDate": new.plannedStartDate,
            "endedAt": None,
            "plannedEndDate": planned_end,
            "createdAt": now,
            "updatedAt": now,
            "deletedAt": None,
            "fundingGoal": new.fundingGoal,
            "collectedFunding": 0,
            "opVersion": 0,
            "opInFlight": {},
            "miniCrowdFundings": [],
        }
        for _ in range(5):  # a channel-name collision is a 1-in-65536 event per try
            doc["channelName"] = channel_name(new.title)
            doc.pop("_id", None)
            try:
                await self.streams.insert(doc)
                break
            except Conflict:
                continue
        else:
            raise Conflict("could not allocate a unique channel name")
        return await self.presenter.one(doc, creator)

    async def _validated_guests(self, creator_id: ObjectId, new: NewLiveStream) -> list[ObjectId]:
        guest_ids = parse_guest_ids(new.guests)
        if creator_id in guest_ids:
            raise ValidationFailed("the creator cannot be their own guest")
        kind = new.liveStreamType
        if not MIN_GUESTS[kind] <= len(guest_ids) <= MAX_GUESTS[kind]:
            expected = "no guest" if MAX_GUESTS[kind] == 0 else "exactly one guest"
            raise ValidationFailed(f"a {kind.value} stream takes {expected}")
        found = await self.users.get_many(guest_ids)
        missing = [str(g) for g in guest_ids if g not in found]
        if missing:
            raise ValidationFailed(f"unknown guest user ids: {', '.join(missing)}")
        return guest_ids

    # --- cancel and delete --------------------------------------------------------------------------------

    async def cancel(self, stream_id: ObjectId, caller: AuthenticatedUser) -> dict[str, Any]:
        stream = await self.get(stream_id)
        if stream["creatorId"] == caller.id:
            new_status = LiveStreamStatus.cancelled_by_host
        elif caller.id in stream.get("guestIds", []):
            new_status = LiveStreamStatus.cancelled_by_guest
        else:
            raise Forbidden()
        now = utcnow()
        updated = await self.streams.close_before_start(
            stream_id,
            STARTABLE,
            new_status,
            {"cancelledAt": now, **due(FollowUp.refund_fundings, FollowUp.settle_reminders, now=now)},
        )
        if updated is None:
            raise Conflict(
                "only a scheduled or preparing stream can be cancelled", code=ErrorCode.INVALID_STREAM_STATE
            )
        events.emit(events.STREAM_STATUS_CHANGED, updated)
        await self.follow_ups.run(updated)
        return await self.presenter.one(updated, caller)

    async def delete(self, stream_id: ObjectId, caller: AuthenticatedUser) -> dict[str, Any]:
        """Soft delete by the creator; an active (or starting) stream must be ended first."""
        stream = await self.get_owned(stream_id, caller)
        if stream["status"] == LiveStreamStatus.active or stream.get("liveSlotOwner"):
            raise Conflict(
                "an active stream must be ended before it is deleted", code=ErrorCode.INVALID_STREAM_STATE
            )
        now = utcnow()
        kinds = [FollowUp.refund_rentals, FollowUp.forget_viewers]
        if stream["status"] in STARTABLE:
            kinds += [FollowUp.refund_fundings, FollowUp.settle_reminders]
        deleted = await self.streams.delete_with_follow_ups(
            stream_id, stream["status"], {"deletedAt": now, **due(*kinds, now=now)}
        )
        if deleted is None:
            # Lost a race: either it started meanwhile (409) or another delete won (404).
            current = await self.streams.get(stream_id)
            raise (
                NotFound()
                if current is None
                else Conflict("the stream changed state; try again", code=ErrorCode.INVALID_STREAM_STATE)
            )
        events.emit(events.STREAM_STATUS_CHANGED, deleted)
        await self.follow_ups.run(deleted)
        return await self.presenter.one(deleted, caller)


def channel_name(title: str) -> str:
    """Agora channel: ASCII slug of the title plus a short random suffix (`yeni-urun-tanitimi-1a2b`)."""
    base = slugify(title, max_length=48, word_boundary=True) or "live"
    return f"{base}-{secrets.token_hex(2)}"
