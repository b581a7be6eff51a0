"""Causally consistent sessions: a money sequence reads what it has just written, even across an election.

Durable collections (`app.core.repository`) already write with w:"majority" and read majority-committed
data from the primary. Without a session, that is still not read-your-writes: after a failover the new
primary may serve a majority read from a snapshot older than a write it has already acknowledged
(its majority commit point lags until it commits in its own term). A causally consistent session makes
every read wait for the `operationTime` of the session's earlier writes (`afterClusterTime`), which
together with majority read and write concerns is the documented guarantee (read your writes,
monotonic reads and writes, writes follow reads).

`causal(db)` opens one such session for the current task; every repository call made by that task
inside the block passes it (`Repository.collection`), with majority read/write concerns and the
primary whatever the repository's own options, so services need no session parameters. Blocks nest
(the inner one reuses the outer session). Tasks started inside the block do not inherit it: a session
serves one operation at a time. The embedded engine gives the same `start_session` (a minimal causal
session, no transactions), so the same code runs on both engines.
"""

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

# PyMongo's collection methods that take `session=` (what repositories call).
TAKES_SESSION = frozenset(
    {
        "find", "find_one", "insert_one", "insert_many", "update_one", "update_many", "replace_one",
        "delete_one", "delete_many", "find_one_and_update", "find_one_and_delete", "find_one_and_replace",
        "count_documents", "distinct", "aggregate", "bulk_write", "list_indexes",
    }
)  # fmt: skip

# (session, the task that owns it) while a causal block runs.
_CURRENT: ContextVar[tuple[Any, "asyncio.Task[Any] | None"] | None] = ContextVar(
    "causal_session", default=None
)


def current_session() -> Any | None:
    """The causal session of the running task, or None outside a `causal` block."""
    current = _CURRENT.get()
    if current is None:
        return None
    session, owner = current
    return session if owner is asyncio.current_task() else None


@contextlib.asynccontextmanager
async def causal(db: Any) -> AsyncIterator[Any]:
    """Run the block's repository calls in one causally consistent session of `db`'s client."""
    outer = current_session()
    if outer is not None:
        yield outer
        return
    session = db.client.start_session(causal_consistency=True)
    token = _CURRENT.set((session, asyncio.current_task()))
    try:
        yield session
    finally:
        _CURRENT.reset(token)
        await session.end_session()


class SessionCollection:
    """A collection whose calls run in `session` (the `collection` a repository hands out inside
    a causal block)."""

    __slots__ = ("_collection", "_session")

    def __init__(self, collection: Any, session: Any) -> None:
        self._collection, self._session = collection, session

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._collection, name)
        if name in TAKES_SESSION:
            return functools.partial(attribute, session=self._session)
        return attribute
