"""MongoDB client lifecycle: a real server when `MONGODB_URL` is set, the embedded engine otherwise."""

import importlib
import pkgutil
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from pymongo import AsyncMongoClient

from app.core.config import Settings
from app.core.embedded import EmbeddedAsyncClient

log = structlog.get_logger("app.db")

# Repositories accept either engine's database object; the look-alike is not a pymongo subclass.
Database = Any


def create_client(settings: Settings) -> Any:
    if settings.mongodb_url is None:
        log.info("database_engine", engine="embedded", note="in-memory; data is lost on restart")
        return EmbeddedAsyncClient(tz_aware=True)
    log.info("database_engine", engine="mongodb")
    return AsyncMongoClient(
        settings.mongodb_url.get_secret_value(),
        tz_aware=True,
        appname="allmine-live",
        serverSelectionTimeoutMS=5000,
    )


def _import_repository_modules() -> None:
    """Repositories register themselves when imported; import every one so none is missed."""
    import app as app_package

    for module in pkgutil.walk_packages(app_package.__path__, "app."):
        if module.name.rsplit(".", 1)[-1] in {"repository", "credits", "streaming", "leases"}:
            importlib.import_module(module.name)


async def ensure_indexes(db: Database) -> None:
    """Create every repository's declared indexes; idempotent, run at start-up."""
    from app.core.repository import registered_repositories

    _import_repository_modules()
    for repository in registered_repositories():
        if repository.indexes:
            await db[repository.collection_name].create_indexes(list(repository.indexes))


async def ping(db: Database) -> bool:
    try:
        await db.command("ping")
    except Exception:  # any failure means "not ready"; the reason is logged, not returned
        log.warning("database_ping_failed", exc_info=True)
        return False
    return True


async def get_db(request: Request) -> Database:
    return request.app.state.db


Db = Annotated[Database, Depends(get_db)]
