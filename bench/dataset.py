"""Benchmark dataset: users, follows, streams in every state, fundings, participants and the viewer rollup.

`build(scale, seed)` makes the documents in memory, shaped exactly as the app writes them (see
`UserRepository.create`, `LiveStreamService.create` + `StreamLifecycle`, `FundingService.fund` +
`CreditLedger`, `ParticipantRepository.record_join` and `CreatorViewerRepository.touch`), with ids and
dates drawn from a seeded generator so two processes build the same data. `load(db, dataset)` bulk-inserts
them through the app's repositories into whichever engine `db` is (the benchmark database emptied first,
indexes built afterwards by the index migration, as for any bulk load).

One scale unit is 10,000 join events (participant joins, `Σ joinCount`) spread over 35 days, so
`--scale 1|10|100` is 10 k, 100 k and 1 M join events; every other collection grows in proportion.

    python -m bench.dataset --scale 10     # build + load into the configured engine, print the counts

It loads into the database `allmine_bench_x<scale>`, never the app's own (loading drops collections).
"""

import argparse
import asyncio
import itertools
import random
import time
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from app.agora.tokens import agora_uid
from app.core.config import Settings
from app.core.db import Database, create_client
from app.core.migrations import migrate_indexes
from app.core.timeutils import utcnow
from app.creators.viewer_repository import CreatorViewerRepository
from app.live_streams.funding_repository import FundingRepository
from app.live_streams.participant_repository import ParticipantRepository
from app.live_streams.repository import LiveStreamRepository
from app.repositories import REPOSITORIES as ALL_REPOSITORIES
from app.users.credits import CreditTransactionRepository
from app.users.repository import FollowRepository, UserRepository

JOIN_EVENTS_PER_UNIT = 10_000
USERS_PER_UNIT = 1_000
CREATOR_SHARE = 0.1
STREAMS_PER_UNIT = 400
ACTIVE_PER_UNIT = 20
FUNDINGS_PER_UNIT = 1_000
FOLLOWS_PER_USER = 8
HISTORY = timedelta(days=35)  # longer than the 30-day ranking window, so some rows fall outside it
FAN_FUNDED = 30  # scheduled streams the benchmark's reading user ("fan") has funded
FIXTURE_IDS = 64  # ids handed to the load driver per request kind
INSERT_CHUNK = 5_000

# Share of the non-active streams in each state (active streams are ACTIVE_PER_UNIT per unit).
STATE_SHARES = {
    "ended": 0.60,
    "scheduled": 0.15,
    "preparing": 0.05,
    "expired": 0.08,
    "cancelled_by_host": 0.08,
    "cancelled_by_guest": 0.04,
}
DELETED_SHARE = 0.03
INTERESTS = ("music", "art", "cooking", "photography", "travel", "design", "gaming", "fitness")
DEVICES = ("iOS", "Android", "Web")


@dataclass
class Fixtures:
    """What the load driver needs: ids (as strings) picked from the generated data."""

    fan: str = ""
    detail: list[str] = field(default_factory=list)
    viewers: list[str] = field(default_factory=list)
    fundable: list[str] = field(default_factory=list)
    joinable: list[str] = field(default_factory=list)
    actors: list[str] = field(default_factory=list)  # regular users who fund and join
    guest: str = ""  # the user invited as a guest to the most streams (GET /guest-streams)


@dataclass
class Dataset:
    scale: int
    docs: dict[str, list[dict[str, Any]]]
    fixtures: Fixtures
    join_events: int

    def counts(self) -> dict[str, int]:
        return {name: len(docs) for name, docs in self.docs.items()}


def _ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class _Builder:
    def __init__(self, scale: int, seed: int, now: datetime) -> None:
        self.scale, self.now = scale, now
        self.rng = random.Random(seed)
        self.docs: dict[str, list[dict[str, Any]]] = {}
        self.fixtures = Fixtures()

    def new_id(self, when: datetime) -> ObjectId:
        """Seeded ObjectId whose timestamp is the document's creation time."""
        return ObjectId(int(when.timestamp()).to_bytes(4, "big") + self.rng.randbytes(8))

    def between(self, start: datetime, end: datetime) -> datetime:
        return _ms(start + (end - start) * self.rng.random())

    def ago(self, longest: timedelta, shortest: timedelta = timedelta(0)) -> datetime:
        return self.between(self.now - longest, self.now - shortest)

    # --- users and follows --------------------------------------------------------------------------------

    def users(self) -> None:
        count = USERS_PER_UNIT * self.scale
        users = []
        for i in range(count):
            created = self.ago(HISTORY + timedelta(days=60), HISTORY)
            users.append(
                {
                    "_id": self.new_id(created),
                    "username": f"user{i:07d}",
                    "usernameLower": f"user{i:07d}",
                    "name": f"Name{i}",
                    "surname": f"Surname{i}",
                    "profilePhoto": None,
                    "availabilityStatus": self.rng.choice(("available", "busy")),
                    "expertise": self.rng.choice((None, "Musician", "Chef", "Designer")),
                    "interests": sorted(self.rng.sample(INTERESTS, 3)),
                    "credits": 1_000_000_000,
                    "appliedTxs": [],
                    "createdAt": created,
                    "updatedAt": created,
                    "deletedAt": None,
                }
            )
        creators = int(count * CREATOR_SHARE)
        self.creators = users[:creators]
        self.rank = {creator["_id"]: rank for rank, creator in enumerate(self.creators)}
        self.fan = users[creators]  # the reading user of the load test: follows, funds, watches
        self.audience = users[creators + 1 :]
        for user in self.rng.sample(self.audience, int(count * 0.02)):
            user["deletedAt"] = self.ago(timedelta(days=10))
        self.audience = [u for u in self.audience if u["deletedAt"] is None]
        # Zipf-like popularity, so the ranking has a head and a long tail.
        weights = [1 / (rank + 1) ** 0.8 for rank in range(creators)]
        self.creator_cum = list(itertools.accumulate(weights))
        self.docs["users"] = users
        self.fixtures.fan = str(self.fan["_id"])
        self.fixtures.actors = [str(u["_id"]) for u in self.audience[:200]]

    def popular_creator(self) -> dict[str, Any]:
        return self.creators[bisect(self.creator_cum, self.rng.random() * self.creator_cum[-1])]

    def follows(self) -> None:
        follows = []
        for user in [self.fan, *self.audience, *self.creators]:
            wanted = 20 if user is self.fan else FOLLOWS_PER_USER
            followees = {self.popular_creator()["_id"] for _ in range(wanted)} - {user["_id"]}
            for followee in followees:
                created = self.ago(HISTORY)
                follows.append(
                    {
                        "_id": FollowRepository.key(user["_id"], followee),
                        "followerId": user["_id"],
                        "followeeId": followee,
                        "createdAt": created,
                    }
                )
        self.docs["follows"] = follows

    # --- streams ------------------------------------------------------------------------------------------

    def streams(self) -> None:
        total = STREAMS_PER_UNIT * self.scale
        active = ACTIVE_PER_UNIT * self.scale
        states = ["active"] * active
        for state, share in STATE_SHARES.items():
            states += [state] * round((total - active) * share)
        live_creators = iter(self.rng.sample(self.creators, active))  # one live slot per creator
        streams = []
        for i, state in enumerate(states):
            creator = next(live_creators) if state == "active" else self.popular_creator()
            streams.append(self.stream(i, state, creator))
        for stream in self.rng.sample(streams, int(len(streams) * DELETED_SHARE)):
            if stream["status"] != "active":
                stream["deletedAt"] = self.between(stream["createdAt"], self.now)
        self.docs["live_streams"] = streams

    def stream(self, i: int, state: str, creator: dict[str, Any]) -> dict[str, Any]:
        kind = self.rng.choices(("solo", "duocrowd", "duoself"), (0.7, 0.2, 0.1))[0]
        guests = [] if kind == "solo" else [self.rng.choice(self.creators)["_id"]]
        guests = [g for g in guests if g != creator["_id"]]
        created = {
            "active": lambda: self.ago(timedelta(hours=4), timedelta(minutes=10)),
            "preparing": lambda: self.ago(timedelta(days=2)),
            "scheduled": lambda: self.ago(timedelta(days=10)),
        }.get(state, lambda: self.ago(HISTORY, timedelta(hours=4)))()
        price = self.rng.choice((None, None, 9.99))
        funded = state in ("scheduled", "cancelled_by_host", "cancelled_by_guest") and self.rng.random() < 0.7
        doc: dict[str, Any] = {
            "_id": self.new_id(created),
            "title": f"Benchmark stream {i}",
            "liveStreamType": kind,
            "channelName": f"benchmark-stream-{i}",
            "creatorId": creator["_id"],
            "guestIds": guests,
            "broadcasters": [],
            "thumbnailUrl": None,
            "recording": self.rng.random() < 0.5,
            "recordingUrl": None,
            "status": state,
            "accessType": "paid" if price else "free",
            "price": price,
            "interest": self.rng.choice(INTERESTS),
            "durationGoal": self.rng.choice((30, 60, 90)),
            "motivation": None,
            "isActiveReplayOnCreatorProfile": None,
            "replayCreditPrice": None,
            "startedAt": None,
            "plannedStartDate": None,
            "endedAt": None,
            "plannedEndDate": None,
            "createdAt": created,
            "updatedAt": created,
            "deletedAt": None,
            "fundingGoal": self.rng.choice((1_000, 5_000, 20_000)) if funded else None,
            "collectedFunding": 0,
            "appliedFundings": [],
            "miniCrowdFundings": [],
        }
        if state in ("scheduled", "expired", "cancelled_by_host", "cancelled_by_guest"):
            planned = (
                self.between(self.now + timedelta(hours=1), self.now + timedelta(days=14))
                if state == "scheduled"
                else self.between(created, created + timedelta(days=3))
            )
            doc["plannedStartDate"] = planned
            doc["plannedEndDate"] = planned + timedelta(minutes=doc["durationGoal"])
        if state.startswith("cancelled"):
            doc["cancelledAt"] = self.between(created, min(doc["plannedStartDate"], self.now))
        if state in ("active", "ended"):
            self.went_live(doc, creator)
        return doc

    def went_live(self, doc: dict[str, Any], creator: dict[str, Any]) -> None:
        started = self.between(doc["createdAt"], doc["createdAt"] + timedelta(minutes=30))
        doc["startedAt"] = started
        doc["broadcasters"] = [{"user": creator["_id"], "role": "host", "uid": agora_uid(creator["_id"])}]
        doc["broadcasters"] += [{"user": g, "role": "guest", "uid": agora_uid(g)} for g in doc["guestIds"]]
        aioz = {"keyId": f"key-{creator['_id']}", "streamingId": f"streaming-{doc['_id']}", "attempts": 0}
        aioz |= {"hlsUrl": f"https://hls.example/{doc['_id']}.m3u8", "reconcileAt": None}
        if doc["status"] == "active":
            doc["liveSlotOwner"] = creator["_id"]
            doc["aioz"] = {**aioz, "state": "open"}
            return
        doc["endedAt"] = self.between(started + timedelta(minutes=15), started + timedelta(hours=3))
        doc["aioz"] = {**aioz, "state": "recorded" if doc["recording"] else "closed"}
        if doc["recording"]:
            doc["recordingUrl"] = f"https://video.example/{doc['_id']}.mp4"
            doc["isActiveReplayOnCreatorProfile"] = self.rng.random() < 0.5
            doc["replayCreditPrice"] = 50 if doc["isActiveReplayOnCreatorProfile"] else None

    # --- participants and the viewer rollup -----------------------------------------------------------------

    def audience_joins(self) -> int:
        """Participants until JOIN_EVENTS_PER_UNIT × scale joins; returns the number of join events."""
        live = [s for s in self.docs["live_streams"] if s["startedAt"] is not None]
        weights = [self.rng.uniform(0.5, 1.5) / (self.rank[s["creatorId"]] + 1) ** 0.8 for s in live]
        cum = list(itertools.accumulate(weights))
        viewers = [self.fan, *self.audience]
        seen: set[tuple[ObjectId, ObjectId]] = set()
        participants, rollup, events = [], [], 0
        target = JOIN_EVENTS_PER_UNIT * self.scale
        for stream in live:  # guests join their own streams as guests
            for guest in stream["guestIds"]:
                participants.append(self.participant(stream, guest, "guest", 1))
                events += 1
        while events < target:
            stream = live[bisect(cum, self.rng.random() * cum[-1])]
            viewer = viewers[int(self.rng.random() ** 1.5 * len(viewers))]  # some users watch a lot more
            if (stream["_id"], viewer["_id"]) in seen:
                continue
            seen.add((stream["_id"], viewer["_id"]))
            joins = min(1 + int(self.rng.expovariate(0.7)), target - events)
            doc = self.participant(stream, viewer["_id"], "audience", joins)
            participants.append(doc)
            events += joins
            if stream["deletedAt"] is None:  # deleting a stream forgets its rollup rows
                rollup.append(
                    {
                        "_id": self.new_id(doc["joinedAt"]),
                        "creatorId": stream["creatorId"],
                        "viewerId": viewer["_id"],
                        "liveStreamId": stream["_id"],
                        "lastSeenAt": doc["joinedAt"],
                    }
                )
        self.docs["participants"] = participants
        self.docs["creator_viewers"] = rollup
        return events

    def participant(self, stream: dict[str, Any], user_id: ObjectId, role: str, joins: int) -> dict[str, Any]:
        end = stream["endedAt"] or self.now
        first = self.between(stream["startedAt"], end)
        last = self.between(first, end)
        present = stream["status"] == "active" and self.rng.random() < 0.85
        left = None if present else self.between(last, end)
        return {
            "_id": self.new_id(first),
            "liveStreamId": stream["_id"],
            "userId": user_id,
            "role": role,
            "isPresent": present,
            "joinedAt": last,
            "leftAt": left,
            "device": {"deviceType": self.rng.choice(DEVICES), "appVersion": "1.4.2"},
            "joinCount": joins,
            "creatorId": stream["creatorId"],
            "firstJoinedAt": first,
            "watchSeconds": int(((left or self.now) - first).total_seconds() * 0.8),
        }

    # --- fundings and their ledger movements ------------------------------------------------------------------

    def fundings(self) -> None:
        funded = [s for s in self.docs["live_streams"] if s["fundingGoal"]]
        fan_streams = [s for s in funded if s["status"] == "scheduled" and s["deletedAt"] is None][
            :FAN_FUNDED
        ]
        pairs = [(self.fan, s) for s in fan_streams]
        pairs += [
            (self.rng.choice(self.audience), self.rng.choice(funded))
            for _ in range(FUNDINGS_PER_UNIT * self.scale - len(pairs))
        ]
        fundings, transactions = [], []
        for funder, stream in pairs:
            stopped = stream.get("cancelledAt") or stream["deletedAt"]
            created = self.between(stream["createdAt"], min(stream["plannedStartDate"], stopped or self.now))
            status = self.rng.choices(("rejected", "refunded" if stopped else "completed"), (0.05, 0.95))[0]
            funding = {
                "_id": self.new_id(created),
                "liveStreamId": stream["_id"],
                "userId": funder["_id"],
                "amount": self.rng.choice((10, 50, 100, 250)),
                "idempotencyKey": f"auto:{self.rng.randbytes(16).hex()}",
                "requestHash": self.rng.randbytes(32).hex(),
                "status": status,
                "response": None,
                "failure": "insufficient_credits" if status == "rejected" else None,
                "createdAt": created,
                "updatedAt": created,
            }
            fundings.append(funding)
            if status == "rejected":
                continue
            transactions.append(self.movement(funding, "debit", "live_stream_funding", "funding"))
            if status == "refunded":
                funding["refundedAt"] = max(stopped, created)
                transactions.append(
                    self.movement(funding, "credit", "live_stream_funding_refund", "funding-refund")
                )
            else:
                stream["collectedFunding"] += funding["amount"]
                stream["appliedFundings"] = [*stream["appliedFundings"], funding["_id"]][-64:]
        self.docs["fundings"] = fundings
        self.docs["credit_transactions"] = transactions

    def movement(self, funding: dict[str, Any], direction: str, kind: str, key: str) -> dict[str, Any]:
        when = funding.get("refundedAt") if direction == "credit" else funding["createdAt"]
        return {
            "_id": self.new_id(when),
            "userId": funding["userId"],
            "type": kind,
            "direction": direction,
            "amount": funding["amount"],
            "status": "completed",
            "idempotencyKey": f"{key}:{funding['_id']}",
            "reference": {"kind": "liveStream", "id": str(funding["liveStreamId"])},
            "balanceAfter": None,
            "occurredAt": when,
            "createdAt": when,
            "updatedAt": when,
        }

    # --- what the driver uses -----------------------------------------------------------------------------

    def pick_fixtures(self) -> None:
        alive = [s for s in self.docs["live_streams"] if s["deletedAt"] is None]
        present: dict[ObjectId, int] = {}
        for p in self.docs["participants"]:
            if p["isPresent"] and p["role"] == "audience":
                present[p["liveStreamId"]] = present.get(p["liveStreamId"], 0) + 1
        by_audience = sorted(present, key=present.__getitem__, reverse=True)
        self.fixtures.detail = [str(s["_id"]) for s in self.rng.sample(alive, min(FIXTURE_IDS, len(alive)))]
        self.fixtures.viewers = [str(i) for i in by_audience[:8]]
        self.fixtures.joinable = [str(s["_id"]) for s in alive if s["status"] == "active"][:FIXTURE_IDS]
        invitations: dict[ObjectId, int] = {}
        for stream in alive:
            for guest in stream["guestIds"]:
                invitations[guest] = invitations.get(guest, 0) + 1
        self.fixtures.guest = str(max(invitations, key=invitations.__getitem__))
        self.fixtures.fundable = [
            str(s["_id"]) for s in alive if s["status"] == "scheduled" and s["fundingGoal"]
        ][:FIXTURE_IDS]


def build(scale: int, seed: int = 7, now: datetime | None = None) -> Dataset:
    builder = _Builder(scale, seed, now or utcnow())
    builder.users()
    builder.follows()
    builder.streams()
    join_events = builder.audience_joins()
    builder.fundings()
    builder.pick_fixtures()
    return Dataset(scale, builder.docs, builder.fixtures, join_events)


REPOSITORIES = (
    UserRepository,
    FollowRepository,
    LiveStreamRepository,
    ParticipantRepository,
    CreatorViewerRepository,
    FundingRepository,
    CreditTransactionRepository,
)


def _chunks(docs: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(docs), INSERT_CHUNK):
        yield docs[start : start + INSERT_CHUNK]


async def load(db: Database, dataset: Dataset) -> None:
    """Empty the benchmark database, insert the dataset, then build every declared index."""
    for name in await db.list_collection_names():
        await db.drop_collection(name)
    for repository in REPOSITORIES:
        collection = repository(db).collection
        for chunk in _chunks(dataset.docs[collection.name]):
            await collection.insert_many(chunk, ordered=False)
    await migrate_indexes(db, ALL_REPOSITORIES)


def database_name(scale: int) -> str:
    """The benchmark's own database: loading drops its collections, so never the app's database."""
    return f"allmine_bench_x{scale}"


def describe(dataset: Dataset) -> str:
    counts = ", ".join(f"{name} {count:,}" for name, count in dataset.counts().items())
    return f"scale {dataset.scale}: {dataset.join_events:,} join events; {counts}"


async def _main(scale: int, seed: int) -> None:
    settings = Settings(mongodb_db=database_name(scale))
    started = time.perf_counter()
    dataset = build(scale, seed)
    built = time.perf_counter()
    client = create_client(settings)
    try:
        await load(client[settings.mongodb_db], dataset)
    finally:
        await client.close()
    print(describe(dataset))
    print(
        f"built in {built - started:.1f} s, loaded into {settings.mongodb_db!r} in {time.perf_counter() - built:.1f} s"
    )
    if settings.uses_embedded_db:
        print(
            "embedded engine: the data lived in this process only (python -m bench loads it inside the server)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1, help="1 unit = 10,000 join events (1, 10, 100)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(_main(args.scale, args.seed))


if __name__ == "__main__":
    main()
