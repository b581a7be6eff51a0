"""Participant statistics (`ParticipantStatistics` in docs/contract.md, "Shapes", plus the audience peak)."""

from pydantic import BaseModel, Field


class ParticipantStatistics(BaseModel):
    streamId: str
    totalViewers: int = Field(
        description="Unique audience viewers (creator and guests not counted).", examples=[150]
    )
    averageWatchTimeMinutes: float = Field(
        description="totalWatchTimeMinutes / totalViewers.", examples=[12.5]
    )
    totalWatchTimeMinutes: float = Field(description="Audience watch time, two decimals.", examples=[1875])
    peakConcurrentViewers: int = Field(description="Most audience viewers present at once.", examples=[42])
