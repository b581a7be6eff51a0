"""Typed dependencies of the creator endpoints."""

from typing import Annotated

from fastapi import Depends, Request

from app.core.db import Db
from app.core.dependencies import SettingsDep
from app.creators.service import CreatorService, RankingService


async def get_creator_service(db: Db) -> CreatorService:
    return CreatorService(db)


async def get_ranking_service(request: Request, db: Db, settings: SettingsDep) -> RankingService:
    return RankingService(db, settings.ranking_max_age_seconds, request.app.state.ranking_lock)


Creators = Annotated[CreatorService, Depends(get_creator_service)]
Rankings = Annotated[RankingService, Depends(get_ranking_service)]
