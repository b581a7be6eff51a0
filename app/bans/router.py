"""`/api/v1/live-stream-ban`: a creator bans users from their streams (BLOCK or CHAT_ONLY)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from app.bans.dependencies import Bans
from app.bans.schemas import Ban, BanAction, BanCheck, BanIn, BanPage
from app.bans.service import BanFilters
from app.core.envelope import Envelope, error_responses, ok
from app.core.pagination import PageParams, strict_page_params
from app.core.types import ObjectIdStr
from app.users.auth import CurrentUser

router = APIRouter(prefix="/api/v1/live-stream-ban", tags=["Bans"])

BAN = Envelope[Ban]
STREAM_ID = "`id` of the live stream."


@router.post(
    "",
    status_code=201,
    response_model=BAN,
    responses={
        200: {"model": BAN, "description": "An active `CHAT_ONLY` ban of the user was upgraded to `BLOCK`."},
        **error_responses(400, 401, 403, 404, 409),
    },
    summary="Ban a user from one of your streams",
)
async def create_ban(body: BanIn, user: CurrentUser, bans: Bans) -> Response:
    """Ban `targetUserId` from your stream `liveStreamId` (creator only, 403 otherwise). `BLOCK` refuses
    `join` and `join-as-guest` (403) and closes the user's present participation; `CHAT_ONLY` refuses
    chat messages and superlikes. One active ban per user and stream: a second one is 409, except
    `BLOCK` over an active `CHAT_ONLY` ban, which upgrades it in place (200). Banning yourself (the
    creator) is 400; an unknown user or stream is 404.
    """
    ban, created = await bans.create(body, user)
    return ok(ban, 201 if created else 200)


@router.get(
    "",
    response_model=Envelope[BanPage],
    responses=error_responses(400, 401),
    summary="Active bans on your streams",
)
async def list_bans(
    user: CurrentUser,
    bans: Bans,
    page: Annotated[PageParams, Depends(strict_page_params(default_limit=10))],
    targetUserId: Annotated[ObjectIdStr | None, Query(description="Only bans of this user (`_id`).")] = None,
    targetUser: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Only bans of this user, by `_id` or username."),
    ] = None,
    liveStreamId: Annotated[ObjectIdStr | None, Query(description="Only bans on this stream.")] = None,
    actionType: Annotated[BanAction | None, Query(description="Only bans of this kind.")] = None,
    date_from: Annotated[
        datetime | None, Query(alias="from", description="Banned at or after (inclusive, ISO-8601).")
    ] = None,
    date_to: Annotated[
        datetime | None, Query(alias="to", description="Banned at or before (inclusive, ISO-8601).")
    ] = None,
) -> Response:
    """The active (not lifted) bans you made on your streams, newest first, `page`/`limit` (10, at most
    100), filtered by user (`targetUserId`, or `targetUser` as `_id` or username), stream, `actionType`
    and the inclusive `from`/`to` range of the ban date.
    """
    filters = BanFilters(targetUserId, targetUser, liveStreamId, actionType, date_from, date_to)
    return ok(await bans.list_mine(user, page, filters))


@router.get(
    "/check/{targetUserId}",
    response_model=Envelope[BanCheck],
    responses=error_responses(400, 401, 403, 404),
    summary="Whether a user is banned from a stream",
)
async def check_ban(
    targetUserId: Annotated[
        ObjectIdStr, Path(description="`_id` of the user to check (yours for yourself).")
    ],
    liveStreamId: Annotated[ObjectIdStr, Query(description=STREAM_ID)],
    user: CurrentUser,
    bans: Bans,
) -> Response:
    """`{isBanned, ban}` for the user on the stream; `ban` is the active ban or null. The user
    concerned and the stream's creator may ask (403 otherwise); unknown stream 404.
    """
    return ok(await bans.check(targetUserId, liveStreamId, user))


@router.delete(
    "/{id}",
    response_model=BAN,
    responses=error_responses(400, 401, 403, 404),
    summary="Lift a ban (soft delete)",
)
async def delete_ban(
    id: Annotated[
        ObjectIdStr, Path(description="`_id` of an active ban, e.g. from `GET /api/v1/live-stream-ban`.")
    ],
    user: CurrentUser,
    bans: Bans,
) -> Response:
    """Lift a ban: it gets `deletedAt`/`deletedBy` and stops applying at once (the user may join and
    chat again). The creator who made it only (403); unknown or already lifted 404.
    """
    return ok(await bans.lift(id, user))
