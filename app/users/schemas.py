"""User-facing shapes (`UserSummary` and transactions in docs/contract.md, "Shapes") and their
document → JSON builders."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.users.credits import CreditMovement, Direction, TxStatus, TxType


class ProfilePhoto(BaseModel):
    id: str = Field(alias="_id")
    url: str
    type: str = "image"
    variants: dict[str, str] = {}
    createdAt: str | None = None
    updatedAt: str | None = None


class UserSummary(BaseModel):
    id: str = Field(alias="_id", examples=["64d15f9e2e6c8f4d5a123456"])
    username: str
    name: str
    surname: str
    profilePhoto: ProfilePhoto | None
    availabilityStatus: str = Field(examples=["available"])


def user_summary(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "_id": doc["_id"],
        "username": doc["username"],
        "name": doc.get("name", ""),
        "surname": doc.get("surname", ""),
        "profilePhoto": doc.get("profilePhoto"),
        "availabilityStatus": doc.get("availabilityStatus", "available"),
    }


class FollowResult(BaseModel):
    isFollowing: bool
    previouslyFollowing: bool


class TransactionReference(BaseModel):
    kind: str
    id: str


class Transaction(BaseModel):
    id: str = Field(alias="_id")
    type: TxType
    direction: Direction
    amount: int
    status: TxStatus
    balanceAfter: int | None
    reference: TransactionReference | None
    occurredAt: datetime


def transaction_out(doc: CreditMovement) -> dict[str, Any]:
    return {
        "_id": doc["_id"],
        "type": doc["type"],
        "direction": doc["direction"],
        "amount": doc["amount"],
        "status": doc["status"],
        "balanceAfter": doc.get("balanceAfter"),
        "reference": doc.get("reference"),
        "occurredAt": doc["occurredAt"],
    }
