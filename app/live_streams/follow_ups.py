"""Follow-ups: work a stream's state change makes due, recorded in the same write as the change.

Cancel, delete, expiry and end each flip a stream's status with one conditional update; the same update
sets `followUps.<kind>` (and `followUpAt`, the time the reconcile loop looks at). Each kind's handler is
idempotent; once it has run to the end, its kind is removed. The request that made the change runs the
handlers at once; if it dies, or a handler fails, the reconcile loop runs them again later - so a crash
at any point only delays a refund or a payout, it never loses one.

The stream domain only names the kinds: handlers are registered by whoever owns the work (fundings,
replays, creators' rankings) - see `app/flows.py`.
"""

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog

from app.core.timeutils import utcnow
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.repository import LiveStreamRepository

log = structlog.get_logger("app.follow_ups")

RETRY_AFTER = timedelta(seconds=30)
# The loop leaves fresh follow-ups to the request that recorded them.
GRACE = timedelta(seconds=30)


class FollowUp(StrEnum):
    refund_fundings = "refundFundings"  # cancelled, expired, or deleted before it started
    payout_fundings = "payoutFundings"  # ended: pay the collected funding out (or refund a missed goal)
    payout_entries = "payoutEntries"  # ended: pay the paid entries out
    settle_mini_fundings = "settleMiniCrowdFundings"  # ended: close and settle its mini crowd-fundings
    refund_rentals = "refundRentals"  # deleted: refund its pending and in-window replay rentals
    close_participants = "closeParticipants"  # ended: nobody is present any more
    forget_viewers = "forgetViewers"  # deleted: drop it from the viewer rollup behind rankings
    settle_reminders = (
        "settleReminders"  # started: fire its reminders; cancelled/expired/deleted: cancel them
    )


Handler = Callable[[LiveStreamDocument], Awaitable[Any]]


def due(*kinds: FollowUp, now: datetime) -> dict[str, Any]:
    """The `$set` fields that record `kinds` as due, for the state change's own update."""
    return {**{f"followUps.{kind.value}": now for kind in kinds}, "followUpAt": now}


class FollowUpRunner:
    def __init__(self, streams: LiveStreamRepository, handlers: Mapping[FollowUp, Handler]) -> None:
        self.streams = streams
        self.handlers = handlers

    async def run(self, stream: LiveStreamDocument) -> bool:
        """Run every follow-up due on `stream`; True when none is left."""
        left = False
        for kind in list((stream.get("followUps") or {}).keys()):
            handler = self.handlers.get(FollowUp(kind))
            if handler is None:
                left = True
                continue
            try:
                await handler(stream)
            except Exception:  # retried by the loop; the state change itself has succeeded
                log.warning("follow_up_failed", stream_id=str(stream["_id"]), kind=kind, exc_info=True)
                await self.streams.postpone_follow_ups(stream["_id"], utcnow() + RETRY_AFTER)
                left = True
                continue
            await self.streams.complete_follow_up(stream["_id"], kind)
        return not left

    async def run_due(self, now: datetime, limit: int = 100) -> int:
        """The loop's pass: follow-ups whose request did not finish them (crash, deploy, error)."""
        due_streams = await self.streams.due_follow_ups(now - GRACE, limit)
        for stream in due_streams:
            await self.run(stream)
        return len(due_streams)
