"""Replay shapes: settings input and the rental answer (docs/contract.md)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.live_streams.schemas import LiveStream
from app.replays.repository import RentalState, rental_is_active

MAX_REPLAY_PRICE = 1_000_000


class ReplaySettingsIn(BaseModel):
    """Only the fields sent are changed; `null` clears a field."""

    model_config = ConfigDict(extra="forbid")
    isActiveReplayOnCreatorProfile: bool | None = Field(default=None, strict=True, examples=[True])
    replayCreditPrice: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=MAX_REPLAY_PRICE,
        description="Whole credits; 0 or null = not rentable.",
        examples=[50],
    )


class ReplayRental(BaseModel):
    id: str = Field(alias="_id")
    liveStreamId: str
    status: RentalState
    price: int
    rentalNumber: int
    rentedAt: datetime | None
    expiresAt: datetime | None
    remainingSeconds: int | None
    liveStream: LiveStream


def rental_out(rental: dict[str, Any], live_stream: dict[str, Any], now: datetime) -> dict[str, Any]:
    active = rental_is_active(rental, now)
    status = rental["status"]
    if status == RentalState.active and not active:
        status = RentalState.expired  # the window closed; the background pass has not settled it yet
    return {
        "_id": rental["_id"],
        "liveStreamId": rental["liveStreamId"],
        "status": status,
        "price": rental["price"],
        "rentalNumber": rental["rentalNumber"],
        "rentedAt": rental.get("rentedAt"),
        "expiresAt": rental.get("expiresAt"),
        "remainingSeconds": int((rental["expiresAt"] - now).total_seconds()) if active else None,
        "liveStream": live_stream,
    }
