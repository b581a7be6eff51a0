"""`$$NOW` in the embedded engine's pipeline updates: the time of the engine's server clock.

mongomock-ng evaluates a pipeline update (`update_one(filter, [{"$set": ...}])`) without system
variables, so `$$NOW` reads as missing; mongod gives the server's time at the write. Commands that rely
on the server's clock (leases, app.core.leases) are sent unchanged to both engines, so the engine
evaluates `$$NOW` itself, with the clock of its client (`EmbeddedAsyncClient(clock=...)`, the process
clock by default; tests hand it a manual clock). One patch of one private method, scoped to our clients
like the speedups in app.core.embedded; other mongomock-ng clients keep the stock behaviour.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from mongomock_ng import aggregate as _aggregate
from mongomock_ng import helpers as _helpers
from mongomock_ng.collection import Collection as _SyncCollection

ServerClock = Callable[[], datetime]
_CLOCK_ATTRIBUTE = "_server_clock"  # set on the mongomock-ng client, read by the patch below


def set_server_clock(sync_client: Any, clock: ServerClock) -> None:
    """Make `clock` the server clock of this mongomock-ng client (the engine's `$$NOW`)."""
    vars(sync_client)[_CLOCK_ATTRIBUTE] = clock
    install_now()


def server_now(sync_client: Any) -> datetime | None:
    """The engine's `$$NOW` as it stores dates (naive UTC, milliseconds); None for foreign clients."""
    clock: ServerClock | None = vars(sync_client).get(_CLOCK_ATTRIBUTE)
    if clock is None:
        return None
    now: datetime = _helpers.patch_datetime_awareness_in_document(clock())
    return now


def install_now() -> None:
    if getattr(_SyncCollection._apply_update_pipeline, "evaluates_now", False):
        return
    stock: Callable[..., None] = _SyncCollection._apply_update_pipeline

    def _apply_update_pipeline(self: Any, existing_document: Any, pipeline: Any, session: Any) -> None:
        now = server_now(self.database.client)
        if now is None:
            stock(self, existing_document, pipeline, session)
            return
        [new_document] = _aggregate.process_pipeline(
            [existing_document], self.database, pipeline, session, user_vars={"NOW": now}
        )
        existing_document.clear()
        existing_document.update(new_document)

    _apply_update_pipeline.evaluates_now = True  # type: ignore[attr-defined]
    _SyncCollection._apply_update_pipeline = _apply_update_pipeline  # type: ignore[method-assign]
