"""What the OpenAPI document says about the API as a whole: tag groups, shared parameter texts and
the request examples that name demo data.

Routes pick their tag with `tags=[...]` in their decorator; every tag used must be listed here (a
test checks it), in the order the playground shows them. `app.core.openapi` applies the parameter
texts to parameters their route leaves undescribed, and the request examples by operationId.
"""

from typing import Any

from bson import ObjectId

from app.core.openapi import REQUEST_BODY, register_request_examples
from app.dev.demo import (
    CANCELLED_STREAM_ID,
    CROWD_STREAM_ID,
    DEMO_BAN_ID,
    DEMO_USER_IDS,
    ENDED_STREAM_ID,
    LIVE_STREAM_ID,
    MINI_CROWD_FUNDING_ID,
    PAID_STREAM_ID,
    SCHEDULED_STREAM_ID,
)

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
    "direction": "Only money in (`credit`) or out (`debit`).",
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


# --- request examples ------------------------------------------------------------------------------------
# Every request example works when tried unchanged in the playground against the demo data (a fresh
# `make run`), authorized as the demo user its summary names; `tests/test_openapi_examples.py` runs them
# all. Ids are the demo seed's fixed ids (`app.dev.demo`); values without ids come from the schemas.


def _demo(value: Any, summary: str) -> dict[str, Any]:
    return {"summary": summary, "value": value}


def _stream(stream_id: ObjectId, summary: str) -> dict[str, Any]:
    return _demo(str(stream_id), summary)


def _user(name: str, summary: str) -> dict[str, Any]:
    return _demo(str(DEMO_USER_IDS[name]), summary)


_LIVE = _stream(LIVE_STREAM_ID, "john's live demo stream")
_CROWD = _stream(CROWD_STREAM_ID, "ayse's scheduled, crowd-funded demo stream")
_ENDED = _stream(ENDED_STREAM_ID, "mehmet's ended demo stream, replay for 50 credits")


def _as(example: dict[str, Any], who: str) -> dict[str, Any]:
    return {**example, "summary": f"{example['summary']} (authorize as {who})"}


REQUEST_EXAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "followUser": {"userId": _user("lena", "lena (authorize as any other demo user, e.g. viewer)")},
    "unfollowUser": {"userId": _user("ayse", "ayse (authorize as a fan of hers, e.g. viewer)")},
    "getUserActiveStream": {"userId": _user("john", "john, live in the demo data")},
    "getUserStats": {"userId": _user("ayse", "ayse (demo user)")},
    "listUserPastStreams": {"userId": _user("mehmet", "mehmet, whose demo stream has ended")},
    "listUserUpcomingStreams": {"userId": _user("ayse", "ayse, with a stream planned within 24 hours")},
    "listUserUpcomingStreamsV2": {"userId": _user("ayse", "ayse, with a stream planned within 24 hours")},
    "joinLiveStream": {
        REQUEST_BODY: _demo(
            {
                "liveStreamId": str(LIVE_STREAM_ID),
                "deviceType": "iOS",
                "appVersion": "1.4.2",
                "role": "audience",
            },
            "Join john's live demo stream (authorize as a demo user other than john, e.g. ayse)",
        )
    },
    "joinLiveStreamAsGuest": {
        REQUEST_BODY: _demo(
            {"liveStreamId": str(CROWD_STREAM_ID)},
            "ayse's scheduled demo stream, to which john is invited (authorize as john)",
        )
    },
    "joinLiveStreamAsCreator": {
        REQUEST_BODY: _demo(
            {"liveStreamId": str(LIVE_STREAM_ID)}, "john's live demo stream (authorize as john)"
        )
    },
    "getLiveStream": {"id": _LIVE},
    "deleteLiveStream": {
        "id": _stream(CANCELLED_STREAM_ID, "lena's cancelled demo stream (authorize as lena)")
    },
    "cancelLiveStream": {
        "id": _stream(SCHEDULED_STREAM_ID, "lena's scheduled demo stream (authorize as lena)")
    },
    "startLiveStream": {"id": _as(_CROWD, "ayse")},
    "endLiveStream": {"id": _stream(PAID_STREAM_ID, "lena's live, paid demo stream (authorize as lena)")},
    "fundLiveStream": {"id": _as(_CROWD, "viewer")},
    "leaveLiveStream": {"id": _as(_LIVE, "viewer, who watches it")},
    "listViewers": {"id": _LIVE},
    "getViewerCount": {"id": _LIVE},
    "setReminder": {"id": _as(_CROWD, "viewer")},
    "deleteReminder": {"id": _as(_CROWD, "the user who set the reminder")},
    "updateReplaySettings": {"id": _as(_ENDED, "mehmet")},
    "getReplayStatus": {"id": _ENDED},
    "rentReplay": {"id": _as(_ENDED, "viewer")},
    "sendSuperlike": {"streamId": _as(_LIVE, "viewer")},
    "createMiniCrowdFunding": {"id": _as(_LIVE, "john")},
    "listMiniCrowdFundings": {"id": _LIVE},
    "fundMiniCrowdFunding": {
        "id": _as(_LIVE, "viewer"),
        "miniCrowdFundingId": _demo(
            str(MINI_CROWD_FUNDING_ID), "The open mini crowd-funding of john's live demo stream"
        ),
    },
    "listChatMessages": {"streamId": _LIVE},
    "postChatMessage": {"streamId": _as(_LIVE, "viewer")},
    "createBan": {
        REQUEST_BODY: _demo(
            {
                "targetUserId": str(DEMO_USER_IDS["lena"]),
                "liveStreamId": str(LIVE_STREAM_ID),
                "actionType": "CHAT_ONLY",
                "reason": "Spamming the chat",
            },
            "Ban lena from chatting in john's live demo stream (authorize as john)",
        )
    },
    "listBans": {
        "targetUserId": _user("mehmet", "mehmet, banned from chatting in john's live demo stream"),
        "liveStreamId": _as(_LIVE, "john"),
    },
    "checkBan": {
        "targetUserId": _user("mehmet", "mehmet, banned from chatting in john's live demo stream"),
        "liveStreamId": _as(_LIVE, "john"),
    },
    "deleteBan": {
        "id": _demo(str(DEMO_BAN_ID), "mehmet's ban in john's live demo stream (authorize as john)")
    },
    "getParticipantStatistics": {"streamId": _as(_LIVE, "john")},
    "createDevToken": {REQUEST_BODY: _demo({"userId": str(DEMO_USER_IDS["viewer"])}, "The demo user viewer")},
}
register_request_examples(REQUEST_EXAMPLES)
