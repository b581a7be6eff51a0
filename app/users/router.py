"""Follows and the caller's credit history (`/api/v1/follow`, `/api/v1/users`); user stats are
`app.creators`'."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from app.core.db import Db
from app.core.envelope import Envelope, error_responses, ok
from app.core.pagination import Page, PageParams, SortOrder, strict_page_params
from app.core.types import ObjectIdStr
from app.users.auth import CurrentUser
from app.users.credits import Direction, TxStatus, TxType
from app.users.schemas import FollowResult, Transaction
from app.users.service import UserService

router = APIRouter(prefix="/api/v1")


@router.post(
    "/follow/{userId}",
    tags=["Follows"],
    response_model=Envelope[FollowResult],
    responses=error_responses(400, 401, 404),
    summary="Follow a user",
)
async def follow_user(userId: ObjectIdStr, user: CurrentUser, db: Db) -> Response:
    """Follow a user; idempotent (`previouslyFollowing` tells whether the caller already followed). You
    cannot follow yourself.
    """
    return ok(await UserService(db).follow(user.id, userId))


@router.delete(
    "/follow/{userId}",
    tags=["Follows"],
    response_model=Envelope[FollowResult],
    responses=error_responses(400, 401, 404),
    summary="Unfollow a user",
)
async def unfollow_user(userId: ObjectIdStr, user: CurrentUser, db: Db) -> Response:
    """Stop following a user; idempotent (`previouslyFollowing` tells whether the caller followed)."""
    return ok(await UserService(db).unfollow(user.id, userId))


@router.get(
    "/users/me/transactions",
    tags=["Users"],
    response_model=Envelope[Page[Transaction]],
    responses=error_responses(400, 401),
    summary="The caller's credit movements, newest first by default",
)
async def list_my_transactions(
    user: CurrentUser,
    db: Db,
    page: Annotated[PageParams, Depends(strict_page_params(default_limit=20))],
    types: Annotated[list[TxType] | None, Query(alias="types[]")] = None,
    statuses: Annotated[list[TxStatus] | None, Query(alias="statuses[]")] = None,
    direction: Direction | None = None,
    date_from: Annotated[datetime | None, Query(alias="from", description="inclusive, ISO-8601")] = None,
    date_to: Annotated[datetime | None, Query(alias="to", description="inclusive, ISO-8601")] = None,
    sort: SortOrder = SortOrder.desc,
) -> Response:
    """The caller's credit movements (funding, refunds, rentals, revenue), filtered by `types[]`,
    `statuses[]`, `direction` and the inclusive `from`/`to` dates, sorted on `occurredAt` (`sort`),
    paginated with `page`/`limit` (at most 100).
    """
    data = await UserService(db).transactions(
        user.id,
        page,
        types=types,
        statuses=statuses,
        direction=direction,
        date_from=date_from,
        date_to=date_to,
        sort=sort,
    )
    return ok(data)
