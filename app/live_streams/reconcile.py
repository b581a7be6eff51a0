"""Reconcile our streams with AIOZ, and roll forward interrupted fundings.

Each stream that needs work carries `aioz.reconcileAt`; the loop picks due ones (indexed), handles
each idempotently and reschedules it with exponential backoff on failure:

* a start that died while holding the creator's live slot → close any session on the key, free the slot;
* an ended stream without recording → close the AIOZ session;
* an ended stream with recording → poll AIOZ until the recording is `done`, then fill `recordingUrl`;
* a scheduled stream never started → `expired` (funders refunded) once its planned end is well past;
* movements and fundings a crashed request left `pending` are rolled forward, and follow-ups a state
  change recorded (refunds, payouts, …) that its request did not finish are run (`follow_ups.py`).

Safe with several replicas: a MongoDB lease lets one replica run a pass at a time, and every step is a
conditional update anyway.
"""

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from app.core import events
from app.core.errors import AppError
from app.core.timeutils import utcnow
from app.live_streams.documents import AiozSession, LiveStreamDocument
from app.live_streams.follow_ups import FollowUp, FollowUpRunner, due
from app.live_streams.lifecycle import STALE_START
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import STARTABLE, LiveStreamStatus
from app.live_streams.streaming import StreamingGateway

log = structlog.get_logger("app.reconcile")

BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(minutes=10)
GIVE_UP_AFTER = timedelta(hours=48)
LEASE = "reconcile"
# A pending ledger movement or funding this old belongs to a request that died.
STALE_AFTER = timedelta(minutes=1)
Recovery = Callable[[datetime], Awaitable[Any]]
# A scheduled stream may start late; it expires this long after its planned end (or planned start).
EXPIRY_GRACE = timedelta(hours=1)


class Reconciler:
    def __init__(
        self,
        db: Any,
        gateway: StreamingGateway,
        follow_ups: FollowUpRunner,
        recovery: Sequence[Recovery] = (),
    ) -> None:
        self.streams = LiveStreamRepository(db)
        self.gateway = gateway
        self.follow_ups = follow_ups
        self.recovery = recovery

    async def run_once(self, now: datetime | None = None, batch: int = 50) -> int:
        """One pass over everything due; returns the number of streams handled."""
        now = now or utcnow()
        due = await self.streams.due_for_reconcile(now, batch)
        for stream in due:
            await self.reconcile_one(stream)
        await self.expire_overdue(now)
        for resume in self.recovery:  # movements and fundings whose request died midway
            await resume(now - STALE_AFTER)
        await self.follow_ups.run_due(now)
        return len(due)

    async def expire_overdue(self, now: datetime) -> int:
        """Scheduled streams never started by their planned end become `expired`; funders are refunded."""
        expired = 0
        for stream in await self.streams.overdue_scheduled(now - EXPIRY_GRACE, limit=100):
            updated = await self.streams.close_before_start(
                stream["_id"],
                (LiveStreamStatus.scheduled,),
                LiveStreamStatus.expired,
                {"expiredAt": now, **due(FollowUp.refund_fundings, FollowUp.settle_reminders, now=now)},
            )
            if updated is not None:
                events.emit(events.STREAM_STATUS_CHANGED, updated)
                await self.follow_ups.run(updated)
                expired += 1
        return expired

    async def reconcile_one(self, stream: LiveStreamDocument) -> None:
        aioz = stream.get("aioz") or {}
        try:
            if stream.get("liveSlotOwner") and stream["status"] in STARTABLE:
                await self._heal_stale_start(stream)
            elif aioz.get("state") == "closing":
                await self._finish_session(stream, aioz)
            else:
                await self.streams.reconcile_done(stream["_id"])
        except AppError as exc:
            await self._backoff(stream, aioz, reason=exc.detail or type(exc).__name__)

    async def _heal_stale_start(self, stream: LiveStreamDocument) -> None:
        if stream.get("startingAt") and utcnow() - stream["startingAt"] < STALE_START:
            return  # still within a live start's time budget
        key = await self.gateway.keys.get(stream["creatorId"])
        if key:
            await self.gateway.close_open_streamings(key["keyId"])
        await self.streams.release_stale_live_slot(stream["_id"])
        log.warning("stale_start_released", stream_id=str(stream["_id"]))

    async def _finish_session(self, stream: LiveStreamDocument, aioz: AiozSession) -> None:
        key_id, streaming_id = aioz["keyId"], aioz["streamingId"]
        if not stream.get("recording"):
            await self.gateway.close_streaming(key_id, streaming_id)
            await self.streams.reconcile_done(stream["_id"], state="closed")
            return
        url = await self.gateway.recording_url(streaming_id)
        if url:
            await self.streams.reconcile_done(stream["_id"], state="recorded", recording_url=url)
            log.info("recording_collected", stream_id=str(stream["_id"]))
            events.emit(events.STREAM_RECORDING_READY, {**stream, "recordingUrl": url})
            return
        session = await self.gateway.streaming_state(key_id, streaming_id)
        if session is not None and not session.is_live and session.duration == 0:
            # Never went live: there is nothing to record, and the session blocks the key.
            await self.gateway.close_streaming(key_id, streaming_id)
            await self.streams.reconcile_done(stream["_id"], state="closed")
            return
        await self._backoff(stream, aioz, reason="recording not ready")

    async def _backoff(self, stream: LiveStreamDocument, aioz: AiozSession, reason: str) -> None:
        attempts = int(aioz.get("attempts") or 0) + 1
        since = stream.get("endedAt") or stream.get("startingAt") or stream["createdAt"]
        if utcnow() - since > GIVE_UP_AFTER:
            log.error("reconcile_gave_up", stream_id=str(stream["_id"]), reason=reason)
            await self.streams.reconcile_done(stream["_id"], state="failed")
            return
        delay = min(BACKOFF_BASE * 2 ** min(attempts, 16), BACKOFF_MAX)
        await self.streams.reconcile_later(stream["_id"], attempts, utcnow() + delay)
        log.info("reconcile_retry_later", stream_id=str(stream["_id"]), reason=reason, attempts=attempts)
