"""Build `LiveStream` answers (docs/contract.md, documented field order) for one caller, in batches.

Everything a page needs (creators, guests, broadcasters, the caller's participations and replay
access) is loaded with one query per kind, never one per stream. Replay access is the replays
domain's policy, handed in as a `ReplayAccessSource` (wired in `app.flows`): live streams never
import replays.
"""

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any, Protocol

from bson import ObjectId

from app.core.envelope import as_json_text
from app.core.security import AuthenticatedUser
from app.core.timeutils import utcnow
from app.live_streams.documents import Broadcaster, LiveStreamDocument
from app.live_streams.mini_crowd_fundings import MiniCrowdFundingRepository, mini_out
from app.live_streams.participant_repository import ParticipantRepository
from app.live_streams.schemas import LiveStreamStatus, Role
from app.users.repository import UserRepository
from app.users.schemas import user_summary

DEFAULT_THUMBNAIL_PATH = "/static/default-thumbnail.png"
WENT_LIVE = (LiveStreamStatus.active, LiveStreamStatus.ended)
_NO_ROLES: frozenset[str] = frozenset()  # the caller took part in none of a stream's roles
_ROLES: dict[str, Role] = {role.value: role for role in Role}


class ReplayAccessSource(Protocol):
    """Each stream's `replayAccess` for one caller (`ReplayAccess` schema), in the streams' order, one
    batch per page."""

    async def access_of(
        self, streams: list[LiveStreamDocument], caller_id: ObjectId | None, now: datetime
    ) -> list[dict[str, Any]]: ...


def caller_role(
    stream: LiveStreamDocument, caller_id: ObjectId | None, participated: AbstractSet[str]
) -> Role | None:
    if caller_id is None:
        return None
    caller = caller_id.binary  # bytes compare in C; bson's `ObjectId.__eq__` is Python (~5x the cost)
    if stream["creatorId"].binary == caller:
        return Role.host
    for broadcaster in stream.get("broadcasters", []):
        if broadcaster["user"].binary == caller:
            role = broadcaster["role"]
            return _ROLES.get(role) or Role(role)  # a dict hit, not the enum's call machinery
    if Role.guest in participated:
        return Role.guest
    for guest_id in stream.get("guestIds", []):
        if guest_id.binary == caller:
            return Role.guest
    if Role.audience in participated:
        return Role.audience
    return None


def funding_percentage(stream: LiveStreamDocument) -> float:
    goal = stream.get("fundingGoal") or 0
    if goal <= 0:
        return 0
    collected: float = stream.get("collectedFunding", 0)
    return round(collected * 100 / goal, 2)


class LiveStreamPresenter:
    def __init__(self, db: Any, public_base_url: str, replays: ReplayAccessSource) -> None:
        self.users = UserRepository(db)
        self.participants = ParticipantRepository(db)
        self.minis = MiniCrowdFundingRepository(db)
        self.replays = replays
        self.default_thumbnail = public_base_url.rstrip("/") + DEFAULT_THUMBNAIL_PATH

    async def one(self, stream: LiveStreamDocument, caller: AuthenticatedUser | None) -> dict[str, Any]:
        return (await self.many([stream], caller))[0]

    async def many(
        self, streams: list[LiveStreamDocument], caller: AuthenticatedUser | None
    ) -> list[dict[str, Any]]:
        if not streams:
            return []
        user_ids = [s["creatorId"] for s in streams]
        for stream in streams:
            user_ids += stream.get("guestIds", [])
            user_ids += [b["user"] for b in stream.get("broadcasters", [])]
        users = await self.users.summaries(user_ids, include_deleted=True)
        # One `UserSummary` per user, shared by every place of the page it appears in (same bytes), its
        # id already text: orjson copies it instead of calling the envelope's encoder at each place.
        # The page's look-ups are keyed by the ids' bytes: a hit on an ObjectId key runs bson's Python
        # `__hash__` and `__eq__`, a bytes key hashes and compares in C (~5 look-ups per item).
        summaries = {user_id.binary: _summary_out(doc) for user_id, doc in users.items()}
        caller_id = caller.id if caller else None
        stream_ids = [s["_id"] for s in streams]
        roles = await self.participants.roles_of(caller_id, stream_ids) if caller_id else {}
        access = await self.replays.access_of(streams, caller_id, utcnow())
        # Mini crowd-fundings exist only on streams that went live: no query for scheduled pages.
        minis = await self.minis.of_streams([s["_id"] for s in streams if s["status"] in WENT_LIVE])
        roles_by_key = {stream_id.binary: held for stream_id, held in roles.items()}
        minis_by_key = {stream_id.binary: listed for stream_id, listed in minis.items()}
        items = []
        for s, replay in zip(streams, access, strict=True):
            key = s["_id"].binary
            participated = roles_by_key.get(key, _NO_ROLES) if roles_by_key else _NO_ROLES
            presented = self._build(s, summaries, caller_id, participated, replay)
            listed = minis_by_key.get(key) if minis_by_key else None
            presented["miniCrowdFundings"] = [mini_out(m) for m in listed] if listed else []
            items.append(presented)
        return items

    def _build(
        self,
        s: LiveStreamDocument,
        summaries: Mapping[bytes, dict[str, Any]],
        caller_id: ObjectId | None,
        participated: AbstractSet[str],
        access: dict[str, Any],
    ) -> dict[str, Any]:
        """The item without `miniCrowdFundings` (the caller adds it last, in the documented order)."""
        get = s.get
        return {
            "id": as_json_text(s["_id"]),
            "title": s["title"],
            "liveStreamType": s["liveStreamType"],
            "channelName": s["channelName"],
            "broadcasters": [_broadcaster_out(b, summaries) for b in s.get("broadcasters", [])],
            "guests": [
                summary for gid in s.get("guestIds", []) if (summary := summaries.get(gid.binary)) is not None
            ],
            "creator": summaries.get(s["creatorId"].binary),
            "thumbnailUrl": get("thumbnailUrl") or self.default_thumbnail,
            "recording": get("recording", False),
            "recordingUrl": get("recordingUrl") if access["canViewRecording"] else None,
            "replayAccess": access,
            "status": s["status"],
            "accessType": get("accessType", "free"),
            "price": get("price"),
            "interest": get("interest"),
            "durationGoal": get("durationGoal"),
            "motivation": get("motivation"),
            "isActiveReplayOnCreatorProfile": get("isActiveReplayOnCreatorProfile"),
            "replayCreditPrice": get("replayCreditPrice"),
            "startedAt": get("startedAt"),
            "plannedStartDate": get("plannedStartDate"),
            "endedAt": get("endedAt"),
            "plannedEndDate": get("plannedEndDate"),
            "createdAt": s["createdAt"],
            "updatedAt": s["updatedAt"],
            "fundingGoal": get("fundingGoal"),
            "collectedFunding": get("collectedFunding", 0),
            "fundingPercentage": funding_percentage(s),
            "role": caller_role(s, caller_id, participated),
        }


def _summary_out(doc: Mapping[str, Any]) -> dict[str, Any]:
    summary = user_summary(doc)
    summary["_id"] = as_json_text(summary["_id"])
    return summary


def _broadcaster_out(broadcaster: Broadcaster, summaries: Mapping[bytes, dict[str, Any]]) -> dict[str, Any]:
    user = broadcaster["user"]
    summary = summaries.get(user.binary)
    return {
        "user": as_json_text(user) if summary is None else summary["_id"],  # the same id, already text
        "role": broadcaster["role"],
        "uid": broadcaster["uid"],
        "userSummary": summary,
    }
