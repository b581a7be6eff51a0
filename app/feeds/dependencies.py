"""Typed dependencies of the feed endpoints."""

from typing import Annotated

from fastapi import Depends, Request

from app.core.db import Db
from app.core.dependencies import SettingsDep
from app.core.pagination import PageParams, strict_page_params
from app.feeds.service import FeedService, ParticipantViewerCounts
from app.live_streams.dependencies import Presenter


async def get_feed_service(
    request: Request, db: Db, presenter: Presenter, settings: SettingsDep
) -> FeedService:
    """Featured is served from a snapshot refreshed with the most-watched ranking (RANKING_MAX_AGE_SECONDS)."""
    return FeedService(
        db,
        presenter,
        ParticipantViewerCounts(db),
        max_age_seconds=settings.ranking_max_age_seconds,
        refresh_lock=request.app.state.featured_lock,
    )


Feeds = Annotated[FeedService, Depends(get_feed_service)]
HistoryPage = Annotated[PageParams, Depends(strict_page_params(default_limit=10))]
