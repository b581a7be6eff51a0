"""Typed dependency for the ban service (`shared` per database handle)."""

from typing import Annotated

from fastapi import Depends
from starlette.datastructures import State

from app.bans.service import BanService
from app.core.dependencies import shared


def _bans(state: State) -> BanService:
    return BanService(state.db)


Bans = Annotated[BanService, Depends(shared(_bans))]
