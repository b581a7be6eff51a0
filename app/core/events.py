"""In-process event hub: domain code says what happened, adapters (the realtime layer) listen.

Domain code calls `events.emit(NAME, payload)` right after a state change is written and never knows
who listens, so no domain imports the realtime package. Handlers run synchronously inside `emit` and
must not block: they hand the payload over (the realtime layer puts it on a queue). A failing handler
is logged and never fails the operation that emitted. Delivery is in-process only; reaching sockets
on other replicas is the listener's business (Socket.IO's Redis manager).

Event names and payloads (documents are the stored ones, not presented):

* `stream.status_changed` — the stream document after a status change (start, end, cancel,
  expiry) or a soft delete (`deletedAt` set).
* `stream.recording_ready` — the stream document once `recordingUrl` is filled.
* `stream.audience_changed` — `{"streamId"}` after a join or leave changed the present audience.
* `stream.chat_message` — the REST chat message object (with `streamId`) after it is stored.
* `stream.superlike` — the REST superlike object (with `streamId`) after it is paid.
* `stream.user_banned` — `{"streamId", "userId", "actionType"}` after a ban is created or upgraded (a
  BLOCK ban once more from the reconcile loop's recovery pass, `app.bans.service.BanEnforcer`).
"""

from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("app.events")

STREAM_STATUS_CHANGED = "stream.status_changed"
STREAM_RECORDING_READY = "stream.recording_ready"
STREAM_AUDIENCE_CHANGED = "stream.audience_changed"
STREAM_CHAT_MESSAGE = "stream.chat_message"
STREAM_SUPERLIKE = "stream.superlike"
STREAM_USER_BANNED = "stream.user_banned"

Handler = Callable[[Any], None]


class EventHub:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def subscribe(self, name: str, handler: Handler) -> Callable[[], None]:
        """Call `handler(payload)` on every `emit(name, …)`; returns the function that unsubscribes."""
        self._handlers.setdefault(name, []).append(handler)

        def unsubscribe() -> None:
            handlers = self._handlers.get(name, [])
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    def emit(self, name: str, payload: Any) -> None:
        for handler in list(self._handlers.get(name, ())):
            try:
                handler(payload)
            except Exception:  # a listener's bug must never fail the state change that emitted
                log.exception("event_handler_failed", hub_event=name)


hub = EventHub()
emit = hub.emit
subscribe = hub.subscribe
