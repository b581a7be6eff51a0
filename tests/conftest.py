"""Shared fixtures: a fresh app + database per test, driven over HTTP through ASGITransport.

The database is the embedded engine unless `MONGODB_TEST_URL` points at a real MongoDB, in which
case every test gets its own database, dropped afterwards.
"""

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app

MONGODB_TEST_URL = os.environ.get("MONGODB_TEST_URL")

UserFactory = Callable[..., Awaitable[tuple[dict[str, Any], str]]]


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_env": "test",
        "mongodb_url": MONGODB_TEST_URL,
        "mongodb_db": f"test_{uuid.uuid4().hex[:12]}",
        "seed_demo": False,
        "background_tasks": False,
        "log_level": "WARNING",
        "ranking_max_age_seconds": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return make_settings(media_dir=str(tmp_path / "media"))


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        if MONGODB_TEST_URL:
            await application.state.mongo_client.drop_database(settings.mongodb_db)


@pytest.fixture
def db(app: FastAPI) -> Any:
    return app.state.db


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
def make_user(client: httpx.AsyncClient) -> UserFactory:
    """Create a user through the dev endpoint; returns (user, access token)."""

    async def factory(username: str | None = None, **fields: Any) -> tuple[dict[str, Any], str]:
        body = {"username": username or f"u{uuid.uuid4().hex[:10]}", **fields}
        response = await client.post("/api/v1/dev/users", json=body)
        assert response.status_code == 201, response.text
        data = response.json()["data"]
        return data["user"], data["accessToken"]

    return factory
