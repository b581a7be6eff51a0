"""The Socket.IO contract: every namespace, its client events (payload, ack) and server events (payload).

One registry for the server and its reference: `Realtime.emit` refuses a server event a namespace does
not declare, each namespace's `on_<event>` handlers are exactly its declared client events, and
`/asyncapi.json` (`app.realtime.asyncapi`) is generated from them; the realtime tests validate what
real sockets receive against that document. Chat messages, superlikes, join and leave reuse the
REST schemas: a socket event carries exactly what REST's `data` would.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.bans.schemas import BanAction
from app.chat.schemas import ChatMessage
from app.core.errors import ErrorCode
from app.live_streams.schemas import JoinResult, LiveStream, LiveStreamStatus
from app.realtime.rooms import CHAT_NS, LIVE_NS, STATUS_NS
from app.superlikes.schemas import Superlike

STREAM_ID = Field(
    pattern=r"^[0-9a-fA-F]{24}$",
    description="The live stream's id (`id` of any live-stream answer).",
    examples=["64d15f9e2e6c8f4d5a123456"],
)


# --- client payloads --------------------------------------------------------------------------------------


class StreamRef(BaseModel):
    """The stream an event is about."""

    model_config = ConfigDict(title="StreamRef")
    streamId: str = STREAM_ID


class SendMessage(BaseModel):
    """A chat message to post in a stream the socket joined."""

    content: str = Field(
        description="One line, 1–500 characters after trimming, under the text policy (REST's rules).",
        examples=["Hello from Istanbul!"],
    )
    streamId: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{24}$",
        description="Needed only when the socket is in several streams.",
    )


# --- ack data ---------------------------------------------------------------------------------------------


class JoinAck(JoinResult):
    """A signed-in viewer's join: REST `join`'s data plus `resumed` and `viewerCount`."""

    resumed: bool = Field(
        description="`true` when another socket of the user (or a reconnect within the grace period) "
        "already holds the participation: it goes on, no new join is recorded."
    )
    viewerCount: int


class ListenAck(BaseModel):
    """An anonymous socket, the creator or a guest: the stream and its audience, no participation."""

    liveStream: LiveStream
    viewerCount: int


class LeaveAck(BaseModel):
    """REST `leave`'s data; nulls when another socket of the user still holds the participation."""

    streamId: str
    leftAt: datetime | None
    watchTimeSeconds: int | None


class Unsubscribed(BaseModel):
    streamId: str


class AckError(BaseModel):
    """A refused event: REST's status, texts (`message` = REST `errors[0]`) and error code."""

    ok: Literal[False]
    statusCode: int = Field(examples=[409])
    message: str = Field(examples=["Resource already exists or cannot be changed in its current state"])
    errors: list[str] = Field(
        examples=[
            [
                "Resource already exists or cannot be changed in its current state",
                "the stream is ended and cannot be joined",
            ]
        ]
    )
    code: ErrorCode = Field(
        description='REST\'s machine-readable error code for the same failure (docs/contract.md, "Error codes").',
        examples=["INVALID_STREAM_STATE"],
    )


# --- server events ----------------------------------------------------------------------------------------


class StreamStatusEvent(BaseModel):
    """The stream's state now (also the `subscribe` ack)."""

    streamId: str
    status: LiveStreamStatus
    startedAt: datetime | None
    endedAt: datetime | None
    updatedAt: datetime | None
    deletedAt: datetime | None = Field(description="Set when the stream was deleted (status unchanged).")


class RecordingReadyEvent(BaseModel):
    streamId: str
    recordingUrl: str | None


class ViewerCountEvent(BaseModel):
    streamId: str
    viewerCount: int


class BannedEvent(BaseModel):
    streamId: str
    actionType: BanAction


class TokenExpiredEvent(BaseModel):
    """The socket's access token expired; the server disconnects it right after: connect again with a
    fresh token."""

    reason: Literal["tokenExpired"]
    message: str = Field(examples=["the access token expired: reconnect with a fresh token"])


# --- the registry -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientEvent:
    name: str
    summary: str
    payload: type[BaseModel]
    ack: list[type[BaseModel]]  # the ack's `data`: one of these
    errors: dict[int, str]  # status → when


@dataclass(frozen=True)
class ServerEvent:
    name: str
    summary: str
    payload: type[BaseModel]


@dataclass(frozen=True)
class Namespace:
    path: str
    description: str
    client_events: list[ClientEvent] = field(default_factory=list)
    server_events: list[ServerEvent] = field(default_factory=list)

    def server_event(self, name: str) -> ServerEvent | None:
        return next((event for event in self.server_events if event.name == name), None)


# Every client event may also answer these (docs/security.md, "Realtime limits").
# Refused payloads (400, 413) and event names not declared here (404 `unknown event`) are strikes: 20
# within 10 s disconnect the socket; packets that are not Socket.IO close the connection.
COMMON_ERRORS = {
    400: "the payload is not one JSON object (or not JSON text, e.g. a lone surrogate), nests over 8 "
    "levels, or `streamId` is not a 24-character hex id",
    401: "the socket's access token expired (`tokenExpired` follows, then the server disconnects)",
    413: "the payload is over 8 KiB",
    429: "over the event rate (10/s, burst 20) or the streams-per-socket limit (10)",
    500: "unexpected failure (logged, no detail)",
}

_JOIN = ClientEvent(
    "joinStream",
    "Join a live stream: a signed-in viewer's participation (REST join's rules), or listening only.",
    StreamRef,
    [JoinAck, ListenAck],
    {
        400: "a paid stream and not enough credits",
        403: "BLOCK-banned from the stream",
        404: "unknown or deleted stream",
        409: "the stream is not active",
    },
)
_LEAVE = ClientEvent(
    "leaveStream",
    "Leave a stream the socket joined (closes the participation when it was the user's last socket).",
    StreamRef,
    [LeaveAck],
    {409: "`you are not in this stream`"},
)
_TOKEN_EXPIRED = ServerEvent(
    "tokenExpired",
    "The socket's access token expired (on every namespace of a signed-in connection); the server "
    "disconnects it right after.",
    TokenExpiredEvent,
)
_BANNED = ServerEvent(
    "banned",
    "The user was banned from the stream (to that user's sockets in it); BLOCK also takes them out "
    "of its rooms.",
    BannedEvent,
)

NAMESPACES: dict[str, Namespace] = {
    STATUS_NS: Namespace(
        STATUS_NS,
        "A stream's status changes and recording, for anyone subscribed.",
        client_events=[
            ClientEvent(
                "subscribe",
                "Receive the stream's status changes; the ack is its current status.",
                StreamRef,
                [StreamStatusEvent],
                {404: "unknown or deleted stream"},
            ),
            ClientEvent("unsubscribe", "Stop receiving the stream's events.", StreamRef, [Unsubscribed], {}),
        ],
        server_events=[
            ServerEvent(
                "liveStreamStatus",
                "Every status change of the stream (start, end, cancel, expiry) and its soft delete.",
                StreamStatusEvent,
            ),
            ServerEvent(
                "recordingReady",
                "The recording was collected; only to signed-in subscribers entitled to it (creator, "
                "guests, broadcasters, active renters).",
                RecordingReadyEvent,
            ),
            _TOKEN_EXPIRED,
        ],
    ),
    LIVE_NS: Namespace(
        LIVE_NS,
        "Presence in a live stream: joining records the participation; viewer counts.",
        client_events=[_JOIN, _LEAVE],
        server_events=[
            ServerEvent(
                "viewerCount",
                "The present audience changed; at most once per second per stream, only when the number "
                "changed.",
                ViewerCountEvent,
            ),
            _BANNED,
            _TOKEN_EXPIRED,
        ],
    ),
    CHAT_NS: Namespace(
        CHAT_NS,
        "Chat inside a live stream: presence as on `/live-stream`, messages and superlikes.",
        client_events=[
            _JOIN,
            _LEAVE,
            ClientEvent(
                "sendMessage",
                "Post a chat message (REST's rules: content, bans, 5 per 10 s per user and stream).",
                SendMessage,
                [ChatMessage],
                {
                    400: "`content` refused by the text policy (blank or only zero-width characters, over "
                    "500 characters or 1500 bytes, control characters, direction controls, U+2028/U+2029, "
                    "invalid text); `streamId` missing while the socket is in several streams",
                    401: "anonymous socket",
                    403: "banned (BLOCK or CHAT_ONLY)",
                    409: "the stream is not active, or the socket has not joined it (`join the stream first "
                    "(joinStream), then send messages`)",
                    429: "over the chat limit (5 messages per 10 s per user and stream, REST included)",
                },
            ),
        ],
        server_events=[
            ServerEvent(
                "chatMessage",
                "A message was stored (REST or `sendMessage`); to the stream's room, the sender included.",
                ChatMessage,
            ),
            ServerEvent("superlike", "A superlike was paid; to the stream's room.", Superlike),
            _BANNED,
            _TOKEN_EXPIRED,
        ],
    ),
}


SERVER_EVENTS = {path: frozenset(e.name for e in ns.server_events) for path, ns in NAMESPACES.items()}
CLIENT_EVENTS = {path: frozenset(e.name for e in ns.client_events) for path, ns in NAMESPACES.items()}
