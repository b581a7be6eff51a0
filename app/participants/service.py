"""Participant statistics of a stream, and the join hook that records its audience peak."""

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from app.core.errors import Forbidden
from app.core.security import AuthenticatedUser
from app.core.timeutils import utcnow
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.participant_repository import ParticipantRepository
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import Role
from app.participants.repository import AudiencePeakRepository


class PeakTracker:
    """Join hook (`app.live_streams.audience.JoinHooks.joined`): after an audience join, raise the
    stream's peak to the number of viewers present now."""

    def __init__(self, db: Any) -> None:
        self.participants = ParticipantRepository(db)
        self.peaks = AudiencePeakRepository(db)

    async def joined(self, stream: LiveStreamDocument, user_id: ObjectId, role: Role) -> None:
        if role != Role.audience:
            return
        present = await self.participants.count_present(stream["_id"])
        try:
            await self.peaks.raise_to(stream["_id"], present)
        except DuplicateKeyError:  # two first joins upserted at once: the other one created it
            await self.peaks.raise_to(stream["_id"], present)


class ParticipantStatisticsService:
    def __init__(self, db: Any, clock: Any = utcnow) -> None:
        self.streams = LiveStreamRepository(db)
        self.participants = ParticipantRepository(db)
        self.peaks = AudiencePeakRepository(db)
        self.clock = clock

    async def statistics(self, stream_id: ObjectId, caller: AuthenticatedUser) -> dict[str, Any]:
        """Creator and invited guests only. Open participations count up to now, or up to the end of
        an ended stream."""
        stream = await self.streams.get_or_404(stream_id)
        if caller.id != stream["creatorId"] and caller.id not in stream.get("guestIds", []):
            raise Forbidden("only the creator and the guests see a stream's statistics")
        now: datetime = self.clock()
        ended = stream.get("endedAt")
        until = min(now, ended) if ended else now
        totals = await self.participants.audience_watch_totals(stream_id, until)
        present = await self.participants.count_present(stream_id)
        viewers, minutes = totals["viewers"], totals["watchSeconds"] / 60
        return {
            "streamId": stream_id,
            "totalViewers": viewers,
            "averageWatchTimeMinutes": round(minutes / viewers, 2) if viewers else 0,
            "totalWatchTimeMinutes": round(minutes, 2),
            "peakConcurrentViewers": max(await self.peaks.peak(stream_id), present),
        }
