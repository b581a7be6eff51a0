"""Issue 12 item 9: every query shape the repositories send is backed by a declared index (ESR rule).

The embedded engine has no query planner, so this walks the declared indexes instead: a shape is backed
when some index of its collection starts with the shape's equality fields (any order), continues with
its sort keys in order (all in the same or all in the opposite direction, `_id` tie-breaker included)
and then reaches a range field. Equality fields listed as `residual` (the soft-delete `deletedAt: null`
scope, optional filters) may be left to the fetch. `bench/plans.py` checks the real plans on MongoDB.

A new query shape goes into SHAPES together with its index.
"""

from dataclasses import dataclass

import pytest

from app.core.migrations import declared_indexes
from app.repositories import REPOSITORIES

Key = tuple[str, int]


@dataclass(frozen=True)
class Shape:
    name: str
    collection: str
    equality: tuple[str, ...] = ()
    sort: tuple[Key, ...] = ()
    range: tuple[str, ...] = ()
    residual: tuple[str, ...] = ()


def backs(keys: list[Key], shape: Shape) -> bool:
    position, wanted = 0, set(shape.equality)
    while position < len(keys) and keys[position][0] in wanted:
        wanted.discard(keys[position][0])
        position += 1
    if wanted - set(shape.residual):
        return False
    sort_segment = keys[position : position + len(shape.sort)]
    if [field for field, _ in sort_segment] != [field for field, _ in shape.sort]:
        return False
    if len({have * want for (_, have), (_, want) in zip(sort_segment, shape.sort, strict=True)}) > 1:
        return False
    if shape.range:
        reachable = [field for field, _ in keys[position : position + len(shape.sort) + 1]]
        return any(field in reachable for field in shape.range)
    return True


def backing_index(shape: Shape) -> str | None:
    for name, spec in declared_indexes(REPOSITORIES).get(shape.collection, {}).items():
        if backs([(field, int(direction)) for field, direction in dict(spec["key"]).items()], shape):
            return name
    return None


NEWEST = (("startedAt", -1), ("_id", -1))
SHAPES = [
    # participants: present viewers (paged), counts, leave, roles, history
    Shape(
        "present viewers",
        "participants",
        ("liveStreamId", "role", "isPresent"),
        (("joinedAt", -1), ("_id", -1)),
        residual=("userId",),
    ),
    Shape("present count / featured counts", "participants", ("liveStreamId", "role", "isPresent")),
    Shape("audience of a stream", "participants", ("liveStreamId", "role")),
    Shape("leave / join key", "participants", ("liveStreamId", "userId", "role")),
    Shape("roles of the caller", "participants", ("userId", "liveStreamId")),
    Shape("watched streams", "participants", ("userId", "role")),
    # live_streams: lists, the live slot, background passes
    Shape("all streams", "live_streams", ("deletedAt",), (("createdAt", -1), ("_id", -1))),
    Shape(
        "active stream of a creator", "live_streams", ("creatorId", "status"), NEWEST, residual=("deletedAt",)
    ),
    Shape(
        "recently started (featured, catch-streamers)",
        "live_streams",
        ("status",),
        NEWEST,
        residual=("deletedAt",),
    ),
    Shape("streams of a creator", "live_streams", ("creatorId",), residual=("deletedAt",)),
    Shape(
        "guest streams (≤ 500 per guest, sorted in memory)",
        "live_streams",
        ("guestIds", "status"),
        residual=("status", "deletedAt"),
    ),
    Shape(
        "overdue by planned end",
        "live_streams",
        ("status",),
        (("plannedEndDate", 1),),
        ("plannedEndDate",),
        residual=("deletedAt",),
    ),
    Shape(
        "overdue by planned start",
        "live_streams",
        ("status", "plannedEndDate"),
        (("plannedStartDate", 1),),
        ("plannedStartDate",),
        residual=("deletedAt",),
    ),
    Shape("AIOZ reconcile due", "live_streams", sort=(("aioz.reconcileAt", 1),), range=("aioz.reconcileAt",)),
    Shape("follow-ups due", "live_streams", sort=(("followUpAt", 1),), range=("followUpAt",)),
    Shape("channel name", "live_streams", ("channelName",)),
    Shape("live slot", "live_streams", ("liveSlotOwner",)),
    # feeds
    Shape(
        "past streams of a creator",
        "live_streams",
        ("creatorId", "status"),
        (("endedAt", -1), ("_id", -1)),
        residual=("deletedAt",),
    ),
    Shape(
        "broadcasted ($or branch)",
        "live_streams",
        ("broadcasters.user", "status"),
        (("endedAt", -1), ("_id", -1)),
        residual=("deletedAt",),
    ),
    Shape("For You live", "live_streams", ("status", "interest"), NEWEST, residual=("deletedAt",)),
    Shape(
        "For You scheduled",
        "live_streams",
        ("status", "interest"),
        (("plannedStartDate", 1), ("_id", 1)),
        residual=("deletedAt", "fundingGoal"),
    ),
    # reminders
    Shape("my reminders", "reminders", ("userId",), (("updatedAt", -1), ("_id", -1)), residual=("status",)),
    Shape("armed among streams", "reminders", ("userId", "liveStreamId"), residual=("status",)),
    Shape("before-start reminders due", "reminders", ("status",), range=("scheduledFor",)),
    Shape("reminders of a started/cancelled stream", "reminders", ("status", "liveStreamId")),
    # most-watched creators
    Shape("rollup key", "creator_viewers", ("creatorId", "viewerId", "liveStreamId")),
    Shape("rollup of a batch of creators ($in)", "creator_viewers", ("creatorId",)),
    Shape("rollup of a deleted stream", "creator_viewers", ("liveStreamId",)),
    Shape(
        "creator counts to refresh", "creator_viewer_counts", sort=(("refreshAt", 1),), range=("refreshAt",)
    ),
    Shape("backfill: next creator (seek)", "creator_viewers", sort=(("creatorId", 1),), range=("creatorId",)),
    Shape("ranking", "creator_viewer_counts", sort=(("viewers", -1), ("_id", 1)), range=("viewers",)),
    # money and the rest (declared by their own repositories)
    Shape("credit history", "credit_transactions", ("userId",), (("occurredAt", -1), ("_id", -1))),
    # the visible chain behind balanceAfter (issue 26 item 8): a sum above the page, the page's span
    Shape(
        "credit history span",
        "credit_transactions",
        ("userId", "status"),
        range=("occurredAt",),
        residual=("status",),
    ),
    Shape("funded streams", "fundings", ("userId", "status"), (("createdAt", -1), ("_id", -1))),
    Shape(
        "rentals of a user",
        "replay_rentals",
        ("userId",),
        (("rentedAt", -1), ("_id", -1)),
        residual=("streamDeletedAt",),
    ),
    Shape(
        "rental revenue due", "replay_rentals", ("status",), (("expiresAt", 1), ("_id", 1)), ("expiresAt",)
    ),
    Shape(
        "rentals stale pending (recovery pass)",
        "replay_rentals",
        ("status",),
        (("updatedAt", 1), ("_id", 1)),
        ("updatedAt",),
    ),
    Shape(
        "rentals unsettled",
        "replay_rentals",
        ("settlement", "settledAt"),
        (("updatedAt", 1), ("_id", 1)),
        ("updatedAt",),
    ),
    Shape(
        "mini crowd-fundings of streams",
        "mini_crowd_fundings",
        ("liveStreamId",),
        (("createdAt", -1), ("_id", -1)),
    ),
    # a create finding every slot taken looks for open ones past their deadline (issue 26 item 1)
    Shape(
        "overdue open minis of a stream",
        "mini_crowd_fundings",
        ("liveStreamId", "status"),
        range=(),
        residual=("status",),
    ),
    Shape("chat page", "chat_messages", ("streamId", "deletedAt"), (("createdAt", -1), ("_id", -1))),
    Shape(
        "bans closing joins again", "live_stream_bans", sort=(("closeJoinsAt", 1),), range=("closeJoinsAt",)
    ),
    Shape(
        "bans of a creator", "live_stream_bans", ("createdBy", "deletedAt"), (("createdAt", -1), ("_id", -1))
    ),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.name)
def test_query_shape_is_backed_by_an_index(shape: Shape) -> None:
    assert backing_index(shape) is not None, f"no index of {shape.collection} backs {shape}"


def test_checker_refuses_an_index_without_the_tie_breaker() -> None:
    shape = Shape("s", "c", ("a",), (("t", -1), ("_id", -1)))
    assert not backs([("a", 1), ("t", -1)], shape)
    assert backs([("a", 1), ("t", -1), ("_id", -1)], shape)
    assert backs([("a", 1), ("t", 1), ("_id", 1)], shape)  # read backwards
    assert not backs([("a", 1), ("t", -1), ("_id", 1)], shape)  # mixed directions: in-memory sort
    assert not backs([("t", -1), ("_id", -1), ("a", 1)], Shape("s", "c", ("a",), (("t", -1), ("_id", -1))))


def test_checker_applies_esr() -> None:
    shape = Shape("s", "c", ("a",), range=("r",))
    assert backs([("a", 1), ("r", 1)], shape)
    assert not backs([("r", 1), ("a", 1)], shape)
    assert not backs([("a", 1), ("x", 1), ("r", 1)], shape)
