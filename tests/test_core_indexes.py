"""Indexes declared next to each repository exist after start-up and are enforced."""

import importlib
import pkgutil
from pathlib import Path

import pytest
from pymongo.errors import DuplicateKeyError

import app
from app.core.errors import Conflict
from app.core.migrations import declared_indexes, migrate_indexes, planned_shard_keys, supports_shard_key
from app.core.repository import registered_repositories
from app.repositories import REPOSITORIES
from app.users.repository import UserRepository


def test_every_repository_is_in_the_explicit_list():
    """The index migration knows the repositories listed in `app/repositories.py`, and only those:
    once every module of the app is imported, each class of it declaring a collection is listed."""
    for module in pkgutil.walk_packages(app.__path__, "app."):
        importlib.import_module(module.name)
    everywhere = {r for r in registered_repositories() if r.__module__.startswith("app.")}
    assert {"users", "follows", "credit_transactions"} <= {r.collection_name for r in REPOSITORIES}
    missing = sorted(f"{r.__module__}.{r.__name__}" for r in everywhere - set(REPOSITORIES))
    assert missing == [], f"repositories whose indexes start-up would not create: {missing}"


async def test_every_declared_index_exists_after_startup(db):
    checked = 0
    for repository in REPOSITORIES:
        existing = await db[repository.collection_name].index_information()
        for model in repository.indexes:
            spec = model.document
            name = spec["name"]
            assert name in existing, f"{repository.__name__}: index {name} missing"
            assert list(existing[name]["key"]) == list(spec["key"].items()), f"{repository.__name__}.{name}"
            assert bool(existing[name].get("unique")) == bool(spec.get("unique")), (
                f"{repository.__name__}.{name}"
            )
            if "partialFilterExpression" in spec:
                assert existing[name]["partialFilterExpression"] == spec["partialFilterExpression"]
            checked += 1
    assert checked >= 5


async def test_index_migration_is_idempotent(db):
    before = {r.collection_name: await db[r.collection_name].index_information() for r in REPOSITORIES}
    report = await migrate_indexes(db, REPOSITORIES)
    after = {r.collection_name: await db[r.collection_name].index_information() for r in REPOSITORIES}
    assert after == before
    assert report.created == [] and report.clean, report.lines()


async def test_unique_username_index_rejects_duplicates(db):
    await db.users.insert_one({"username": "Eve", "usernameLower": "eve", "deletedAt": None})
    with pytest.raises(DuplicateKeyError) as caught:
        await db.users.insert_one({"username": "EVE", "usernameLower": "eve", "deletedAt": None})
    assert caught.value.details["keyPattern"] == {"usernameLower": 1}


async def test_repository_maps_duplicates_to_409(db):
    users = UserRepository(db)
    await users.create({"username": "frank"})
    with pytest.raises(Conflict) as caught:
        await users.create({"username": "Frank"})
    assert caught.value.status_code == 409
    assert caught.value.messages[1] == "this username is already taken"


# --- the sharding plan (issue 22, defect 5) ---------------------------------------------------------------

SHARDING_PLAN = {  # docs/decisions.md, "Sharding plan": the sharded collections and their keys
    "participants": (("liveStreamId", 1), ("userId", 1)),
    "creator_viewers": (("creatorId", 1), ("viewerId", 1)),
    "credit_transactions": (("userId", 1),),
    "fundings": (("userId", 1),),
    "stream_entries": (("userId", 1),),
    "mini_crowd_funding_contributions": (("userId", 1),),
    "superlikes": (("senderId", 1),),
    "replay_rentals": (("userId", 1),),
    "reminders": (("userId", 1),),
    "follows": (("followerId", 1),),
    "chat_messages": (("streamId", "hashed"), ("_id", 1)),
}


def test_the_repositories_declare_the_documented_sharding_plan():
    assert planned_shard_keys(REPOSITORIES) == SHARDING_PLAN
    plan = Path("docs/decisions.md").read_text().split("## Sharding plan", 1)[1].split("\n## ", 1)[0]
    for collection, key in SHARDING_PLAN.items():
        shown = "{" + ", ".join(f"{field}: {direction!r}".replace("'", '"') for field, direction in key) + "}"
        assert f"`{collection}`" in plan and f"`{shown}`" in plan, (collection, shown)


def test_every_planned_shard_key_has_a_declared_index_that_supports_it():
    """`sh.shardCollection` needs an index starting with the shard key; without a declared one the
    migration would call a hand-made one obsolete (and `--drop-obsolete` would try to drop it)."""
    declared = declared_indexes(REPOSITORIES)
    for collection, key in planned_shard_keys(REPOSITORIES).items():
        assert any(supports_shard_key(spec, [key]) for spec in declared[collection].values()), collection


def test_unique_indexes_of_a_sharded_collection_start_with_its_ranged_shard_key():
    """MongoDB: a unique index on a sharded collection must be prefixed by the shard key, and a hashed
    shard key carries no unique index."""
    declared = declared_indexes(REPOSITORIES)
    for collection, key in planned_shard_keys(REPOSITORIES).items():
        for name, spec in declared[collection].items():
            if spec.get("unique"):
                assert "hashed" not in dict(key).values(), (collection, name)
                assert supports_shard_key(spec, [key]), (collection, name)
