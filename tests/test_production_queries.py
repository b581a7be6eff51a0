"""Issue 12 items 10, 12 and 13 on the embedded engine (and on MongoDB with MONGODB_TEST_URL).

10: passes read only what is due (overdue scheduled streams, viewer recounts) and featured is served
    from a shared snapshot; 12: the caller and presented users are loaded with projections;
13: the one-live-slot index tolerates explicit nulls (partial index on ObjectId values).
"""

import itertools
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from app.core.migrations import migrate_indexes
from app.core.timeutils import utcnow
from app.creators.service import publish_most_watched, recount_viewers
from app.feeds.service import publish_featured
from app.live_streams.repository import LiveStreamRepository
from app.users.repository import CALLER_FIELDS, SUMMARY_FIELDS, UserRepository
from tests.helpers import auth, create_stream, iso_in
from tests.streams import API, join_as_audience, set_fields, started_stream

# --- item 13: the live slot ---------------------------------------------------------------------------


def test_live_slot_index_is_partial_on_object_ids() -> None:
    spec = next(
        dict(model.document)
        for model in LiveStreamRepository.indexes
        if model.document["name"] == "one_live_slot_per_creator"
    )
    assert spec["unique"] is True and "sparse" not in spec
    assert spec["partialFilterExpression"] == {"liveSlotOwner": {"$type": "objectId"}}


async def test_explicit_null_live_slots_never_collide_but_owners_do(db: Any) -> None:
    """Contract: on mongod a sparse unique index indexes `liveSlotOwner: null`, so a second explicit
    null collided; the partial index leaves nulls (and missing fields) out on both engines."""
    await migrate_indexes(db, [LiveStreamRepository])
    streams = db["live_streams"]
    for n in range(3):
        await streams.insert_one({"channelName": f"null-{n}", "liveSlotOwner": None})
    await streams.insert_one({"channelName": "missing"})
    owner = ObjectId()
    await streams.insert_one({"channelName": "held", "liveSlotOwner": owner})
    with pytest.raises(DuplicateKeyError):
        await streams.insert_one({"channelName": "second", "liveSlotOwner": owner})
    with pytest.raises(DuplicateKeyError):  # claiming a slot over a null
        await streams.update_one({"channelName": "null-0"}, {"$set": {"liveSlotOwner": owner}})
    await streams.update_one({"channelName": "held"}, {"$set": {"liveSlotOwner": None}})  # released as null
    await streams.update_one({"channelName": "null-1"}, {"$set": {"liveSlotOwner": owner}})
    assert await streams.count_documents({"liveSlotOwner": None}) == 4


async def test_a_stream_with_a_null_live_slot_still_starts(client: Any, make_user: Any, db: Any) -> None:
    _, host = await make_user()
    first = await create_stream(client, host)
    second = await create_stream(client, host)
    for stream in (first, second):
        await db["live_streams"].update_one(
            {"_id": ObjectId(stream["id"])}, {"$set": {"liveSlotOwner": None}}
        )
    assert (await client.post(f"{API}/{first['id']}/start", headers=auth(host))).status_code == 200
    response = await client.post(f"{API}/{second['id']}/start", headers=auth(host))
    assert response.status_code == 409  # one live slot per creator still holds


# --- item 12: projections -----------------------------------------------------------------------------


async def test_the_caller_is_loaded_without_ledger_bookkeeping(db: Any, make_user: Any) -> None:
    user, _ = await make_user(credits=50)
    user_id = ObjectId(user["_id"])
    await db["users"].update_one({"_id": user_id}, {"$set": {"opInFlight": {"x": {"big": "entry"}}}})
    doc = await UserRepository(db).get_caller(user_id)
    assert doc is not None and set(doc) <= {"_id", *CALLER_FIELDS}
    assert "opInFlight" not in doc and "credits" not in doc and "opVersion" not in doc
    summaries = await UserRepository(db).summaries([user_id])
    assert set(summaries[user_id]) <= {"_id", *SUMMARY_FIELDS}


async def test_requests_never_load_whole_user_documents(
    client: Any, make_user: Any, monkeypatch: Any
) -> None:
    _, host = await make_user()
    _, fan = await make_user()
    stream = await started_stream(client, host)
    await join_as_audience(client, fan, stream["id"])

    async def whole_document(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a request loaded whole user documents")

    monkeypatch.setattr(UserRepository, "get", whole_document)
    monkeypatch.setattr(UserRepository, "get_many", whole_document)
    for path in (f"{API}/{stream['id']}", f"{API}/featured", f"{API}/{stream['id']}/viewers"):
        response = await client.get(path, headers=auth(host))
        assert response.status_code == 200, (path, response.text)


# --- item 10: work that grows with the data -----------------------------------------------------------


async def test_overdue_pass_reads_only_streams_that_are_due(client: Any, make_user: Any, db: Any) -> None:
    _, host = await make_user()
    now = utcnow()
    plans = {
        "past_end": (now + timedelta(hours=1), now + timedelta(hours=2)),
        "past_start": (now + timedelta(hours=1), None),
        "long_running": (now + timedelta(hours=1), now + timedelta(days=3)),
        "later": (now + timedelta(days=2), None),
    }
    ids = {}
    for name, (start, end) in plans.items():
        stream = await create_stream(client, host, plannedStartDate=iso_in(days=1))
        await set_fields(db, stream["id"], plannedStartDate=start, plannedEndDate=end)
        ids[name] = stream["id"]
    repo = LiveStreamRepository(db)
    cutoff = now + timedelta(hours=2, minutes=30)
    found = [str(s["_id"]) for s in await repo.overdue_scheduled(cutoff, limit=10)]
    assert found == [ids["past_end"], ids["past_start"]]  # by planned end first, then by planned start
    assert [str(s["_id"]) for s in await repo.overdue_scheduled(cutoff, limit=1)] == [ids["past_end"]]


async def test_viewer_counts_are_recounted_only_when_they_change(
    client: Any, make_user: Any, db: Any
) -> None:
    _, host = await make_user()
    fans = [await make_user() for _ in range(3)]
    stream = await started_stream(client, host)
    for _, token in fans[:2]:
        await join_as_audience(client, token, stream["id"])
    now = utcnow()
    ranked = await publish_most_watched(db, now)
    assert [n for _, n in ranked] == [2]
    assert await recount_viewers(db, utcnow()) == 0  # nothing changed: no creator recounted
    await join_as_audience(client, fans[0][1], stream["id"])  # a repeat visit changes nothing
    assert await recount_viewers(db, utcnow()) == 0
    await join_as_audience(client, fans[2][1], stream["id"])  # a new viewer marks the creator
    assert await recount_viewers(db, utcnow()) == 1
    count = await db["creator_viewer_counts"].find_one({"viewers": {"$exists": True}})
    assert count["viewers"] == 3
    # Recounted again when the earliest viewer leaves the 30-day window, not before.
    assert count["refreshAt"] > utcnow() + timedelta(days=29)
    assert await recount_viewers(db, count["refreshAt"] - timedelta(seconds=1)) == 0
    indexes = await (await db["creator_viewers"].list_indexes()).to_list()
    ttl = next(ix for ix in indexes if ix["name"] == "seen_ttl")
    assert ttl["expireAfterSeconds"] == 31 * 24 * 3600


async def test_featured_is_served_from_a_snapshot(client: Any, make_user: Any, app: Any, db: Any) -> None:
    app.state.settings.__dict__["ranking_max_age_seconds"] = 3600  # frozen settings: test-only override
    _, host_a = await make_user()
    _, host_b = await make_user()
    _, fan = await make_user()
    quiet = await started_stream(client, host_a)
    popular = await started_stream(client, host_b)
    await publish_featured(db, utcnow())
    first = [item["id"] for item in (await client.get(f"{API}/featured")).json()["data"]]
    assert first == [popular["id"], quiet["id"]]  # newest first on equal counts
    await join_as_audience(client, fan, quiet["id"])
    served = [item["id"] for item in (await client.get(f"{API}/featured")).json()["data"]]
    assert served == first  # no counting per request
    await publish_featured(db, utcnow())  # the background job
    assert (await client.get(f"{API}/featured")).json()["data"][0]["id"] == quiet["id"]
    await client.post(f"{API}/{quiet['id']}/end", headers=auth(host_a))
    assert [item["id"] for item in (await client.get(f"{API}/featured")).json()["data"]] == [popular["id"]]


async def _rows_without_counts(db: Any, creators: int, viewers: int) -> list[ObjectId]:
    """Rollup rows as written before the counts existed (the backfill's input)."""
    ids = [ObjectId() for _ in range(creators)]
    now = utcnow()
    await db["creator_viewers"].insert_many(
        [
            {"creatorId": c, "viewerId": ObjectId(), "liveStreamId": ObjectId(), "lastSeenAt": now}
            for c in ids
            for _ in range(viewers)
        ]
    )
    return ids


async def test_backfill_marks_creators_in_bounded_resumable_passes(db: Any, monkeypatch: Any) -> None:
    """Issue 22 item 7: no `distinct` (one answer document, 16 MB cap) and a bounded share per pass."""
    from app.core.embedded import EmbeddedCollection
    from app.creators import service

    async def no_distinct(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("distinct: one answer document of at most 16 MB")

    monkeypatch.setattr(EmbeddedCollection, "distinct", no_distinct)
    monkeypatch.setattr(service, "BACKFILL_PER_PASS", 2)
    creators = await _rows_without_counts(db, creators=5, viewers=2)
    counted = []
    for _ in range(3):  # 2 + 2 + 1 creators
        counted.append(await recount_viewers(db, utcnow()))
    assert counted == [2, 2, 1]
    docs = await db["creator_viewer_counts"].find({"_id": {"$in": creators}}).to_list()
    assert sorted(doc["viewers"] for doc in docs) == [2] * 5
    marker = await db["creator_viewer_counts"].find_one({"_id": "backfill"})
    assert marker["doneAt"] is not None
    assert await recount_viewers(db, utcnow()) == 0  # done: nothing marked again


async def test_recount_batch_shrinks_to_fit_the_operation_budget(db: Any, monkeypatch: Any) -> None:
    """A batch of busy creators whose query times out is split, not retried whole forever."""
    from pymongo.errors import ExecutionTimeout

    from app.creators.viewer_repository import CreatorViewerRepository

    creators = await _rows_without_counts(db, creators=5, viewers=3)
    windows_of = CreatorViewerRepository.windows_of
    sizes: list[int] = []

    async def too_many_rows(self: Any, creator_ids: list[ObjectId], since: Any) -> Any:
        sizes.append(len(creator_ids))
        if len(creator_ids) > 2:
            raise ExecutionTimeout("operation exceeded time limit", 50)
        return await windows_of(self, creator_ids, since)

    monkeypatch.setattr(CreatorViewerRepository, "windows_of", too_many_rows)
    assert await recount_viewers(db, utcnow()) == 5
    assert sizes[:2] == [5, 2]  # halved after the timeout
    assert all(after < before for before, after in itertools.pairwise(sizes) if before > 2)
    docs = await db["creator_viewer_counts"].find({"_id": {"$in": creators}}).to_list()
    assert sorted(doc["viewers"] for doc in docs) == [3] * 5


async def test_watch_seconds_are_stored_as_integers(client: Any, make_user: Any, db: Any) -> None:
    """Issue 22 item 7: `$divide` answers a double on mongod and `$floor` keeps it one; the pipeline
    update that closes participations converts to an integer (meaningful on mongod, MONGODB_TEST_URL,
    and on an embedded engine that answers `$divide` like mongod)."""
    _, host = await make_user()
    _, fan = await make_user()
    stream = await started_stream(client, host)
    await join_as_audience(client, fan, stream["id"])
    await db["participants"].update_one(
        {"liveStreamId": ObjectId(stream["id"]), "role": "audience"},
        {"$set": {"joinedAt": utcnow() - timedelta(seconds=42, milliseconds=700)}},
    )
    ended = await client.post(f"{API}/{stream['id']}/end", headers=auth(host))
    assert ended.status_code == 200, ended.text
    doc = await db["participants"].find_one({"liveStreamId": ObjectId(stream["id"]), "role": "audience"})
    assert type(doc["watchSeconds"]) is int and 42 <= doc["watchSeconds"] <= 44
