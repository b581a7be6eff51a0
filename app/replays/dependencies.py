"""Typed dependencies of the replay endpoints (services `shared` per database handle)."""

from typing import Annotated

from fastapi import Depends
from starlette.datastructures import State

from app.core.dependencies import shared
from app.live_streams.dependencies import presenter_of
from app.replays.service import ReplayService


def _replays(state: State) -> ReplayService:
    return ReplayService(state.db, presenter_of(state))


Replays = Annotated[ReplayService, Depends(shared(_replays))]
