"""Start and end a live stream, provisioning the video side on AIOZ.

One active stream per creator is guaranteed by the creator's *live slot*: a unique index on
`liveSlotOwner`, partial on ObjectId values (the field holds the creator's id only while the slot is
held; docs/decisions.md, "One live slot: a partial unique index"). Start claims the slot with one
conditional update (a second start, even on another replica, hits the index → 409), provisions AIOZ
while holding it, then flips the stream to `active`. If AIOZ fails, the slot is released and the stream is untouched (→ 502/503). A start that
dies between claim and activation is healed by the reconcile loop (`reconcile.py`).
"""

from datetime import timedelta
from typing import Any, Protocol

import structlog

from app.agora.tokens import agora_uid
from app.core import events
from app.core.errors import AppError, Conflict, ErrorCode
from app.core.security import AuthenticatedUser
from app.core.timeutils import utcnow
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.follow_ups import FollowUp, FollowUpRunner, due
from app.live_streams.presenter import LiveStreamPresenter
from app.live_streams.repository import LiveStreamRepository
from app.live_streams.schemas import STARTABLE, Role
from app.live_streams.streaming import StreamingGateway

log = structlog.get_logger("app.lifecycle")

STALE_START = timedelta(minutes=2)  # a claim older than this belongs to a start that died


class SessionReconciler(Protocol):
    """`Reconciler.reconcile_one`: bring one stream's AIOZ session in line with its status."""

    async def reconcile_one(self, stream: LiveStreamDocument) -> None: ...


class StreamLifecycle:
    def __init__(
        self,
        db: Any,
        gateway: StreamingGateway,
        presenter: LiveStreamPresenter,
        follow_ups: FollowUpRunner,
    ) -> None:
        self.streams = LiveStreamRepository(db)
        self.gateway = gateway
        self.presenter = presenter
        self.follow_ups = follow_ups

    async def start(self, stream: LiveStreamDocument, creator: AuthenticatedUser) -> LiveStreamDocument:
        if stream["status"] not in STARTABLE:
            raise Conflict(
                f"the stream is {stream['status']} and cannot be started", code=ErrorCode.INVALID_STREAM_STATE
            )
        now = utcnow()
        claimed = await self.streams.claim_live_slot(stream["_id"], creator.id, now, now + STALE_START)
        if claimed is None:
            raise Conflict(
                "the stream is already starting or changed state", code=ErrorCode.INVALID_STREAM_STATE
            )
        try:
            key = await self.gateway.ensure_key(creator.id)
            streaming = await self.gateway.open_streaming(key, stream["title"], save=stream["recording"])
        except AppError:
            await self._release_slot(stream)
            raise
        activated = await self.streams.activate(
            stream["_id"],
            creator.id,
            {
                "startedAt": utcnow(),
                "broadcasters": [{"user": creator.id, "role": Role.host.value, "uid": agora_uid(creator.id)}],
                "aioz": {
                    "keyId": key["keyId"],
                    "streamingId": streaming.id,
                    "hlsUrl": streaming.assets.hls_url or None,
                    "state": "open",
                    "attempts": 0,
                    "reconcileAt": None,
                },
                **due(FollowUp.settle_reminders, now=utcnow()),  # its reminders fire (app.reminders)
            },
        )
        if activated is None:  # cannot happen while we hold the slot, but never leave a session open
            await self.gateway.close_streaming(key["keyId"], streaming.id)
            await self._release_slot(stream)
            raise Conflict("the stream changed state while starting", code=ErrorCode.INVALID_STREAM_STATE)
        log.info("stream_started", stream_id=str(stream["_id"]), streaming_id=streaming.id)
        events.emit(events.STREAM_STATUS_CHANGED, activated)
        await self.follow_ups.run(activated)
        return activated

    async def _release_slot(self, before: LiveStreamDocument) -> None:
        """Undo the claim of a start that failed: the stream is left exactly as it was before it.

        A startable stream never had an AIOZ session (status only moves forward), so the claim's
        bookkeeping (`liveSlotOwner`, `startingAt`, `aioz`) is removed and `updatedAt` restored.
        """
        await self.streams.release_live_slot(before)

    async def end(self, stream: LiveStreamDocument) -> LiveStreamDocument:
        now = utcnow()
        ended = await self.streams.mark_ended(
            stream["_id"],
            {
                "endedAt": now,
                "aioz.state": "closing",
                "aioz.reconcileAt": now,
                **due(
                    FollowUp.close_participants,
                    FollowUp.payout_fundings,
                    FollowUp.payout_entries,
                    FollowUp.settle_mini_fundings,
                    now=now,
                ),
            },
        )
        if ended is None:
            raise Conflict("only an active stream can be ended", code=ErrorCode.INVALID_STREAM_STATE)
        log.info("stream_ended", stream_id=str(stream["_id"]))
        events.emit(events.STREAM_STATUS_CHANGED, ended)
        await self.follow_ups.run(ended)
        return ended

    async def end_and_present(
        self, stream: LiveStreamDocument, caller: AuthenticatedUser, reconciler: SessionReconciler
    ) -> dict[str, Any]:
        """End the broadcast, try to collect the recording now (best effort: the reconcile loop retries
        with backoff) and answer with the stream as it is afterwards."""
        ended = await self.end(stream)
        await reconciler.reconcile_one(ended)
        return await self.presenter.one(await self.streams.get_or_404(stream["_id"]), caller)
