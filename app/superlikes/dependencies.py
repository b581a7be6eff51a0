"""Typed dependencies of the superlike endpoint (services `shared` per database handle)."""

from typing import Annotated

from bson import ObjectId
from fastapi import Depends
from starlette.datastructures import State

from app.bans.service import active_ban, refuses_chat
from app.core.dependencies import shared
from app.superlikes.service import SuperlikeService


def _superlikes(state: State) -> SuperlikeService:
    db = state.db

    async def is_banned(stream_id: ObjectId, user_id: ObjectId) -> bool:
        return refuses_chat(await active_ban(db, stream_id, user_id))

    return SuperlikeService(db, is_banned)


Superlikes = Annotated[SuperlikeService, Depends(shared(_superlikes))]
