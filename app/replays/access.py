"""Replay access policy (docs/contract.md, "Replays"): who watches a replay for free, who rents it,
and what a stream's `replayAccess` tells a caller."""

from datetime import datetime
from typing import Any

from bson import ObjectId

from app.core.db import Database
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.schemas import LiveStreamStatus, LiveStreamType, ReplayStatus
from app.replays.repository import ReplayRentalRepository, rental_is_active


def is_member(stream: LiveStreamDocument, user_id: ObjectId) -> bool:
    """Creator, invited guest or broadcaster: watches the replay for free."""
    user = user_id.binary  # bytes compare in C; bson's `ObjectId.__eq__` is Python (~5x the cost)
    if stream["creatorId"].binary == user:
        return True
    for guest_id in stream.get("guestIds", []):
        if guest_id.binary == user:
            return True
    return any(b["user"].binary == user for b in stream.get("broadcasters", []))


def is_rentable(stream: LiveStreamDocument) -> bool:
    """Ended, alive, has a recording, replay switched on with a price, duo streams have a guest."""
    if stream["status"] != LiveStreamStatus.ended or stream.get("deletedAt") is not None:
        return False
    if not stream.get("recordingUrl") or stream.get("isActiveReplayOnCreatorProfile") is not True:
        return False
    if not (stream.get("replayCreditPrice") or 0) > 0:
        return False
    return stream["liveStreamType"] == LiveStreamType.solo or bool(stream.get("guestIds"))


def replay_access(
    stream: LiveStreamDocument, caller_id: ObjectId | None, rental: dict[str, Any] | None, now: datetime
) -> dict[str, Any]:
    # Built once per stream of every page: each outcome is one dict literal (same keys, same order).
    price = stream.get("replayCreditPrice")
    if caller_id is not None and is_member(stream, caller_id):
        return _access(ReplayStatus.owner, False, bool(stream.get("recordingUrl")), price, None, None, None)
    if rental is not None and rental_is_active(rental, now) and stream.get("deletedAt") is None:
        expires = rental["expiresAt"]
        remaining = max(0, int((expires - now).total_seconds()))
        has_recording = bool(stream.get("recordingUrl"))
        return _access(
            ReplayStatus.rented, False, has_recording, price, rental["rentedAt"], expires, remaining
        )
    if is_rentable(stream):
        if rental:
            rented, expires = rental.get("rentedAt"), rental.get("expiresAt")
            return _access(ReplayStatus.expired, True, False, price, rented, expires, None)
        return _access(ReplayStatus.available, True, False, price, None, None, None)
    return _access(ReplayStatus.unavailable, False, False, price, None, None, None)


def _access(
    status: ReplayStatus,
    can_rent: bool,
    can_view_recording: bool,
    price: Any,
    rented_at: datetime | None,
    expires_at: datetime | None,
    remaining_seconds: int | None,
) -> dict[str, Any]:
    """One `ReplayAccess` (docs/contract.md), its fields in the documented order."""
    return {
        "status": status,
        "canRent": can_rent,
        "canViewRecording": can_view_recording,
        "price": price,
        "rentedAt": rented_at,
        "expiresAt": expires_at,
        "remainingSeconds": remaining_seconds,
    }


class ReplayAccessPolicy:
    """The presenter's `ReplayAccessSource`: the caller's rentals of a page's ended streams in one query."""

    def __init__(self, db: Database) -> None:
        self.rentals = ReplayRentalRepository(db)

    async def access_of(
        self, streams: list[LiveStreamDocument], caller_id: ObjectId | None, now: datetime
    ) -> list[dict[str, Any]]:
        ended = [s["_id"] for s in streams if s["status"] == LiveStreamStatus.ended]
        rentals = await self.rentals.of_user_for(caller_id, ended) if caller_id and ended else {}
        if not rentals:  # no look-up per stream (an ObjectId key hashes in Python)
            return [replay_access(s, caller_id, None, now) for s in streams]
        return [replay_access(s, caller_id, rentals.get(s["_id"]), now) for s in streams]
