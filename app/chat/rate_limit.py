"""Per-user, per-stream chat rate limit shared by every replica (a MongoDB counter per window).

Fixed windows of `window_seconds`: the n-th message of a (user, stream) in the current window is
refused with 429 when n > `max_messages`, with `Retry-After` = seconds until the window ends. The
count lives in MongoDB (`chat_rate_windows`, one `$inc` upsert per message), so N replicas enforce one
shared limit; windows expire through a TTL index. The clock is injected (tests pin it). A fixed window
lets a sender put at most 2 × `max_messages` into any `window_seconds` straddling a boundary; that
is enough against floods and costs one write per message (docs/community.md).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from app.chat.repository import ChatRateWindowRepository
from app.core.errors import RateLimited
from app.core.timeutils import utcnow


@dataclass(frozen=True, slots=True)
class RateLimit:
    max_messages: int = 5
    window_seconds: int = 10


class ChatRateLimiter:
    def __init__(
        self, db: Any, limit: RateLimit = RateLimit(), clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.windows = ChatRateWindowRepository(db)
        self.limit = limit
        self.clock = clock

    async def hit(self, user_id: ObjectId, stream_id: ObjectId) -> None:
        """Count one message; raises `RateLimited` (429, `Retry-After`) beyond the limit."""
        now = self.clock().timestamp()
        size = self.limit.window_seconds
        start = math.floor(now / size) * size
        end = datetime.fromtimestamp(start + size, UTC)
        count = await self.windows.hit(f"{user_id}:{stream_id}:{start}", end + timedelta(seconds=size))
        if count > self.limit.max_messages:
            retry_after = max(1, math.ceil(start + size - now))
            raise RateLimited(
                f"at most {self.limit.max_messages} messages per {size} seconds in a stream; "
                f"retry in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
