"""Typed dependencies of the feed endpoints (services `shared` per database handle)."""

from typing import Annotated

from fastapi import Depends
from starlette.datastructures import State

from app.core.dependencies import shared
from app.core.pagination import PageParams, strict_page_params
from app.feeds.service import FeedService, ParticipantViewerCounts
from app.live_streams.dependencies import presenter_of


def _feeds(state: State) -> FeedService:
    """Featured is served from a snapshot refreshed with the most-watched ranking (RANKING_MAX_AGE_SECONDS)."""
    return FeedService(
        state.db,
        presenter_of(state),
        ParticipantViewerCounts(state.db),
        max_age_seconds=state.settings.ranking_max_age_seconds,
        refresh_lock=state.featured_lock,
    )


Feeds = Annotated[FeedService, Depends(shared(_feeds))]
HistoryPage = Annotated[PageParams, Depends(strict_page_params(default_limit=10))]
