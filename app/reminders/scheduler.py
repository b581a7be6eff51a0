"""The reminder outbox: a leased background pass marks due reminders FIRED, exactly once each.

A reminder is due when its stream starts (both modes: a stream that starts early does not wait for a
"15 minutes before" time) or, in BEFORE_START mode, when `scheduledFor` has passed. Reminders of streams
that can no longer start (cancelled, expired, deleted) become CANCELLED. Every transition is one
conditional update on `status`, so overlapping passes never fire a reminder twice; a notification
service consumes `FIRED` reminders by `firedAt`.
"""

from datetime import datetime
from typing import Any

import structlog

from app.core.background import run_leased_forever
from app.core.db import Database
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import CANCELLED, LiveStreamStatus
from app.reminders.repository import ReminderRepository

log = structlog.get_logger("app.reminders")

LEASE = "reminders"
NEVER_STARTING = (*CANCELLED, LiveStreamStatus.expired)


def _can_never_start(stream: dict[str, Any] | None) -> bool:
    return stream is None or stream.get("deletedAt") is not None or stream["status"] in NEVER_STARTING


class ReminderScheduler:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.reminders = ReminderRepository(db)
        self.streams = LiveStreamRepository(db)

    async def run_once(self, now: datetime) -> int:
        """One pass; returns how many reminders this pass fired."""
        stream_ids = await self.reminders.armed_stream_ids()
        streams = await self.streams.get_many(stream_ids, include_deleted=True)
        dead = {sid for sid in stream_ids if _can_never_start(streams.get(sid))}
        started = [sid for sid in stream_ids if sid not in dead and streams[sid].get("startedAt")]
        # Cancel first, so a before-start reminder of a cancelled stream is never fired.
        cancelled = await self.reminders.cancel_for_streams(sorted(dead), now)
        fired = await self.reminders.fire_for_streams(started, now)
        fired += await self.reminders.fire_due_before_start(now)
        if fired or cancelled:
            log.info("reminders_processed", fired=fired, cancelled=cancelled)
        return fired

    async def run_forever(self, interval: float) -> None:
        await run_leased_forever(self.db, LEASE, interval, self.run_once)
