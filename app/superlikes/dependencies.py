"""Typed dependencies of the superlike endpoint."""

from typing import Annotated

from bson import ObjectId
from fastapi import Depends

from app.bans.service import active_ban, refuses_chat
from app.core.db import Db
from app.superlikes.service import SuperlikeService


async def get_superlikes(db: Db) -> SuperlikeService:
    async def is_banned(stream_id: ObjectId, user_id: ObjectId) -> bool:
        return refuses_chat(await active_ban(db, stream_id, user_id))

    return SuperlikeService(db, is_banned)


Superlikes = Annotated[SuperlikeService, Depends(get_superlikes)]
