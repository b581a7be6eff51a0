"""Chat rules, shared by the REST endpoints and a Socket.IO handler: who may read and post, content,
rate limit, and the `on_message` publish hook for realtime fan-out."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from bson import ObjectId

from app.bans.service import BANNED, active_ban, refuses_chat, refuses_join
from app.chat.rate_limit import ChatRateLimiter, RateLimit
from app.chat.repository import ChatMessageRepository
from app.chat.schemas import clean_content, message_out
from app.core.errors import Conflict, ErrorCode, Forbidden, ValidationFailed
from app.core.pagination import PageParams
from app.core.security import AuthenticatedUser
from app.core.timeutils import utcnow
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import LiveStreamStatus
from app.users.repository import UserRepository

log = structlog.get_logger("app.chat")

# Called with each new message (the same dict the REST answer carries) once it is stored.
OnMessage = Callable[[dict[str, Any]], Awaitable[None]]


class ChatService:
    def __init__(
        self,
        db: Any,
        *,
        clock: Callable[[], datetime] = utcnow,
        on_message: OnMessage | None = None,
        rate_limit: RateLimit = RateLimit(),
    ) -> None:
        self.db = db
        self.messages = ChatMessageRepository(db)
        self.streams = LiveStreamRepository(db)
        self.users = UserRepository(db)
        self.limiter = ChatRateLimiter(db, rate_limit, clock)
        self.clock = clock
        self.on_message = on_message

    async def list_messages(
        self, stream_id: ObjectId, caller: AuthenticatedUser, page: PageParams
    ) -> dict[str, Any]:
        """Newest first. Any stream that is not deleted, ended ones included (replay chat); a user
        with a BLOCK ban on the stream may not read it."""
        await self.streams.get_or_404(stream_id)
        if refuses_join(await active_ban(self.db, stream_id, caller.id)):
            raise Forbidden(BANNED, code=ErrorCode.BANNED)
        docs, total = await self.messages.page_of_stream(stream_id, page.skip, page.limit)
        senders = await self.users.summaries([doc["senderId"] for doc in docs])
        pagination = page.pagination(total)
        return {
            "messages": [message_out(doc, senders.get(doc["senderId"])) for doc in docs],
            "page": page.page,
            "limit": page.limit,
            "total": total,
            "totalPages": pagination["totalPages"],
            "hasNextPage": pagination["hasNextPage"],
            "hasPreviousPage": pagination["hasPrevPage"],  # Allmine's chat name
            "hasPrevPage": pagination["hasPrevPage"],  # the name of every other paged list
        }

    async def post_message(
        self, stream_id: ObjectId, sender: AuthenticatedUser, content: str
    ) -> dict[str, Any]:
        """Store one message: 400 bad content, 404 unknown stream, 403 banned (BLOCK or CHAT_ONLY),
        409 stream not active, 429 over the rate limit (`Retry-After`)."""
        try:
            text = clean_content(content)
        except ValueError as exc:
            raise ValidationFailed(f"content: {exc}") from None
        stream = await self.streams.get_or_404(stream_id)
        if refuses_chat(await active_ban(self.db, stream_id, sender.id)):
            raise Forbidden(BANNED, code=ErrorCode.BANNED)
        if stream["status"] != LiveStreamStatus.active:
            raise Conflict(
                f"the stream is {stream['status']}: chat is open while it is active only",
                code=ErrorCode.INVALID_STREAM_STATE,
            )
        await self.limiter.hit(sender.id, stream_id)
        doc = await self.messages.create(stream_id, sender.id, text, self.clock())
        message = message_out(doc, sender.doc)
        if self.on_message is not None:
            try:
                await self.on_message(message)
            except Exception:  # a failed broadcast must not lose or fail a stored message
                log.exception("chat_publish_failed", stream_id=str(stream_id))
        return message
