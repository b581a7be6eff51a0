"""Discovery, schedules, history and For You (`/api/v1/live-stream`, upcoming also under `/api/v2`).

Fixed paths only: this router is included before the live-stream `/{id}` routes.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.core.clock import Now
from app.core.envelope import Envelope, error_responses, ok
from app.core.pagination import ClampedPage, Page
from app.core.types import ObjectIdStr
from app.feeds.dependencies import Feeds, HistoryPage
from app.feeds.schemas import (
    MAX_WINDOW_HOURS,
    MAX_WINDOW_MINUTES,
    CatchStreamer,
    ForYouSection,
    UpcomingLiveStream,
)
from app.live_streams.schemas import LiveStream
from app.users.auth import CurrentUser, OptionalUser

router = APIRouter(prefix="/api/v1/live-stream")
v2_router = APIRouter(prefix="/api/v2/live-stream")

STREAMS = Envelope[list[LiveStream]]
UPCOMING = Envelope[list[UpcomingLiveStream]]
STREAM_PAGE = Envelope[Page[LiveStream]]

Limit = Annotated[int, Query(ge=1, le=100, description="At most this many streams.")]
Hours = Annotated[int, Query(ge=0, le=MAX_WINDOW_HOURS)]
Minutes = Annotated[int, Query(ge=0, le=MAX_WINDOW_MINUTES)]


@router.get(
    "/catch-streamers",
    tags=["Discovery"],
    response_model=Envelope[list[CatchStreamer]],
    responses=error_responses(400),
    summary="Creators of the most recently started active streams",
)
async def list_catch_streamers(
    feeds: Feeds,
    limit: Annotated[
        int, Query(ge=1, le=100, description="Number of streamers (at most 100, like every list).")
    ] = 10,
) -> Response:
    """Creators of the most recently started `active` streams, up to `limit` (at most 100). No token
    needed.
    """
    return ok(await feeds.catch_streamers(limit))


@router.get(
    "/featured",
    tags=["Discovery"],
    response_model=STREAMS,
    summary="Up to 10 active streams with the most viewers",
)
async def list_featured_streams(feeds: Feeds) -> Response:
    """Up to 10 `active` streams with the most viewers. No token needed."""
    return ok(await feeds.featured())


@router.get(
    "/my-past-streams",
    tags=["Discovery"],
    response_model=STREAMS,
    responses=error_responses(400, 401),
    summary="The caller's ended streams, newest first",
)
async def list_my_past_streams(user: CurrentUser, feeds: Feeds, limit: Limit = 10) -> Response:
    """The caller's `ended` streams, newest first, up to `limit` (at most 100)."""
    return ok(await feeds.past_streams(user.id, user, limit))


@router.get(
    "/user/{userId}/past-streams",
    tags=["Discovery"],
    response_model=STREAMS,
    responses=error_responses(400, 401),
    summary="A user's ended streams, newest first (optional auth)",
)
async def list_user_past_streams(
    userId: ObjectIdStr, user: OptionalUser, feeds: Feeds, limit: Limit = 10
) -> Response:
    """The given user's `ended` streams, newest first, up to `limit` (at most 100). Anonymous callers are
    allowed.
    """
    return ok(await feeds.past_streams(userId, user, limit))


@router.get(
    "/my-upcoming-live-streams",
    tags=["Schedule & reminders"],
    response_model=UPCOMING,
    responses=error_responses(400, 401),
    summary="The caller's current and upcoming streams (as creator, guest or broadcaster)",
)
async def list_my_upcoming_streams(
    user: CurrentUser,
    feeds: Feeds,
    now: Now,
    limit: Limit = 10,
    hoursBefore: Hours = 24,
    hoursAfter: Hours = 24,
) -> Response:
    """The caller's current and upcoming streams (as creator, guest or broadcaster) in a window of
    `hoursBefore` hours back and `hoursAfter` hours ahead, soonest first, up to `limit`.
    """
    window = {"before": timedelta(hours=hoursBefore), "after": timedelta(hours=hoursAfter)}
    return ok(await feeds.upcoming(user.id, user, limit=limit, now=now, **window))


@router.get(
    "/user/{userId}/upcoming-live-streams",
    tags=["Schedule & reminders"],
    response_model=UPCOMING,
    responses=error_responses(400, 401),
    summary="A user's current and upcoming streams, window in hours (optional auth)",
)
async def list_user_upcoming_streams(
    userId: ObjectIdStr,
    user: OptionalUser,
    feeds: Feeds,
    now: Now,
    limit: Limit = 10,
    hoursBefore: Hours = 24,
    hoursAfter: Hours = 24,
) -> Response:
    """The given user's current and upcoming streams in a window of `hoursBefore`/`hoursAfter` hours,
    soonest first, up to `limit`. Anonymous callers are allowed.
    """
    window = {"before": timedelta(hours=hoursBefore), "after": timedelta(hours=hoursAfter)}
    return ok(await feeds.upcoming(userId, user, limit=limit, now=now, **window))


@v2_router.get(
    "/user/{userId}/upcoming-live-streams",
    tags=["Schedule & reminders"],
    response_model=UPCOMING,
    responses=error_responses(400, 401),
    summary="A user's current and upcoming streams, window in minutes (optional auth)",
)
async def list_user_upcoming_streams_v2(
    userId: ObjectIdStr,
    user: OptionalUser,
    feeds: Feeds,
    now: Now,
    limit: Limit = 10,
    minutesBefore: Minutes = 1440,
    minutesAfter: Minutes = 1440,
) -> Response:
    """As the v1 endpoint, with the window in minutes (`minutesBefore`/`minutesAfter`). Anonymous callers
    are allowed.
    """
    window = {"before": timedelta(minutes=minutesBefore), "after": timedelta(minutes=minutesAfter)}
    return ok(await feeds.upcoming(userId, user, limit=limit, now=now, **window))


@router.get(
    "/my-broadcasted-streams",
    tags=["Discovery"],
    response_model=STREAM_PAGE,
    responses=error_responses(400, 401),
    summary="Ended streams the caller hosted or joined as guest, newest first",
)
async def list_my_broadcasted_streams(user: CurrentUser, feeds: Feeds, page: HistoryPage) -> Response:
    """Ended streams the caller hosted or joined as guest, newest first, paginated with `page`/`limit` (at
    most 100).
    """
    return ok(await feeds.broadcasted(user, page))


@router.get(
    "/my-watched-streams",
    tags=["Discovery"],
    response_model=STREAM_PAGE,
    responses=error_responses(400, 401),
    summary="Ended streams the caller watched as audience, newest first",
)
async def list_my_watched_streams(user: CurrentUser, feeds: Feeds, page: HistoryPage) -> Response:
    """Ended streams the caller watched as audience, newest first, paginated with `page`/`limit` (at most
    100).
    """
    return ok(await feeds.watched(user, page))


@router.get(
    "/for-you/live",
    tags=["Discovery"],
    response_model=STREAM_PAGE,
    responses=error_responses(400, 401),
    summary="For You: active streams in the caller's interests, most recently started first",
)
async def list_for_you_live(user: CurrentUser, feeds: Feeds, page: ClampedPage) -> Response:
    """For You: `active` streams in the caller's interests, most recently started first, paginated with
    `page`/`limit` (at most 100).
    """
    return ok(await feeds.for_you(user, ForYouSection.live, page))


@router.get(
    "/for-you/scheduled",
    tags=["Discovery"],
    response_model=STREAM_PAGE,
    responses=error_responses(400, 401),
    summary="For You: scheduled streams in the caller's interests, soonest first",
)
async def list_for_you_scheduled(user: CurrentUser, feeds: Feeds, page: ClampedPage) -> Response:
    """For You: `scheduled` streams in the caller's interests, soonest first, paginated with `page`/`limit`
    (at most 100).
    """
    return ok(await feeds.for_you(user, ForYouSection.scheduled, page))


@router.get(
    "/for-you/crowdfunding",
    tags=["Discovery"],
    response_model=STREAM_PAGE,
    responses=error_responses(400, 401),
    summary="For You: scheduled streams with a funding goal in the caller's interests, soonest first",
)
async def list_for_you_crowdfunding(user: CurrentUser, feeds: Feeds, page: ClampedPage) -> Response:
    """For You: `scheduled` streams with a funding goal in the caller's interests, soonest first, paginated
    with `page`/`limit` (at most 100).
    """
    return ok(await feeds.for_you(user, ForYouSection.crowdfunding, page))
