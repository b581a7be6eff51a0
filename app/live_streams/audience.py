"""Joining (Agora tokens + participation records), leaving and viewers.

An audience join is also reported to a `ViewerLog` (the creators' rollup behind most-watched creators,
wired in `app.flows`): live streams never import creators.
"""

import re
from typing import Any, Protocol

from bson import ObjectId

from app.agora.tokens import AgoraRole, AgoraTokenIssuer, RtcToken, agora_uid
from app.core import events
from app.core.errors import AppError, Conflict, ErrorCode, Forbidden, ValidationFailed
from app.core.pagination import PageParams
from app.core.security import AuthenticatedUser
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.entries import EntryService
from app.live_streams.participant_repository import ParticipantRepository
from app.live_streams.presenter import LiveStreamPresenter
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import STARTABLE, JoinIn, LiveStreamStatus, Role
from app.live_streams.streaming import AiozKeyRepository
from app.users.repository import FollowRepository, UserRepository

JOINABLE = (*STARTABLE, LiveStreamStatus.active)


def _ensure_joinable(stream: LiveStreamDocument, statuses: tuple[LiveStreamStatus, ...]) -> None:
    if stream["status"] not in statuses:
        raise Conflict(
            f"the stream is {stream['status']} and cannot be joined", code=ErrorCode.INVALID_STREAM_STATE
        )


class ViewerLog(Protocol):
    async def viewer_joined(self, creator_id: ObjectId, viewer_id: ObjectId, stream_id: ObjectId) -> None: ...


class JoinHooks(Protocol):
    """What other domains add to a join (audience or guest), composed in `app.flows` so live streams
    import none of them: `admit` may refuse (a BLOCK ban: 403, closing the user's participation) - asked
    before anything is written and again once the participation is, so a refusal that landed meanwhile
    undoes the join before anything is charged;
    `joined` runs once the participation is recorded (the audience peak of participant statistics)."""

    async def admit(self, stream: LiveStreamDocument, user_id: ObjectId, role: Role) -> None: ...

    async def joined(self, stream: LiveStreamDocument, user_id: ObjectId, role: Role) -> None: ...


class NoJoinHooks:
    """No rules of other domains (tools that build an AudienceService alone)."""

    async def admit(self, stream: LiveStreamDocument, user_id: ObjectId, role: Role) -> None:
        return None

    async def joined(self, stream: LiveStreamDocument, user_id: ObjectId, role: Role) -> None:
        return None


def token_fields(token: RtcToken) -> dict[str, Any]:
    return {
        "appId": token.appId,
        "channelName": token.channelName,
        "uid": token.uid,
        "role": token.role,
        "token": token.token,
        "expiresAt": token.expiresAt,
        "isDevToken": token.isDevToken,
    }


class AudienceService:
    def __init__(
        self,
        db: Any,
        tokens: AgoraTokenIssuer,
        presenter: LiveStreamPresenter,
        viewer_log: ViewerLog,
        join_hooks: JoinHooks | None = None,
    ) -> None:
        self.db = db
        self.streams = LiveStreamRepository(db)
        self.participants = ParticipantRepository(db)
        self.ingest_keys = AiozKeyRepository(db)
        self.users = UserRepository(db)
        self.follows = FollowRepository(db)
        self.entries = EntryService(db)
        self.tokens = tokens
        self.presenter = presenter
        self.viewer_log = viewer_log
        self.join_hooks = join_hooks or NoJoinHooks()

    async def join(self, body: JoinIn, caller: AuthenticatedUser) -> dict[str, Any]:
        if body.role not in (None, Role.audience):
            raise ValidationFailed("use join-as-guest or join-as-creator for other roles")
        stream = await self.streams.get_or_404(body.liveStreamId)
        if stream["creatorId"] == caller.id:
            raise Forbidden("the creator joins with join-as-creator")
        _ensure_joinable(stream, (LiveStreamStatus.active,))
        await self.join_hooks.admit(stream, caller.id, Role.audience)
        pays = caller.id not in stream.get("guestIds", [])
        if pays:
            await self.entries.precheck(stream, caller.id)  # refused before anything is written
        device = body.model_dump(exclude={"liveStreamId", "role"}, exclude_none=True)
        await self.participants.record_join(stream, caller.id, Role.audience, device)
        # Ordered against bans (docs/community.md, "Bans and joins are ordered"): a BLOCK ban that landed
        # since the check above is seen now that the participation is written, and the join undoes
        # itself (403, nothing charged); a ban landing after this read closes the participation itself.
        await self.join_hooks.admit(stream, caller.id, Role.audience)
        if pays:
            try:
                await self.entries.admit(stream, caller.id)  # paid streams: charged on the first join only
            except AppError:
                await self.participants.record_leave(stream["_id"], caller.id)
                raise
        events.emit(events.STREAM_AUDIENCE_CHANGED, {"streamId": stream["_id"]})
        await self.join_hooks.joined(stream, caller.id, Role.audience)
        await self.viewer_log.viewer_joined(stream["creatorId"], caller.id, stream["_id"])
        token = self.tokens.issue(stream["channelName"], caller.id, AgoraRole.subscriber)
        return {"liveStream": await self.presenter.one(stream, caller), **token_fields(token)}

    async def join_as_guest(self, stream_id: ObjectId, caller: AuthenticatedUser) -> dict[str, Any]:
        stream = await self.streams.get_or_404(stream_id)
        if caller.id not in stream.get("guestIds", []):
            raise Forbidden("only an invited guest can join as guest")
        _ensure_joinable(stream, JOINABLE)
        await self.join_hooks.admit(stream, caller.id, Role.guest)
        broadcaster = {"user": caller.id, "role": Role.guest.value, "uid": agora_uid(caller.id)}
        updated = await self.streams.add_broadcaster(stream_id, broadcaster)
        stream = updated or stream
        await self.participants.record_join(stream, caller.id, Role.guest, {})
        await self.join_hooks.admit(stream, caller.id, Role.guest)  # a ban meanwhile: undone (see join)
        await self.join_hooks.joined(stream, caller.id, Role.guest)
        token = self.tokens.issue(stream["channelName"], caller.id, AgoraRole.publisher)
        return {"liveStream": await self.presenter.one(stream, caller), **token_fields(token)}

    async def join_as_creator(self, stream_id: ObjectId, caller: AuthenticatedUser) -> dict[str, Any]:
        """Publisher token and, once the stream was started, the creator's RTMP ingest."""
        ingest_key = await self.ingest_keys.get(caller.id)
        stream = await self.streams.get_or_404(stream_id)
        if stream["creatorId"] != caller.id:
            raise Forbidden("only the creator can join as creator")
        _ensure_joinable(stream, JOINABLE)
        token = self.tokens.issue(stream["channelName"], caller.id, AgoraRole.publisher)
        result = {
            "liveStream": await self.presenter.one(stream, caller),
            **token_fields(token),
            "ingest": None,
        }
        aioz = stream.get("aioz") or {}
        if stream["status"] == LiveStreamStatus.active and ingest_key and aioz.get("state") == "open":
            rtmp = ingest_key["rtmpUrl"].rstrip("/")
            result["ingest"] = {
                "rtmpUrl": rtmp,
                "streamKey": ingest_key["streamKey"],
                "publishUrl": f"{rtmp}/{ingest_key['streamKey']}",
                "playbackHlsUrl": aioz.get("hlsUrl"),
            }
        return result

    async def leave(self, stream_id: ObjectId, caller: AuthenticatedUser) -> dict[str, Any]:
        await self.streams.get_or_404(stream_id)
        closed = await self.participants.record_leave(stream_id, caller.id)
        if not closed:
            raise Conflict("you are not in this stream")
        events.emit(events.STREAM_AUDIENCE_CHANGED, {"streamId": stream_id})
        return {
            "streamId": stream_id,
            "leftAt": max(p["leftAt"] for p in closed),
            "watchTimeSeconds": int(max(p["watchSeconds"] for p in closed)),  # older rows may hold doubles
        }

    async def viewers(
        self, stream_id: ObjectId, caller: AuthenticatedUser, page: PageParams, search: str | None
    ) -> dict[str, Any]:
        stream = await self.streams.get_or_404(stream_id)
        if stream["status"] != LiveStreamStatus.active:
            raise Conflict("viewers are listed for active streams only", code=ErrorCode.INVALID_STREAM_STATE)
        user_filter = None
        if search:
            present = await self.participants.present_user_ids(stream_id)
            user_filter = await self.users.search_ids(present, re.escape(search.strip().lower()))
        participants, total = await self.participants.present_viewers(
            stream_id, user_filter, page.skip, page.limit
        )
        ids = [p["userId"] for p in participants]
        users = await self.users.summaries(ids, extra=("expertise",))
        counts = await self.follows.counts_for(ids)
        following = await self.follows.followed_among(caller.id, ids)
        items = []
        for participant in participants:
            user = users.get(participant["userId"])
            if user is None:
                continue
            followers, following_count = counts.get(user["_id"], (0, 0))
            items.append(
                {
                    "_id": user["_id"],
                    "username": user["username"],
                    "name": user.get("name", ""),
                    "surname": user.get("surname", ""),
                    "profilePhoto": user.get("profilePhoto"),
                    "followersCount": followers,
                    "followingCount": following_count,
                    "expertise": user.get("expertise"),
                    "isFollowing": user["_id"] in following,
                    "joinedAt": participant["joinedAt"],
                }
            )
        return {
            **page.page_of(items, total),
            "participantAudienceTotal": await self.participants.count_audience(stream_id),
        }

    async def viewer_count(self, stream_id: ObjectId) -> dict[str, Any]:
        await self.streams.get_or_404(stream_id)
        return {"streamId": stream_id, "viewerCount": await self.participants.count_present(stream_id)}
