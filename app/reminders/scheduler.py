"""Reminder firing: driven by the stream's own state changes, plus a leased pass for "N minutes before".

A reminder is due when its stream starts (both modes: a stream that starts early does not wait for a
"15 minutes before" time) or, in BEFORE_START mode, when `scheduledFor` has passed. Reminders of streams
that can no longer start (cancelled, expired, deleted before starting) become CANCELLED.

The start, cancel, expiry and delete of a stream record the follow-up `settleReminders` in the same write
as the status change (`app.live_streams.follow_ups`, wired in `app.flows`): the request runs
`settle_stream` at once and the reconcile loop resumes it after a crash, so nothing scans every armed
reminder. The leased pass here only reads BEFORE_START reminders that are due (an index range on
`scheduledFor`). Every transition is one conditional update on `status`, so overlapping runs on several
replicas never fire a reminder twice; a notification service consumes FIRED reminders by `firedAt`.
"""

from datetime import datetime

import structlog

from app.core.db import Database
from app.core.timeutils import utcnow
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.schemas import CANCELLED, LiveStreamStatus
from app.reminders.repository import ReminderRepository

log = structlog.get_logger("app.reminders")

LEASE = "reminders"
NEVER_STARTING = (*CANCELLED, LiveStreamStatus.expired)


def _can_never_start(stream: LiveStreamDocument) -> bool:
    return stream.get("deletedAt") is not None or stream["status"] in NEVER_STARTING


class ReminderScheduler:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.reminders = ReminderRepository(db)

    async def settle_stream(self, stream: LiveStreamDocument) -> None:
        """The `settleReminders` follow-up: fire the reminders of a started stream, cancel those of a
        stream that can no longer start. Idempotent: only armed reminders change."""
        now = utcnow()
        if stream.get("startedAt"):
            fired = await self.reminders.fire_for_streams([stream["_id"]], now)
            cancelled = 0
        elif _can_never_start(stream):
            fired, cancelled = 0, await self.reminders.cancel_for_streams([stream["_id"]], now)
        else:
            return
        if fired or cancelled:
            log.info("reminders_settled", stream_id=str(stream["_id"]), fired=fired, cancelled=cancelled)

    async def run_once(self, now: datetime) -> int:
        """One pass over the BEFORE_START reminders that are due; returns how many it fired."""
        fired = await self.reminders.fire_due_before_start(now)
        if fired:
            log.info("reminders_processed", fired=fired)
        return fired
