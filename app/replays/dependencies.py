"""Typed dependencies of the replay endpoints."""

from typing import Annotated

from fastapi import Depends

from app.live_streams.dependencies import StreamService
from app.replays.service import ReplayService


async def get_replay_service(streams: StreamService) -> ReplayService:
    return ReplayService(streams.db, streams.presenter)


Replays = Annotated[ReplayService, Depends(get_replay_service)]
