"""Apps built in one process share each route's analysis (app.core.routing), and each answers with its own
dependency overrides."""

from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.core.db import get_db
from app.main import create_app
from tests.conftest import make_settings


class FakeDb:
    def __init__(self, answers: bool) -> None:
        self.answers = answers

    async def command(self, name: str) -> dict[str, Any]:
        if not self.answers:
            raise ConnectionError("down")
        return {"ok": 1}


async def readiness(app: FastAPI) -> int:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return (await http.get("/ready")).status_code


def route(app: FastAPI, path: str) -> APIRoute:
    (found,) = [r for r in app.routes if isinstance(r, APIRoute) and r.path == path]
    return found


async def test_each_app_answers_with_its_own_dependency_overrides():
    first, second, third = (create_app(make_settings()) for _ in range(3))
    first.dependency_overrides[get_db] = lambda: FakeDb(answers=True)
    second.dependency_overrides[get_db] = lambda: FakeDb(answers=False)
    third.dependency_overrides[get_db] = lambda: FakeDb(answers=True)

    assert [await readiness(app) for app in (first, second, third)] == [200, 503, 200]
    second.dependency_overrides.clear()
    second.dependency_overrides[get_db] = lambda: FakeDb(answers=True)
    first.dependency_overrides[get_db] = lambda: FakeDb(answers=False)
    assert [await readiness(app) for app in (first, second, third)] == [503, 200, 200]


def test_later_apps_reuse_the_routes_analysis():
    first, second = create_app(make_settings()), create_app(make_settings())
    a, b = route(first, "/ready"), route(second, "/ready")
    assert a is not b and a.app is not b.app
    assert a.dependant is b.dependant and a.response_field is b.response_field
    assert [r.path for r in first.routes] == [r.path for r in second.routes]
