"""Typed dependencies of the creator endpoints (services `shared` per database handle)."""

from typing import Annotated

from fastapi import Depends
from starlette.datastructures import State

from app.core.dependencies import shared
from app.creators.service import CreatorService, RankingService


def _creators(state: State) -> CreatorService:
    return CreatorService(state.db)


def _rankings(state: State) -> RankingService:
    return RankingService(state.db, state.settings.ranking_max_age_seconds, state.ranking_lock)


Creators = Annotated[CreatorService, Depends(shared(_creators))]
Rankings = Annotated[RankingService, Depends(shared(_rankings))]
