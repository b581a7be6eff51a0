"""Chat shapes (docs/contract.md, "Pagination"; rules: docs/community.md) and the content rules
shared by REST and sockets."""

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.core.text import TextRule, check_text, checked
from app.users.schemas import UserSummary, user_summary

CONTENT_MAX_CHARS = 500
CHAT_MESSAGE = TextRule(max_chars=CONTENT_MAX_CHARS)


def clean_content(raw: str) -> str:
    """The one text policy (app/core/text.py), one line: trimmed, 1..CONTENT_MAX_CHARS characters
    (code points) and at most 3 bytes per character. Raises ValueError with the reason."""
    return check_text(raw, CHAT_MESSAGE)


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: Annotated[str, checked(CHAT_MESSAGE)] = Field(
        description=f"The message: one line, 1–{CONTENT_MAX_CHARS} characters after trimming, no "
        "control characters.",
        examples=["Hello from Istanbul!"],
    )


class ChatMessage(BaseModel):
    id: str = Field(alias="_id", examples=["66a0c2f1e4b0a1b2c3d4e5f7"])
    streamId: str
    content: str = Field(examples=["Hello from Istanbul!"])
    sender: UserSummary | None = Field(description="`null` when the sender's account was deleted.")
    createdAt: datetime
    updatedAt: datetime


class ChatPage(BaseModel):
    messages: list[ChatMessage]
    page: int
    limit: int
    total: int
    totalPages: int
    hasNextPage: bool
    hasPreviousPage: bool = Field(description="Allmine's chat name for `hasPrevPage`; both are sent.")
    hasPrevPage: bool = Field(description="The name every other paged list uses; equal to `hasPreviousPage`.")


def message_out(doc: dict[str, Any], sender: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "_id": doc["_id"],
        "streamId": doc["streamId"],
        "content": doc["content"],
        "sender": user_summary(sender) if sender else None,
        "createdAt": doc["createdAt"],
        "updatedAt": doc["updatedAt"],
    }
