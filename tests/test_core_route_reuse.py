"""Apps built in one process share each route's analysis (app.core.routing), and each answers with its own
dependency overrides."""

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.routing import APIRoute

from app.core.db import get_db
from app.core.dependencies import shared
from app.core.routing import add_routes
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


class Counted:
    def __init__(self, label: str) -> None:
        self.label = label


BUILDS: list[str] = []


def _counted(state: Any) -> Counted:
    BUILDS.append("built")
    return Counted("shared")


SharedCounted = Annotated[Counted, Depends(shared(_counted))]


def _elision_app() -> FastAPI:
    """An app whose routes take a `shared` service as the app's routes do (app.core.routing)."""
    app = create_app(make_settings())
    app.state.db, app.state.shared_services = (
        object(),
        {},
    )  # what `shared_instance` keys on (no start-up here)
    router = APIRouter(prefix="/test-elision")

    @router.get("/plain")
    async def plain(counted: SharedCounted, limit: Annotated[int, Query(ge=1, le=5)] = 1) -> dict[str, Any]:
        return {"label": counted.label, "limit": limit}

    @router.get("/with-request")
    async def with_request(request: Request, counted: SharedCounted) -> dict[str, Any]:
        return {"label": counted.label, "path": request.url.path}

    add_routes(app, router)
    return app


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get(path)


async def test_shared_services_reach_the_handler_without_a_dependency_node():
    # The handler gets the one shared instance; FastAPI never calls the `shared_…` dependency (an
    # override of it is what tells: see the next test), parameters are still validated.
    BUILDS.clear()
    app = _elision_app()
    plain = route(app, "/test-elision/plain")
    assert plain.dependant.dependencies[0].call in plain._shared_elided.calls  # the documented tree is whole
    assert (await _get(app, "/test-elision/plain?limit=3")).json() == {"label": "shared", "limit": 3}
    assert (await _get(app, "/test-elision/with-request")).json() == {
        "label": "shared",
        "path": "/test-elision/with-request",
    }
    assert (await _get(app, "/test-elision/plain?limit=9")).status_code == 400
    assert BUILDS == ["built"]  # once per app and database handle, as the node built it


async def test_an_overridden_shared_dependency_is_resolved_by_fastapi():
    app = _elision_app()
    dependency = route(app, "/test-elision/plain").dependant.dependencies[0].call
    app.dependency_overrides[dependency] = lambda: Counted("override")
    assert (await _get(app, "/test-elision/plain")).json() == {"label": "override", "limit": 1}
    assert (await _get(app, "/test-elision/with-request")).json()["label"] == "override"
    app.dependency_overrides.clear()
    assert (await _get(app, "/test-elision/plain")).json()["label"] == "shared"


def test_the_apps_service_routes_elide_their_shared_nodes():
    app = create_app(make_settings())
    (detail,) = [
        r
        for r in app.routes
        if isinstance(r, APIRoute) and r.path == "/api/v1/live-stream/{id}" and "GET" in r.methods
    ]
    assert detail._shared_elided is not None
    remaining = [sub.call for sub in detail._shared_elided.dependant.dependencies]
    assert len(remaining) == len(detail.dependant.dependencies) - 1  # the caller stays a node
