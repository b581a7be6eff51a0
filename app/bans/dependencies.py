"""Typed dependency for the ban service."""

from typing import Annotated

from fastapi import Depends

from app.bans.service import BanService
from app.core.db import Db


async def get_bans(db: Db) -> BanService:
    return BanService(db)


Bans = Annotated[BanService, Depends(get_bans)]
