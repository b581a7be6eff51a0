"""Exactly-once application of an operation to a *holder* document, without transactions.

A holder is a document whose numbers operations change: a user's credit balance (ledger movements),
a stream's collected funding (fundings). It carries two fields:

* `opVersion`  - bumped by every decision taken on the holder;
* `opInFlight` - `{opId: {"d": decision, "at": when, ...}}`, decisions whose operation is not final yet.

Any number of runners may drive the same operation at once (the request, a retry with the same
Idempotency-Key, a recovery pass). Each one:

1. reads the holder; a decision already recorded in `opInFlight` is *the* decision;
2. otherwise reads the operation's own document: when it is final, the decision is history;
3. otherwise decides from the holder it read and writes decision + effect + `opVersion + 1` in one
   update conditioned on the version it read. A runner that lost a race matches nothing and starts over.

The caller then makes the operation final and `forget`s the entry, so `opInFlight` only ever holds
operations in flight: nothing to overflow. The version check is what makes a late runner harmless: it
cannot re-apply an operation that another runner decided, finished and forgot after the late runner's
first read, because that decision bumped the version. A crash between "final" and "forget" leaves an
entry behind: the recovery pass `sweep`s holders whose latest decision is older than `PRUNE_AFTER`
(found through `opInFlightAt`) and drops entries whose operations are final; the holder's next decision
does the same for entries that old.
"""

import asyncio
import random
import weakref
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from app.core.errors import Conflict, ErrorCode, NotFound
from app.core.timeutils import utcnow

VERSION = "opVersion"
IN_FLIGHT = "opInFlight"
# Time of the holder's latest decision, kept until a sweep finds nothing left in flight (sparse index).
SWEEP_AT = "opInFlightAt"
MAX_ATTEMPTS = 64
PRUNE_AFTER = timedelta(minutes=5)
# Decisions on one holder are serialised inside a process so that a burst of concurrent operations does
# not turn into a storm of optimistic retries. Correctness does not depend on it (replicas do not share
# it); the interleaving harness turns it off to explore every ordering.
SERIALISE_IN_PROCESS = True
_locks: "weakref.WeakValueDictionary[tuple[str, Any], asyncio.Lock]" = weakref.WeakValueDictionary()


@dataclass(frozen=True, slots=True)
class Rule:
    """What a runner decided from the holder it read: the outcome, the extra condition the holder must
    still meet when the decision is written, the effect on the holder and extra fields of the entry."""

    outcome: str
    condition: Mapping[str, Any] = field(default_factory=dict)
    effect: Mapping[str, Any] = field(default_factory=dict)
    note: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decided:
    outcome: str | None  # None: the operation was already final before this runner decided anything
    entry: Mapping[str, Any]  # the recorded entry (outcome, time and the rule's note)
    holder: dict[str, Any]  # the holder as read or as written


class HolderMissing(NotFound):
    pass


def _version_filter(version: int) -> dict[str, Any]:
    # Documents written before this field existed have no version: treat missing as 0.
    return {VERSION: version} if version else {VERSION: {"$in": [0, None]}}


class OnceHolder:
    """Mixin for a repository whose documents are holders (see the module docstring)."""

    collection: AsyncCollection[dict[str, Any]]
    collection_name: ClassVar[str]

    async def decide_once(
        self,
        holder_id: Any,
        op_id: Any,
        *,
        op_is_final: Callable[[], Awaitable[bool]],
        rule: Callable[[dict[str, Any]], Rule],
        final_among: Callable[[list[Any]], Awaitable[Collection[str]]] | None = None,
        projection: Collection[str] = (),
    ) -> Decided:
        fields = {name: 1 for name in (*projection, VERSION, IN_FLIGHT)}
        key = str(op_id)
        lock = _locks.setdefault((self.collection_name, holder_id), asyncio.Lock())
        for attempt in range(MAX_ATTEMPTS):
            if SERIALISE_IN_PROCESS:
                async with lock:
                    decided = await self._attempt(holder_id, key, fields, op_is_final, rule, final_among)
            else:
                decided = await self._attempt(holder_id, key, fields, op_is_final, rule, final_among)
            if decided is not None:
                return decided
            await asyncio.sleep(random.uniform(0, 0.001 * min(attempt, 10)))
        raise Conflict("the request is being processed; try again", code=ErrorCode.REQUEST_IN_PROGRESS)

    async def _attempt(
        self,
        holder_id: Any,
        key: str,
        fields: dict[str, int],
        op_is_final: Callable[[], Awaitable[bool]],
        rule: Callable[[dict[str, Any]], Rule],
        final_among: Callable[[list[Any]], Awaitable[Collection[str]]] | None,
    ) -> Decided | None:
        holder = await self.collection.find_one({"_id": holder_id}, fields)
        if holder is None:
            raise HolderMissing()
        in_flight = holder.get(IN_FLIGHT) or {}
        if key in in_flight:
            return Decided(in_flight[key]["d"], in_flight[key], holder)
        if await op_is_final():
            return Decided(None, {}, holder)
        decision = rule(holder)
        entry = {"d": decision.outcome, "at": utcnow(), **decision.note}
        update: dict[str, Any] = {key_: dict(value) for key_, value in decision.effect.items()}
        update.setdefault("$set", {})[f"{IN_FLIGHT}.{key}"] = entry
        update["$set"][SWEEP_AT] = entry["at"]
        update.setdefault("$inc", {})[VERSION] = 1
        stale = await self._stale_entries(in_flight, final_among)
        if stale:
            update["$unset"] = {f"{IN_FLIGHT}.{old}": "" for old in stale}
        query = {"_id": holder_id, **_version_filter(int(holder.get(VERSION) or 0)), **decision.condition}
        written = await self.collection.find_one_and_update(
            query, update, projection=fields, return_document=ReturnDocument.AFTER
        )
        return None if written is None else Decided(decision.outcome, entry, written)

    async def _stale_entries(
        self,
        in_flight: Mapping[str, Any],
        final_among: Callable[[list[Any]], Awaitable[Collection[str]]] | None,
    ) -> list[str]:
        """Entries left by a crash between "final" and "forget" (only looked at once they are old)."""
        if final_among is None:
            return []
        cutoff = utcnow() - PRUNE_AFTER
        old = [key for key, entry in in_flight.items() if entry.get("at") and entry["at"] < cutoff]
        if not old:
            return []
        final = await final_among(old)
        return [key for key in old if key in final]

    async def sweep(
        self,
        before: datetime,
        final_among: Callable[[list[Any]], Awaitable[Collection[str]]],
        limit: int = 200,
    ) -> int:
        """Recovery: drop entries of final operations from holders idle since `before`; returns how many
        holders were looked at. Entries of operations still pending stay (their own resume decides)."""
        holders = (
            await self.collection.find({SWEEP_AT: {"$lte": before}}, {IN_FLIGHT: 1, SWEEP_AT: 1})
            .limit(limit)
            .to_list()
        )
        for holder in holders:
            keys = list((holder.get(IN_FLIGHT) or {}).keys())
            final = set(await final_among(keys)) if keys else set()
            if final:
                await self.collection.update_one(
                    {"_id": holder["_id"]}, {"$unset": {f"{IN_FLIGHT}.{key}": "" for key in final}}
                )
            if len(final) == len(keys):  # nothing left: off the sweep list until its next decision
                await self.collection.update_one(
                    {"_id": holder["_id"], SWEEP_AT: holder[SWEEP_AT]}, {"$unset": {SWEEP_AT: ""}}
                )
            else:  # an operation still in flight: look again later
                await self.collection.update_one(
                    {"_id": holder["_id"], SWEEP_AT: holder[SWEEP_AT]}, {"$set": {SWEEP_AT: utcnow()}}
                )
        return len(holders)

    async def forget(self, holder_id: Any, op_id: Any) -> None:
        """The operation is final: its entry is no longer needed (does not bump the version)."""
        await self.collection.update_one({"_id": holder_id}, {"$unset": {f"{IN_FLIGHT}.{op_id}": ""}})
