"""Chat shapes (docs/contract.md, "Pagination"; rules: docs/community.md) and the content rules
shared by REST and sockets."""

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from app.live_streams.schemas import CleanLine
from app.users.schemas import UserSummary, user_summary

CONTENT_MAX_CHARS = 500
# Raw bodies beyond this are refused before trimming (the trimmed text is at most CONTENT_MAX_CHARS).
CONTENT_MAX_RAW_CHARS = 2000
_ONE_LINE: TypeAdapter[str] = TypeAdapter(CleanLine)


def clean_content(raw: str) -> str:
    """Trimmed, 1..CONTENT_MAX_CHARS characters (Unicode code points), no control characters,
    direction overrides or U+FFFD. Raises ValueError with the reason."""
    try:
        content = _ONE_LINE.validate_python(raw)  # the shared one-line text rule (trims, refuses controls)
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    if not content:
        raise ValueError("must not be blank")
    if len(content) > CONTENT_MAX_CHARS:
        raise ValueError(f"must be at most {CONTENT_MAX_CHARS} characters after trimming")
    return content


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: Annotated[str, StringConstraints(max_length=CONTENT_MAX_RAW_CHARS)] = Field(
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
