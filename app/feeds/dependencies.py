"""Typed dependencies of the feed endpoints."""

from typing import Annotated

from fastapi import Depends

from app.core.pagination import PageParams, strict_page_params
from app.feeds.service import FeedService, ParticipantViewerCounts
from app.live_streams.dependencies import StreamService


async def get_feed_service(streams: StreamService) -> FeedService:
    return FeedService(streams.db, streams.presenter, ParticipantViewerCounts(streams.db))


Feeds = Annotated[FeedService, Depends(get_feed_service)]
HistoryPage = Annotated[PageParams, Depends(strict_page_params(default_limit=10))]
