"""Typed dependency for the chat service: the request's clock and the realtime publish hook."""

from typing import Annotated

from fastapi import Depends, Request

from app.chat.service import ChatService
from app.core.clock import Now
from app.core.db import Db


async def get_chat(request: Request, db: Db, now: Now) -> ChatService:
    # `app.state.on_chat_message` (None until realtime wires it) is awaited with every new message.
    return ChatService(db, clock=lambda: now, on_message=request.app.state.on_chat_message)


Chat = Annotated[ChatService, Depends(get_chat)]
