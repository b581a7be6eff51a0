"""Superlike shapes (spec: Live Stream Chat, `POST /{streamId}/chat/superlike`)."""

from datetime import datetime

from pydantic import BaseModel, Field


class SenderSnapshot(BaseModel):
    id: str = Field(alias="_id", examples=["64d15f9e2e6c8f4d5a123456"])
    username: str
    name: str
    surname: str
    profilePhoto: str | None = Field(description="URL of the sender's profile photo, or null.")


class Superlike(BaseModel):
    streamId: str
    senderId: str
    senderSnapshot: SenderSnapshot
    price: int = Field(examples=[10], description="Credits paid by the sender.")
    timestamp: datetime
