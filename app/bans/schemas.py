"""Ban shapes (`Ban` in docs/contract.md, "Shapes") and the request bodies of
`/api/v1/live-stream-ban`."""

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.core.pagination import Pagination
from app.core.text import TextRule, checked
from app.core.types import ObjectIdStr
from app.users.schemas import UserSummary, user_summary

REASON_MAX_CHARS = 500
BAN_REASON = TextRule(max_chars=REASON_MAX_CHARS, required=False)


class BanAction(StrEnum):
    block = "BLOCK"  # no joining (audience or guest), no chat, no superlikes
    chat_only = "CHAT_ONLY"  # may watch; no chat, no superlikes


def _reason(value: str | None) -> str | None:
    return value or None  # blank = no reason


class BanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targetUserId: ObjectIdStr = Field(
        description="`_id` of the user to ban, e.g. a viewer's `_id` from `GET /api/v1/live-stream/{id}/viewers`."
    )
    liveStreamId: ObjectIdStr = Field(description="`id` of one of your streams.")
    actionType: BanAction = Field(
        description="`BLOCK`: may not join (audience or guest) and is removed from the present viewers; "
        "`CHAT_ONLY`: may watch but not chat or superlike.",
        examples=["CHAT_ONLY"],
    )
    reason: Annotated[Annotated[str, checked(BAN_REASON)] | None, AfterValidator(_reason)] = Field(
        default=None,
        description=f"Optional note (one line, at most {REASON_MAX_CHARS} characters after trimming).",
        examples=["Spamming the chat"],
    )


class Ban(BaseModel):
    id: str = Field(alias="_id", examples=["66a0c2f1e4b0a1b2c3d4e5f6"])
    targetUserId: str
    targetUser: UserSummary | None = Field(description="`null` when the account was deleted.")
    liveStreamId: str
    actionType: BanAction
    reason: str | None
    createdBy: str
    deletedAt: datetime | None
    deletedBy: str | None
    createdAt: datetime
    updatedAt: datetime


class BanPage(BaseModel):
    list: list[Ban]
    pagination: Pagination


class BanCheck(BaseModel):
    isBanned: bool
    ban: Ban | None


def ban_out(doc: dict[str, Any], target: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `Ban` answer, in the documented field order."""
    return {
        "_id": doc["_id"],
        "targetUserId": doc["targetUserId"],
        "targetUser": user_summary(target) if target else None,
        "liveStreamId": doc["liveStreamId"],
        "actionType": doc["actionType"],
        "reason": doc.get("reason"),
        "createdBy": doc["createdBy"],
        "deletedAt": doc.get("deletedAt"),
        "deletedBy": doc.get("deletedBy"),
        "createdAt": doc["createdAt"],
        "updatedAt": doc["updatedAt"],
    }
