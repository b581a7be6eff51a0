"""What the OpenAPI document says about the API as a whole: tag groups and shared parameter texts.

Routes pick their tag with `tags=[...]` in their decorator; every tag used must be listed here (a
test checks it), in the order the playground shows them. `app.core.openapi` applies the parameter
texts to parameters their route leaves undescribed.
"""

from typing import Any

OPENAPI_TAGS: list[dict[str, Any]] = [
    {
        "name": "Streams",
        "description": "Create, read, list, cancel and delete live streams. Creating needs a token; "
        "a user has at most one active stream.",
    },
    {
        "name": "Lifecycle",
        "description": "Go live and end the broadcast (creator only): `scheduled`/`preparing` → "
        "`active` → `ended`. Starting opens the AIOZ session; ending collects the recording.",
    },
    {
        "name": "Funding",
        "description": "Crowd-fund scheduled streams with credits. Funding is idempotent with an "
        "`Idempotency-Key` header; cancelled or expired streams refund their funders.",
    },
    {
        "name": "Audience",
        "description": "Join as viewer, guest or creator (Agora RTC tokens), leave, list the "
        "audience, count viewers and rank creators by viewers.",
    },
    {
        "name": "Discovery",
        "description": "Lists for discovery screens: featured, catch-streamers, past streams, "
        "viewing history and the For You sections.",
    },
    {
        "name": "Schedule & reminders",
        "description": "Current and upcoming streams of a user, and reminders that fire once before "
        "a scheduled stream starts.",
    },
    {
        "name": "Replays",
        "description": "Replay visibility and price (creator), the caller's access to a replay and "
        "24-hour replay rentals paid with credits (idempotent with `Idempotency-Key`).",
    },
    {
        "name": "Chat",
        "description": "Inside a live stream: chat messages (readable after the end; posting while "
        "active, 5 per 10 seconds per user) and superlikes (10 credits to the creator, idempotent "
        "with `Idempotency-Key`).",
    },
    {
        "name": "Bans",
        "description": "A creator bans users from a stream: `BLOCK` (no joining, no chat) or "
        "`CHAT_ONLY` (no chat, no superlikes); list, check and lift bans.",
    },
    {
        "name": "Participants",
        "description": "Audience statistics of a stream for its creator and guests.",
    },
    {"name": "Follows", "description": "Follow and unfollow users."},
    {"name": "Users", "description": "User statistics and the caller's credit history."},
    {
        "name": "Development",
        "description": "Create users and mint tokens. Development and test only; never mounted in "
        "production.",
    },
    {"name": "Operations", "description": "Liveness and readiness probes."},
]

PARAMETER_DESCRIPTIONS: dict[str, str] = {
    "id": "The live stream's id (`id` of any live-stream answer, e.g. from "
    "`GET /api/v1/live-stream/featured` or `POST /api/v1/live-stream/create`).",
    "miniCrowdFundingId": "The mini crowd-funding's `_id` (from `GET /api/v1/live-stream/{id}/mini-crowd-fundings` "
    "or the stream's `miniCrowdFundings`).",
    "streamId": "The live stream's id (`id` of any live-stream answer, e.g. from "
    "`GET /api/v1/live-stream/featured`).",
    "userId": "The user's id (`_id` of a user summary, e.g. `creator._id` of a live stream).",
    "limit": "Page size: at most this many items.",
    "page": "Page number, starting at 1.",
    "status": "Only items in this status.",
    "sortBy": "Field to sort by.",
    "sortOrder": "Sort direction.",
    "sort": "Sort direction on the date.",
    "direction": "Only credits in (`in`) or out (`out`).",
    "types[]": "Only these transaction types (repeat the parameter for several).",
    "statuses[]": "Only these transaction statuses (repeat the parameter for several).",
    "hoursBefore": "Include streams that started up to this many hours ago.",
    "hoursAfter": "Include streams planned up to this many hours ahead.",
    "minutesBefore": "Include streams that started up to this many minutes ago.",
    "minutesAfter": "Include streams planned up to this many minutes ahead.",
    "Idempotency-Key": "Optional; any unique string (≤ 200 characters) per intended operation. "
    "Retrying with the same key returns the first answer unchanged instead of charging again; "
    "omit it for no idempotency.",
}
