"""Typed dependencies of the superlike endpoint."""

from typing import Annotated

from fastapi import Depends

from app.core.db import Db
from app.superlikes.service import SuperlikeService


async def get_superlikes(db: Db) -> SuperlikeService:
    return SuperlikeService(db)


Superlikes = Annotated[SuperlikeService, Depends(get_superlikes)]
