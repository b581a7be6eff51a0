"""Typed dependencies of the feed endpoints."""

from typing import Annotated

from fastapi import Depends

from app.core.db import Db
from app.core.pagination import PageParams, strict_page_params
from app.feeds.service import FeedService, ParticipantViewerCounts
from app.live_streams.dependencies import Presenter


async def get_feed_service(db: Db, presenter: Presenter) -> FeedService:
    return FeedService(db, presenter, ParticipantViewerCounts(db))


Feeds = Annotated[FeedService, Depends(get_feed_service)]
HistoryPage = Annotated[PageParams, Depends(strict_page_params(default_limit=10))]
