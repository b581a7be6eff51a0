"""Reminder rules: one per (user, stream), only on scheduled streams, fired once by the scheduler."""

from datetime import timedelta
from typing import Any

from bson import ObjectId

from app.core.db import Database
from app.core.errors import Conflict, ErrorCode, NotFound, ValidationFailed
from app.core.security import AuthenticatedUser
from app.core.timeutils import utcnow
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import LiveStreamStatus
from app.reminders.repository import ReminderRepository
from app.reminders.schemas import ReminderMode, ReminderStatus, reminder_out


class ReminderService:
    def __init__(self, db: Database) -> None:
        self.reminders = ReminderRepository(db)
        self.streams = LiveStreamRepository(db)

    async def arm(self, stream_id: ObjectId, caller: AuthenticatedUser, minute: int | None) -> dict[str, Any]:
        """`minute` null/0: notify when the stream starts; N > 0: N minutes before the planned start, which
        must still be ahead (400 otherwise). A reminder that already fired stays fired: posting it again
        answers it as it is and notifies nobody twice."""
        stream = await self.streams.get_or_404(stream_id)
        if stream["status"] != LiveStreamStatus.scheduled:
            raise Conflict(
                "reminders can be set on scheduled streams only", code=ErrorCode.INVALID_STREAM_STATE
            )
        planned = stream.get("plannedStartDate")
        if planned is None:  # every scheduled stream has one; the type says a stream may not
            raise Conflict(
                "reminders can be set on scheduled streams only", code=ErrorCode.INVALID_STREAM_STATE
            )
        if minute and planned - timedelta(minutes=minute) <= utcnow():
            # A reminder that could only fire late is refused rather than fired at once or at start.
            raise ValidationFailed(
                f"{minute} minutes before the start has already passed; use minute 0 to be reminded at start"
            )
        if minute:
            fields = {
                "mode": ReminderMode.before_start.value,
                "scheduledFor": planned - timedelta(minutes=minute),
                "status": ReminderStatus.armed_before_start.value,
            }
        else:
            fields = {
                "mode": ReminderMode.on_start.value,
                "scheduledFor": planned,
                "status": ReminderStatus.armed_on_start.value,
            }
        doc = await self.reminders.upsert(caller.id, stream_id, {"minute": minute, **fields})
        return reminder_out(doc)

    async def disarm(self, stream_id: ObjectId, caller: AuthenticatedUser) -> dict[str, Any]:
        doc = await self.reminders.remove(caller.id, stream_id)
        if doc is None:
            raise NotFound("you have no reminder for this stream")
        return reminder_out(doc)

    async def list_mine(
        self, caller: AuthenticatedUser, status: ReminderStatus | None, limit: int
    ) -> list[dict[str, Any]]:
        return [reminder_out(doc) for doc in await self.reminders.of_user(caller.id, status, limit)]
