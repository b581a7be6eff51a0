"""Reminder shapes (docs/contract.md, "Shapes"; modes and statuses: docs/live-streams-part2.md) and
the document → JSON builder."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_MINUTES_BEFORE = 7 * 24 * 60


class ReminderMode(StrEnum):
    on_start = "ON_START"
    before_start = "BEFORE_START"


class ReminderStatus(StrEnum):
    armed_on_start = "ARMED_ON_START"
    armed_before_start = "ARMED_BEFORE_START"
    fired = "FIRED"
    cancelled = "CANCELLED"


ARMED = (ReminderStatus.armed_on_start, ReminderStatus.armed_before_start)


class ReminderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minute: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=MAX_MINUTES_BEFORE,
        description="Minutes before the planned start; null or 0 = when the stream actually starts.",
        examples=[15],
    )


class Reminder(BaseModel):
    streamId: str
    minute: int | None
    mode: ReminderMode
    scheduledFor: datetime | None
    status: ReminderStatus
    firedAt: datetime | None


def reminder_out(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "streamId": doc["liveStreamId"],
        "minute": doc["minute"],
        "mode": doc["mode"],
        "scheduledFor": doc["scheduledFor"],
        "status": doc["status"],
        "firedAt": doc.get("firedAt"),
    }
