"""Build `LiveStream` answers (spec §3.1, documented field order) for one caller, in batches.

Everything a page needs (creators, guests, broadcasters, the caller's participations and rentals)
is loaded with one query per kind, never one per stream.
"""

from datetime import datetime
from typing import Any

from bson import ObjectId

from app.core.security import AuthenticatedUser
from app.core.timeutils import utcnow
from app.live_streams.participant_repository import ParticipantRepository
from app.live_streams.schemas import LiveStreamStatus, LiveStreamType, ReplayStatus, Role
from app.replays.repository import ReplayRentalRepository, rental_is_active
from app.users.repository import UserRepository
from app.users.schemas import user_summary

DEFAULT_THUMBNAIL_PATH = "/static/default-thumbnail.png"


def is_member(stream: dict[str, Any], user_id: ObjectId) -> bool:
    """Creator, invited guest or broadcaster: watches the replay for free."""
    return (
        stream["creatorId"] == user_id
        or user_id in stream.get("guestIds", [])
        or any(b["user"] == user_id for b in stream.get("broadcasters", []))
    )


def is_rentable(stream: dict[str, Any]) -> bool:
    """§4.3: ended, alive, has a recording, replay switched on with a price, duo streams have a guest."""
    if stream["status"] != LiveStreamStatus.ended or stream.get("deletedAt") is not None:
        return False
    if not stream.get("recordingUrl") or stream.get("isActiveReplayOnCreatorProfile") is not True:
        return False
    if not (stream.get("replayCreditPrice") or 0) > 0:
        return False
    return stream["liveStreamType"] == LiveStreamType.solo or bool(stream.get("guestIds"))


def replay_access(
    stream: dict[str, Any], caller_id: ObjectId | None, rental: dict[str, Any] | None, now: datetime
) -> dict[str, Any]:
    price = stream.get("replayCreditPrice")
    has_recording = bool(stream.get("recordingUrl"))
    access: dict[str, Any] = {
        "status": ReplayStatus.unavailable,
        "canRent": False,
        "canViewRecording": False,
        "price": price,
        "rentedAt": None,
        "expiresAt": None,
        "remainingSeconds": None,
    }
    if caller_id is not None and is_member(stream, caller_id):
        access.update(status=ReplayStatus.owner, canViewRecording=has_recording)
        return access
    if rental_is_active(rental, now) and stream.get("deletedAt") is None:
        assert rental is not None
        access.update(
            status=ReplayStatus.rented,
            canViewRecording=has_recording,
            rentedAt=rental["rentedAt"],
            expiresAt=rental["expiresAt"],
            remainingSeconds=max(0, int((rental["expiresAt"] - now).total_seconds())),
        )
        return access
    if is_rentable(stream):
        access.update(status=ReplayStatus.expired if rental else ReplayStatus.available, canRent=True)
        if rental:
            access.update(rentedAt=rental.get("rentedAt"), expiresAt=rental.get("expiresAt"))
    return access


def caller_role(stream: dict[str, Any], caller_id: ObjectId | None, participated: set[str]) -> Role | None:
    if caller_id is None:
        return None
    if stream["creatorId"] == caller_id:
        return Role.host
    for broadcaster in stream.get("broadcasters", []):
        if broadcaster["user"] == caller_id:
            return Role(broadcaster["role"])
    if caller_id in stream.get("guestIds", []) or Role.guest in participated:
        return Role.guest
    if Role.audience in participated:
        return Role.audience
    return None


def funding_percentage(stream: dict[str, Any]) -> float:
    goal = stream.get("fundingGoal") or 0
    if goal <= 0:
        return 0
    return round(stream.get("collectedFunding", 0) * 100 / goal, 2)


class LiveStreamPresenter:
    def __init__(self, db: Any, public_base_url: str) -> None:
        self.users = UserRepository(db)
        self.participants = ParticipantRepository(db)
        self.rentals = ReplayRentalRepository(db)
        self.default_thumbnail = public_base_url.rstrip("/") + DEFAULT_THUMBNAIL_PATH

    async def one(self, stream: dict[str, Any], caller: AuthenticatedUser | None) -> dict[str, Any]:
        return (await self.many([stream], caller))[0]

    async def many(
        self, streams: list[dict[str, Any]], caller: AuthenticatedUser | None
    ) -> list[dict[str, Any]]:
        if not streams:
            return []
        user_ids = [s["creatorId"] for s in streams]
        for stream in streams:
            user_ids += stream.get("guestIds", [])
            user_ids += [b["user"] for b in stream.get("broadcasters", [])]
        users = await self.users.get_many(user_ids, include_deleted=True)
        caller_id = caller.id if caller else None
        stream_ids = [s["_id"] for s in streams]
        roles = await self.participants.roles_of(caller_id, stream_ids) if caller_id else {}
        ended = [s["_id"] for s in streams if s["status"] == LiveStreamStatus.ended]
        rentals = await self.rentals.of_user_for(caller_id, ended) if caller_id and ended else {}
        now = utcnow()
        return [
            self._build(s, users, caller_id, roles.get(s["_id"], set()), rentals.get(s["_id"]), now)
            for s in streams
        ]

    def _build(
        self,
        s: dict[str, Any],
        users: dict[ObjectId, dict[str, Any]],
        caller_id: ObjectId | None,
        participated: set[str],
        rental: dict[str, Any] | None,
        now: datetime,
    ) -> dict[str, Any]:
        access = replay_access(s, caller_id, rental, now)
        return {
            "id": s["_id"],
            "title": s["title"],
            "liveStreamType": s["liveStreamType"],
            "channelName": s["channelName"],
            "broadcasters": [
                {
                    "user": b["user"],
                    "role": b["role"],
                    "uid": b["uid"],
                    "userSummary": _summary(users, b["user"]),
                }
                for b in s.get("broadcasters", [])
            ],
            "guests": [_summary(users, gid) for gid in s.get("guestIds", []) if gid in users],
            "creator": _summary(users, s["creatorId"]),
            "thumbnailUrl": s.get("thumbnailUrl") or self.default_thumbnail,
            "recording": s.get("recording", False),
            "recordingUrl": s.get("recordingUrl") if access["canViewRecording"] else None,
            "replayAccess": access,
            "status": s["status"],
            "accessType": s.get("accessType", "free"),
            "price": s.get("price"),
            "interest": s.get("interest"),
            "durationGoal": s.get("durationGoal"),
            "motivation": s.get("motivation"),
            "isActiveReplayOnCreatorProfile": s.get("isActiveReplayOnCreatorProfile"),
            "replayCreditPrice": s.get("replayCreditPrice"),
            "startedAt": s.get("startedAt"),
            "plannedStartDate": s.get("plannedStartDate"),
            "endedAt": s.get("endedAt"),
            "plannedEndDate": s.get("plannedEndDate"),
            "createdAt": s["createdAt"],
            "updatedAt": s["updatedAt"],
            "fundingGoal": s.get("fundingGoal"),
            "collectedFunding": s.get("collectedFunding", 0),
            "fundingPercentage": funding_percentage(s),
            "role": caller_role(s, caller_id, participated),
            "miniCrowdFundings": s.get("miniCrowdFundings", []),
        }


def _summary(users: dict[ObjectId, dict[str, Any]], user_id: ObjectId) -> dict[str, Any] | None:
    doc = users.get(user_id)
    return user_summary(doc) if doc else None
