"""`/api/v1/live-stream/{streamId}/chat`: read and post a stream's chat messages."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from app.chat.dependencies import Chat
from app.chat.schemas import ChatMessage, ChatMessageIn, ChatPage
from app.core.envelope import Envelope, error_responses, ok
from app.core.pagination import PageParams, strict_page_params
from app.core.types import ObjectIdStr
from app.users.auth import CurrentUser

router = APIRouter(prefix="/api/v1/live-stream/{streamId}/chat", tags=["Chat"])

StreamId = Annotated[
    ObjectIdStr,
    Path(
        description="The live stream's id (`id` of a live stream, e.g. from `GET /api/v1/live-stream/featured`)."
    ),
]


@router.get(
    "/messages",
    response_model=Envelope[ChatPage],
    responses=error_responses(400, 401, 403, 404),
    summary="A stream's chat messages, newest first",
)
async def list_chat_messages(
    streamId: StreamId,
    user: CurrentUser,
    chat: Chat,
    page: Annotated[PageParams, Depends(strict_page_params(default_limit=30))],
) -> Response:
    """The stream's chat, newest first, `page` (from 1) and `limit` (30 by default, at most 100). Any
    signed-in user may read the chat of a stream that is not deleted, in any state: ended streams keep
    their chat (replay chat). A user banned from the stream with `BLOCK` gets 403.
    """
    return ok(await chat.list_messages(streamId, user, page))


@router.post(
    "/messages",
    status_code=201,
    response_model=Envelope[ChatMessage],
    responses=error_responses(400, 401, 403, 404, 409, 429),
    summary="Post a chat message to an active stream",
)
async def post_chat_message(
    streamId: StreamId, body: ChatMessageIn, user: CurrentUser, chat: Chat
) -> Response:
    """Post `content` (trimmed, 1–500 characters, one line, no control characters; 400
    otherwise) to an `active` stream (409 otherwise). Users banned from the stream (`BLOCK` or
    `CHAT_ONLY`) get 403. At most 5 messages per 10 seconds per user and stream: beyond that 429 with a
    `Retry-After` header (seconds).
    """
    return ok(await chat.post_message(streamId, user, body.content), 201)
