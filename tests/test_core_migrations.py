"""Index migration (issue 12 item 7): missing indexes created, conflicting and obsolete ones reported and
never fatal, dropped only on request; commit quorum where the server takes one; the CLI command."""

import asyncio
from typing import Any, ClassVar

import bson
import pymongo
import pytest
from bson.codec_options import CodecOptions
from bson.son import SON
from pymongo.errors import ServerSelectionTimeoutError
from pymongo.operations import IndexModel

from app.cli import MIGRATED, NOT_CLEAN, UNAVAILABLE, migrate_indexes_command
from app.core.embedded import EmbeddedAsyncClient
from app.core.migrations import declared_indexes, migrate_indexes
from app.repositories import REPOSITORIES
from tests.conftest import make_settings


class Widgets:
    """A repository stand-in: the migration reads only `collection_name` and `indexes`."""

    collection_name = "widgets"
    indexes: ClassVar[list[IndexModel]] = [
        IndexModel([("sku", 1)], name="sku_unique", unique=True),
        IndexModel([("ownerId", 1), ("createdAt", -1)], name="by_owner"),
        IndexModel([("expiresAt", 1)], name="expiry", expireAfterSeconds=60),
    ]


@pytest.fixture
async def fresh_db() -> Any:
    client = EmbeddedAsyncClient()
    yield client["migrations"]
    await client.close()


async def names(db: Any) -> dict[str, Any]:
    return {doc["name"]: doc for doc in await (await db.widgets.list_indexes()).to_list()}


async def test_missing_indexes_are_created_then_nothing_changes(fresh_db):
    report = await migrate_indexes(fresh_db, [Widgets])
    assert sorted(report.created) == ["widgets.by_owner", "widgets.expiry", "widgets.sku_unique"]
    assert report.clean
    existing = await names(fresh_db)
    assert existing["sku_unique"]["unique"] is True and existing["expiry"]["expireAfterSeconds"] == 60
    again = await migrate_indexes(fresh_db, [Widgets])
    assert again.created == [] and again.clean


async def test_conflicts_and_obsolete_indexes_are_reported_and_not_fatal(fresh_db):
    await fresh_db.widgets.create_indexes(
        [
            IndexModel([("sku", 1)], name="sku_unique"),  # same name, not unique
            IndexModel([("ownerId", 1), ("createdAt", -1)], name="owner_created"),  # same keys, other name
            IndexModel([("legacy", 1)], name="legacy_field"),  # declared nowhere
        ]
    )
    report = await migrate_indexes(fresh_db, [Widgets])
    assert report.created == ["widgets.expiry"]  # what is missing is still created
    assert {(p.name, "exists with" in p.detail) for p in report.conflicts} == {
        ("sku_unique", True),
        ("by_owner", False),
    }
    assert "owner_created" in next(str(p) for p in report.conflicts if p.name == "by_owner")
    assert [p.name for p in report.obsolete] == ["legacy_field"]
    assert not report.clean and report.failed == []
    existing = await names(fresh_db)  # nothing existing was touched
    assert "unique" not in existing["sku_unique"] and {"owner_created", "legacy_field"} <= existing.keys()


async def test_drop_obsolete_replaces_conflicts_and_drops_the_rest(fresh_db):
    await fresh_db.widgets.create_indexes(
        [
            IndexModel([("sku", 1)], name="sku_unique"),
            IndexModel([("ownerId", 1), ("createdAt", -1)], name="owner_created"),
            IndexModel([("legacy", 1)], name="legacy_field"),
        ]
    )
    report = await migrate_indexes(fresh_db, [Widgets], drop_obsolete=True)
    assert sorted(report.dropped) == ["widgets.legacy_field", "widgets.owner_created", "widgets.sku_unique"]
    assert sorted(report.created) == ["widgets.by_owner", "widgets.expiry", "widgets.sku_unique"]
    assert report.clean
    existing = await names(fresh_db)
    assert sorted(existing) == ["_id_", "by_owner", "expiry", "sku_unique"]
    assert existing["sku_unique"]["unique"] is True


async def test_a_refused_build_is_reported_and_the_rest_goes_on(fresh_db):
    await fresh_db.widgets.insert_many([{"sku": "a"}, {"sku": "a"}])  # violates the new unique index
    report = await migrate_indexes(fresh_db, [Widgets])
    assert [p.name for p in report.failed] == ["sku_unique"]
    assert sorted(report.created) == ["widgets.by_owner", "widgets.expiry"]


def test_one_index_declared_twice_differently_is_an_error():
    class Other:
        collection_name = "widgets"
        indexes: ClassVar[list[IndexModel]] = [IndexModel([("sku", -1)], name="sku_unique")]

    with pytest.raises(ValueError, match="declared twice"):
        declared_indexes([Widgets, Other])


# --- a real server's behaviour, faked --------------------------------------------------------------------


class FakeCursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    async def to_list(self, *_: Any) -> list[dict[str, Any]]:
        return self.docs


class FakeCollection:
    def __init__(self, name: str, fail: BaseException | None = None) -> None:
        self.name, self.fail = name, fail
        self.created: list[tuple[list[str], dict[str, Any]]] = []
        self.deadlines: list[float | None] = []
        self.slow: asyncio.Event | None = None  # set: a build that runs until the event is set

    async def list_indexes(self) -> FakeCursor:
        return FakeCursor([{"name": "_id_", "key": {"_id": 1}}])

    async def create_indexes(self, models: list[IndexModel], **options: Any) -> None:
        # What PyMongo turns into the command's `maxTimeMS` (`Connection.apply_timeout`): the time left
        # before the operation's deadline, None when there is none.
        self.deadlines.append(pymongo._csot.remaining())
        if self.slow is not None:
            await self.slow.wait()
        if self.fail:
            raise self.fail
        self.created.append(([m.document["name"] for m in models], options))


class FakeServer:
    """Not the embedded engine: the migration asks `hello` for the topology."""

    def __init__(self, hello: dict[str, Any], fail: BaseException | None = None) -> None:
        self.hello, self.widgets = hello, FakeCollection("widgets", fail)

    def __getitem__(self, name: str) -> FakeCollection:
        return self.widgets

    async def command(self, name: str) -> dict[str, Any]:
        assert name == "hello"
        return self.hello

    async def list_collection_names(self) -> list[str]:
        return [self.widgets.name]


@pytest.mark.parametrize(
    ("hello", "quorum"),
    [({"setName": "rs0"}, {"commitQuorum": "majority"}), ({"msg": "isdbgrid"}, {"commitQuorum": "majority"}),
     ({"isWritablePrimary": True}, {})],
    ids=["replica-set", "mongos", "standalone"],
)  # fmt: skip
async def test_commit_quorum_majority_where_the_server_takes_one(hello, quorum):
    server = FakeServer(hello)
    await migrate_indexes(server, [Widgets])
    assert server.widgets.created and all(options == quorum for _, options in server.widgets.created)
    for _, options in server.widgets.created:
        assert create_indexes_refusals(hello, options) == []


def create_indexes_refusals(hello: dict[str, Any], options: dict[str, Any]) -> list[str]:
    """MongoDB 7.0's rules for `createIndexes`' commitQuorum (index_builds_coordinator.cpp): only a
    replica set member or mongos takes one (a standalone answers IllegalOperation, code 20); its value
    is "majority", "votingMembers", a member count or a replica set tag."""
    if "commitQuorum" not in options:
        return []
    if "setName" not in hello and hello.get("msg") != "isdbgrid":
        return ["20 IllegalOperation: commitQuorum is supported only for replica sets"]
    quorum = options["commitQuorum"]
    if not ((isinstance(quorum, int) and quorum >= 0) or (isinstance(quorum, str) and quorum)):
        return ["2 BadValue: invalid commitQuorum"]
    return []


def test_the_commit_quorum_rule_check_refuses_a_standalone_quorum():
    assert create_indexes_refusals({"isWritablePrimary": True}, {"commitQuorum": "majority"}) != []


async def test_the_embedded_engine_takes_the_same_path_and_answers_as_a_standalone(fresh_db, monkeypatch):
    """No engine branch: the migration asks `hello` on the embedded engine too (answered like a
    standalone server), so it sends no commit quorum there."""
    asked: list[Any] = []
    sent: list[dict[str, Any]] = []
    command, create = type(fresh_db).command, type(fresh_db.widgets).create_indexes

    async def recording_command(self: Any, name: Any, **kwargs: Any) -> Any:
        asked.append(name)
        return await command(self, name, **kwargs)

    async def recording_create(self: Any, models: Any, **options: Any) -> Any:
        sent.append(options)
        return await create(self, models, **options)

    monkeypatch.setattr(type(fresh_db), "command", recording_command)
    monkeypatch.setattr(type(fresh_db.widgets), "create_indexes", recording_create)
    await migrate_indexes(fresh_db, [Widgets])
    assert asked == ["hello"] and sent == [{}]
    assert create_indexes_refusals(await fresh_db.command("hello"), sent[0]) == []


async def test_an_unavailable_database_raises_for_the_caller_to_retry():
    with pytest.raises(ServerSelectionTimeoutError):
        await migrate_indexes(FakeServer({"setName": "rs0"}, ServerSelectionTimeoutError("down")), [Widgets])


async def test_index_builds_carry_no_client_deadline():
    """Under `timeoutMS` PyMongo sends `maxTimeMS` with `createIndexes`; mongod aborts a build that
    reaches it and the next try starts from zero (SERVER-46595): a long build would never finish."""
    server = FakeServer({"setName": "rs0"})
    with pymongo.timeout(8):  # the client's per-operation budget, as `timeoutMS` applies it
        await migrate_indexes(server, [Widgets], build_timeout_seconds=600)
    assert server.widgets.created and server.widgets.deadlines == [None]


async def test_a_build_longer_than_the_wait_is_reported_as_building_and_left_to_finish(caplog):
    server = FakeServer({"setName": "rs0"})
    server.widgets.slow = asyncio.Event()
    # not an outage: no raise; the guard only keeps a migration that waits for the build from hanging
    report = await asyncio.wait_for(migrate_indexes(server, [Widgets], build_timeout_seconds=0.01), 5)
    assert sorted(report.building) == ["widgets.by_owner", "widgets.expiry", "widgets.sku_unique"]
    assert "building widgets.sku_unique" in report.lines() and report.created == []
    server.widgets.slow.set()  # the server finishes the build: the command that started it returns
    for _ in range(100):
        if server.widgets.created:
            break
        await asyncio.sleep(0)
    assert [names for names, _ in server.widgets.created] == [["sku_unique", "by_owner", "expiry"]]
    assert server.widgets.deadlines == [None]  # one command, never aborted nor sent again


# --- the command -------------------------------------------------------------------------------------------


def test_cli_migrates_and_exits_0(capsys):
    assert migrate_indexes_command([], settings=make_settings()) == MIGRATED
    out = capsys.readouterr().out
    assert "created users.username_unique" in out and "0 conflicting, 0 obsolete, 0 failed" in out


def test_cli_exits_2_when_the_database_is_unavailable(capsys):
    settings = make_settings(mongodb_url="mongodb://127.0.0.1:1", mongodb_timeout_ms=200)
    assert migrate_indexes_command(["--drop-obsolete"], settings=settings) == UNAVAILABLE
    assert "database unavailable" in capsys.readouterr().err


def test_cli_help_names_the_flag(capsys):
    with pytest.raises(SystemExit):
        migrate_indexes_command(["--help"])
    assert "--drop-obsolete" in capsys.readouterr().out
    assert NOT_CLEAN == 1


# --- listings as PyMongo decodes them (issue 22, defect 2) ------------------------------------------------


def as_pymongo_decodes(doc: dict[str, Any]) -> SON:
    """What `AsyncCollection.list_indexes` yields: the server's BSON decoded with `SON`, nested too."""
    return bson.decode(bson.encode(doc), codec_options=CodecOptions(document_class=SON))


class SonListingCollection:
    def __init__(self, collection: Any) -> None:
        self._collection = collection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def list_indexes(self) -> FakeCursor:
        docs = await (await self._collection.list_indexes()).to_list()
        return FakeCursor([as_pymongo_decodes(doc) for doc in docs])


class SonListingDb:
    """The embedded database, with index listings decoded the way PyMongo decodes a server's."""

    def __init__(self, db: Any) -> None:
        self._db = db

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def __getitem__(self, name: str) -> SonListingCollection:
        return SonListingCollection(self._db[name])


async def test_a_son_decoded_listing_of_the_declared_indexes_is_clean_and_nothing_is_dropped(fresh_db):
    first = await migrate_indexes(fresh_db, REPOSITORIES)
    assert first.created and first.clean
    server_like = SonListingDb(fresh_db)
    [listing] = [
        doc
        for doc in await (await server_like["live_streams"].list_indexes()).to_list()
        if doc["name"] == "one_live_slot_per_creator"
    ]
    assert type(listing["partialFilterExpression"]) is SON  # the case that `repr` told apart
    second = await migrate_indexes(server_like, REPOSITORIES)
    assert second.lines() == []  # nothing created, no conflict, nothing obsolete
    dropping = await migrate_indexes(server_like, REPOSITORIES, drop_obsolete=True)
    assert dropping.lines() == []  # `--drop-obsolete` rebuilds nothing


# --- shard keys (issue 22, defect 5) ----------------------------------------------------------------------


class ShardedWidgets:
    collection_name = "widgets"
    shard_key = (("ownerId", 1),)
    indexes: ClassVar[list[IndexModel]] = [IndexModel([("sku", 1)], name="sku")]


async def test_drop_obsolete_never_drops_an_index_supporting_the_planned_shard_key(fresh_db):
    await fresh_db.widgets.create_indexes(
        [
            IndexModel([("ownerId", 1)], name="ownerId_1"),  # made by hand for sh.shardCollection
            IndexModel([("ownerId", 1), ("at", -1)], name="owner_at"),  # supports it too
            IndexModel([("legacy", 1)], name="legacy"),
        ]
    )
    report = await migrate_indexes(fresh_db, [ShardedWidgets], drop_obsolete=True)
    assert report.dropped == ["widgets.legacy"]
    assert sorted(report.kept) == [
        "widgets.ownerId_1 (supports the shard key)",
        "widgets.owner_at (supports the shard key)",
    ]
    assert {"ownerId_1", "owner_at"} <= (await names(fresh_db)).keys()


async def test_drop_obsolete_never_drops_an_index_supporting_the_clusters_shard_key(fresh_db):
    """The key the cluster really uses (`config.collections`, written by `sh.shardCollection`), even one
    the plan does not name."""
    await fresh_db.client["config"]["collections"].insert_one(
        {"_id": "migrations.widgets", "key": SON([("region", "hashed")]), "unique": False}
    )
    await fresh_db.widgets.create_indexes(
        [
            IndexModel([("region", "hashed")], name="region_hashed"),
            IndexModel([("region", 1)], name="region_1"),
        ]
    )
    report = await migrate_indexes(fresh_db, [Widgets], drop_obsolete=True)
    assert report.kept == ["widgets.region_hashed (supports the shard key)"]
    assert "widgets.region_1" in report.dropped  # ranged: not what the hashed key routes with
    assert "region_hashed" in await names(fresh_db)


async def test_a_conflicting_index_that_supports_the_shard_key_is_reported_not_dropped(fresh_db):
    class Declared:
        collection_name = "widgets"
        shard_key = (("ownerId", 1),)
        indexes: ClassVar[list[IndexModel]] = [IndexModel([("ownerId", 1)], name="by_owner", unique=True)]

    await fresh_db.widgets.create_index([("ownerId", 1)], name="ownerId_1")
    report = await migrate_indexes(fresh_db, [Declared], drop_obsolete=True)
    assert report.dropped == [] and [p.name for p in report.conflicts] == ["by_owner"]
    assert "supports the shard key" in report.conflicts[0].detail
