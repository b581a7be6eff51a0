"""Ban rules: who may ban whom, one active ban per (stream, user), and what a ban refuses.

Other domains ask `active_ban` (chat, superlikes, realtime); joins are refused through the
`BanGate` that `app.flows` hands to the live-stream audience as a join hook.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from app.bans.repository import ALREADY_BANNED, BanRepository, BanTargetLookup
from app.bans.schemas import BanAction, BanIn, ban_out
from app.core import events
from app.core.errors import Conflict, ErrorCode, Forbidden, NotFound, ValidationFailed
from app.core.pagination import PageParams
from app.core.security import AuthenticatedUser
from app.core.timeutils import as_utc
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.participant_repository import ParticipantRepository
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import Role

BANNED = "you are banned from this stream"
_OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")


async def active_ban(db: Any, stream_id: ObjectId, user_id: ObjectId) -> dict[str, Any] | None:
    """The user's active ban on the stream (`actionType` `BLOCK` or `CHAT_ONLY`), or None."""
    return await BanRepository(db).active(stream_id, user_id)


def refuses_chat(ban: dict[str, Any] | None) -> bool:
    """Both kinds of ban take the chat (and superlikes) away."""
    return ban is not None


def refuses_join(ban: dict[str, Any] | None) -> bool:
    return ban is not None and ban["actionType"] == BanAction.block


@dataclass(frozen=True, slots=True)
class BanFilters:
    target_user_id: ObjectId | None = None
    target_user: str | None = None  # an ObjectId or a username
    live_stream_id: ObjectId | None = None
    action_type: BanAction | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


class BanService:
    def __init__(self, db: Any) -> None:
        self.db = db
        self.bans = BanRepository(db)
        self.streams = LiveStreamRepository(db)
        self.users = BanTargetLookup(db)
        self.participants = ParticipantRepository(db)

    async def create(self, body: BanIn, caller: AuthenticatedUser) -> tuple[dict[str, Any], bool]:
        """(ban, created): a new ban, or an active CHAT_ONLY ban upgraded in place to BLOCK."""
        stream = await self.streams.get_or_404(body.liveStreamId)
        if stream["creatorId"] != caller.id:
            raise Forbidden("only the stream's creator can ban")
        if body.targetUserId == stream["creatorId"]:
            raise ValidationFailed("the creator cannot be banned from their own stream")
        target = await self.users.get(body.targetUserId)
        if target is None:
            raise NotFound("user not found")
        existing = await self.bans.active(stream["_id"], target["_id"])
        if existing is not None:
            upgraded = None
            if existing["actionType"] == BanAction.chat_only and body.actionType == BanAction.block:
                upgraded = await self.bans.upgrade_to_block(existing["_id"], body.reason)
            if upgraded is None:
                raise Conflict(ALREADY_BANNED)
            await self.participants.record_leave(stream["_id"], target["_id"])
            events.emit(
                events.STREAM_USER_BANNED,
                {"streamId": stream["_id"], "userId": target["_id"], "actionType": upgraded["actionType"]},
            )
            return ban_out(upgraded, target), False
        doc = await self.bans.create(
            {
                "targetUserId": target["_id"],
                "liveStreamId": stream["_id"],
                "actionType": body.actionType.value,
                "reason": body.reason,
                "createdBy": caller.id,
            }
        )
        if body.actionType == BanAction.block:
            await self.participants.record_leave(stream["_id"], target["_id"])  # out of the present viewers
        events.emit(
            events.STREAM_USER_BANNED,
            {"streamId": stream["_id"], "userId": target["_id"], "actionType": doc["actionType"]},
        )
        return ban_out(doc, target), True

    async def list_mine(
        self, caller: AuthenticatedUser, page: PageParams, filters: BanFilters
    ) -> dict[str, Any]:
        """Active bans on the caller's streams (the bans the caller made), newest first."""
        query: dict[str, Any] = {}
        targets = {filters.target_user_id} if filters.target_user_id else set()
        if filters.target_user:
            named = filters.target_user.strip()
            resolved = ObjectId(named) if _OBJECT_ID.match(named) else await self.users.id_of_username(named)
            if resolved is None or (targets and resolved not in targets):
                return page.page_of([], 0)
            targets = {resolved}
        if targets:
            query["targetUserId"] = targets.pop()
        if filters.live_stream_id:
            query["liveStreamId"] = filters.live_stream_id
        if filters.action_type:
            query["actionType"] = filters.action_type.value
        created_from = as_utc(filters.created_from) if filters.created_from else None
        created_to = as_utc(filters.created_to) if filters.created_to else None
        docs, total = await self.bans.page_of_creator(
            caller.id, query, created_from, created_to, page.skip, page.limit
        )
        return page.page_of(await self._present(docs), total)

    async def check(
        self, target_id: ObjectId, stream_id: ObjectId, caller: AuthenticatedUser
    ) -> dict[str, Any]:
        stream = await self.streams.get_or_404(stream_id)
        if caller.id not in (target_id, stream["creatorId"]):
            raise Forbidden("only the user concerned or the stream's creator can check a ban")
        ban = await self.bans.active(stream_id, target_id)
        return {"isBanned": ban is not None, "ban": (await self._present([ban]))[0] if ban else None}

    async def lift(self, ban_id: ObjectId, caller: AuthenticatedUser) -> dict[str, Any]:
        ban = await self.bans.get(ban_id)
        if ban is None:
            raise NotFound()
        if ban["createdBy"] != caller.id:
            raise Forbidden("only the stream's creator can lift a ban")
        lifted = await self.bans.lift(ban_id, caller.id)
        if lifted is None:
            raise NotFound()  # lifted by a concurrent request
        return (await self._present([lifted]))[0]

    async def _present(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        targets = await self.users.get_many([doc["targetUserId"] for doc in docs])
        return [ban_out(doc, targets.get(doc["targetUserId"])) for doc in docs]


class BanEnforcer:
    """Recovery pass (reconcile loop): each BLOCK ban closes the user's participations once more after
    `CLOSE_JOINS_AFTER`, and tells the sockets again (a request that died between the ban and its
    closing, or a join that died between writing its participation and re-checking)."""

    def __init__(self, db: Any) -> None:
        self.bans = BanRepository(db)
        self.participants = ParticipantRepository(db)

    async def close_joins_due(self, older_than: datetime, limit: int = 100) -> int:
        due = await self.bans.closing_joins_due(older_than, limit)
        for ban in due:
            if ban.get("isActive") and ban["actionType"] == BanAction.block:
                await self.participants.record_leave(ban["liveStreamId"], ban["targetUserId"])
                # again, for sockets a dead ban request never told
                payload = {
                    "streamId": ban["liveStreamId"],
                    "userId": ban["targetUserId"],
                    "actionType": "BLOCK",
                }
                events.emit(events.STREAM_USER_BANNED, payload)
            await self.bans.joins_closed(ban["_id"], ban["closeJoinsAt"])
        return len(due)


class BanGate:
    """The join hook (`app.live_streams.audience.JoinHooks.admit`): a BLOCK ban refuses the join and
    closes whatever participation the user still has open in the stream."""

    def __init__(self, db: Any) -> None:
        self.bans = BanRepository(db)
        self.participants = ParticipantRepository(db)

    async def admit(self, stream: LiveStreamDocument, user_id: ObjectId, role: Role) -> None:
        if refuses_join(await self.bans.active(stream["_id"], user_id)):
            await self.participants.record_leave(stream["_id"], user_id)
            raise Forbidden(BANNED, code=ErrorCode.BANNED)
