"""Typed dependencies of the replay endpoints."""

from typing import Annotated

from fastapi import Depends

from app.core.db import Db
from app.live_streams.dependencies import Presenter
from app.replays.service import ReplayService


async def get_replay_service(db: Db, presenter: Presenter) -> ReplayService:
    return ReplayService(db, presenter)


Replays = Annotated[ReplayService, Depends(get_replay_service)]
