"""Indexes declared next to each repository exist after start-up and are enforced."""

import subprocess
import sys
from pathlib import Path

import pytest
from pymongo.errors import DuplicateKeyError

from app.core.db import ensure_indexes
from app.core.errors import Conflict
from app.core.repository import registered_repositories
from app.users.repository import UserRepository

REGISTRATION_PROBE = """
import importlib, pkgutil
import app
from app.core.repository import registered_repositories
import app.main
at_startup = {r.collection_name for r in registered_repositories()}
for module in pkgutil.walk_packages(app.__path__, "app."):
    importlib.import_module(module.name)
everywhere = {r.collection_name for r in registered_repositories()}
print(sorted(at_startup))
print(sorted(everywhere - at_startup))
"""


def test_every_repository_is_registered_once_the_app_is_imported():
    """`ensure_indexes` only knows repositories whose module was imported before start-up.

    Run in a fresh interpreter: inside the test session other tests have long imported everything.
    """
    result = subprocess.run(
        [sys.executable, "-c", REGISTRATION_PROBE],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    at_startup, missing = result.stdout.splitlines()[-2:]
    for name in ("users", "follows", "credit_transactions"):
        assert f"'{name}'" in at_startup
    assert missing == "[]", f"repositories whose indexes start-up would not create: {missing}"


async def test_every_declared_index_exists_after_startup(db):
    checked = 0
    for repository in registered_repositories():
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


async def test_ensure_indexes_is_idempotent(db):
    before = {
        r.collection_name: await db[r.collection_name].index_information() for r in registered_repositories()
    }
    await ensure_indexes(db)
    after = {
        r.collection_name: await db[r.collection_name].index_information() for r in registered_repositories()
    }
    assert after == before


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
