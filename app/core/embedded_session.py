"""The embedded engine's sessions: causal consistency without transactions (app.core.embedded).

One copy of the data and every operation in order make every session causally consistent; the object
exists so the code that opens sessions (`app.core.sessions`) runs unchanged on both engines, and it
refuses what PyMongo refuses: use after `end_session`, use with another client (`InvalidOperation`),
and transactions (not available on the embedded engine).
"""

import itertools
import time
from typing import Any

import bson
from pymongo.client_session_shared import SessionOptions
from pymongo.errors import InvalidOperation

_ticks = itertools.count(1)  # the increment of our operation times: strictly growing, like a cluster's


class EmbeddedSession:
    """`AsyncClientSession` look-alike for `EmbeddedAsyncClient.start_session`."""

    def __init__(self, client: Any, causal_consistency: bool) -> None:
        self.client = client
        self.options = SessionOptions(causal_consistency=causal_consistency)
        self.cluster_time: dict[str, Any] | None = None
        self.operation_time: bson.Timestamp | None = None
        self._ended = False

    @property
    def has_ended(self) -> bool:
        return self._ended

    @property
    def in_transaction(self) -> bool:
        return False

    def advance_cluster_time(self, cluster_time: dict[str, Any]) -> None:
        self.cluster_time = cluster_time

    def advance_operation_time(self, operation_time: bson.Timestamp) -> None:
        if self.operation_time is None or operation_time > self.operation_time:
            self.operation_time = operation_time

    def start_transaction(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("transactions are not available on the embedded engine")

    async def with_transaction(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("transactions are not available on the embedded engine")

    async def end_session(self) -> None:
        self._ended = True

    async def __aenter__(self) -> "EmbeddedSession":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.end_session()


def use_session(client: Any, session: Any) -> None:
    """Check a `session=` passed to `client`'s collections as PyMongo does, then advance its time."""
    if session is None:
        return
    if not isinstance(session, EmbeddedSession) or session.client is not client:
        raise InvalidOperation("Can only use session with the MongoClient that started it")
    if session.has_ended:
        raise InvalidOperation("Cannot use ended session")
    session.advance_operation_time(bson.Timestamp(int(time.time()), next(_ticks) % 2**31))
