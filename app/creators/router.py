"""Creator endpoints: most-watched creators (`/api/v1/live-stream/most-watched-creators`) and user
stats (`/api/v1/users/{userId}/stats`).

`router` holds a fixed `/live-stream` path, so it is included before the live streams' `/{id}` routes.
"""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.core.envelope import Envelope, error_responses, ok
from app.core.types import ObjectIdStr
from app.creators.dependencies import Creators, Rankings
from app.creators.schemas import MostWatchedCreator, UserStats
from app.users.auth import CurrentUser, OptionalUser

router = APIRouter(prefix="/api/v1")


@router.get(
    "/live-stream/most-watched-creators",
    tags=["Audience"],
    response_model=Envelope[list[MostWatchedCreator]],
    responses=error_responses(400, 401, 403, 500),
    summary="Creators ranked by unique viewers over the last 30 days (optional auth)",
)
async def list_most_watched_creators(
    user: OptionalUser,
    rankings: Rankings,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """Creators ranked by unique viewers over the last 30 days, up to `limit`. Anonymous callers are
    allowed; with a token, `isFollowing` tells whether the caller follows each creator (otherwise
    `null`). Served from a ranking snapshot at most `RANKING_MAX_AGE_SECONDS` old.
    """
    return ok(await rankings.most_watched_creators(user, limit))


@router.get(
    "/users/{userId}/stats",
    tags=["Users"],
    response_model=Envelope[UserStats],
    responses=error_responses(400, 401, 404),
    summary="Follower, following and live-stream counts of a user",
)
async def get_user_stats(userId: ObjectIdStr, _: CurrentUser, creators: Creators) -> Response:
    """A user's follower, following and live-stream counts. Any signed-in user."""
    return ok(await creators.stats(userId))
