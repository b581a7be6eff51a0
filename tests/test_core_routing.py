"""The route index (`app.core.routing.RouteIndex`) picks the route the router's whole list would pick."""

import itertools

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from starlette.routing import BaseRoute, Match, Route

from app.core.routing import RouteIndex, index_routes
from app.main import create_app
from tests.conftest import make_settings

SAMPLES = ("64d15f9e2e6c8f4d5a123456", "funded", "featured", "join", "x", "", "123", "a.b")
METHODS = ("GET", "POST", "DELETE", "PATCH", "PUT", "OPTIONS", "HEAD")


def _whole_list(routes: list[BaseRoute], scope: dict) -> tuple[Match, BaseRoute | None]:
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return match, route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return (Match.PARTIAL, partial) if partial is not None else (Match.NONE, None)


def _indexed(index: RouteIndex, scope: dict) -> tuple[Match, BaseRoute | None]:
    return _whole_list(index.candidates(scope["path"]), scope)


def _probe_paths(app: FastAPI) -> set[str]:
    """Every route's path with each sample in each parameter, and near misses around it."""
    paths = {"/", "", "//", "/api", "/api/v1/live-stream/", "/static", "/static/", "/media/a/b.jpg"}
    for route in app.router.routes:
        template: str = getattr(route, "path_format", "/")
        names = list(getattr(route, "param_convertors", {}))
        for values in itertools.product(SAMPLES, repeat=len(names)):
            path = template.format(**dict(zip(names, values, strict=True)))
            paths |= {path, path + "/", path + "/extra", path.rsplit("/", 1)[0], path.upper()}
    return paths


def test_every_path_and_method_gets_the_route_of_the_whole_list():
    app = create_app(make_settings())
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)
    paths = _probe_paths(app)
    assert len(paths) > 500
    for path, method in itertools.product(sorted(paths), METHODS):
        scope = {"type": "http", "path": path, "root_path": "", "method": method}
        assert _indexed(index, scope) == _whole_list(app.router.routes, scope), (method, path)


def test_candidates_are_few_and_in_declared_order():
    app = create_app(make_settings())
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)
    routes = app.router.routes
    detail = [r.path for r in index.candidates("/api/v1/live-stream/64d15f9e2e6c8f4d5a123456")]
    assert detail == ["/api/v1/live-stream/{id}", "/api/v1/live-stream/{id}"]  # GET, DELETE
    funded = [r.path for r in index.candidates("/api/v1/live-stream/funded")]
    assert funded == ["/api/v1/live-stream/funded", "/api/v1/live-stream/{id}", "/api/v1/live-stream/{id}"]
    assert [r.path for r in index.candidates("/static/app.css")] == ["/static"]
    for path in ("/api/v1/live-stream/x/viewer-count", "/api/v1/users/x/stats", "/socket.io/"):
        found = index.candidates(path)
        assert found == sorted(found, key=routes.index) and 1 <= len(found) <= 2, path


def _plain_app() -> FastAPI:
    app = FastAPI()
    index_routes(app)

    @app.get("/items/{id:int}")
    async def item(id: int) -> PlainTextResponse:
        return PlainTextResponse(f"item {id}")

    @app.get("/items/special")  # declared after `/{id:int}`, which refuses a non-integer
    async def special() -> PlainTextResponse:
        return PlainTextResponse("special")

    @app.get("/files/{rest:path}")
    async def files(rest: str) -> PlainTextResponse:
        return PlainTextResponse(f"file {rest}")

    return app


async def _get(app: FastAPI, path: str, method: str = "GET") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.request(method, path)


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/items/7", 200, "item 7"),
        ("/items/special", 200, "special"),  # the int convertor refuses it: the next candidate answers
        ("/files/a/b/c.txt", 200, "file a/b/c.txt"),
        ("/files/", 200, "file "),
        ("/items", 404, '{"detail":"Not Found"}'),
        ("/nothing/here", 404, '{"detail":"Not Found"}'),
    ],
)
async def test_dispatch_through_the_index(path, status, text):
    answer = await _get(_plain_app(), path)
    assert (answer.status_code, answer.text) == (status, text)


async def test_wrong_method_and_slash_redirect_as_without_index():
    app = _plain_app()
    wrong = await _get(app, "/items/7", "POST")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
    redirected = await _get(app, "/items/7/")
    assert redirected.status_code == 307 and redirected.headers["location"] == "http://test/items/7"


async def test_routes_added_after_a_request_are_indexed():
    app = _plain_app()
    assert (await _get(app, "/late")).status_code == 404
    app.router.routes.append(Route("/late", lambda request: PlainTextResponse("late")))
    assert (await _get(app, "/late")).text == "late"


def test_router_middleware_is_refused():
    app = FastAPI()
    app.router.middleware_stack = lambda scope, receive, send: None  # type: ignore[assignment]
    with pytest.raises(RuntimeError):
        index_routes(app)


async def test_a_matched_path_does_not_take_the_whole_list():
    app = _plain_app()
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)

    async def whole_list(scope: dict, receive: object, send: object) -> None:
        raise AssertionError("the whole list was scanned")

    index.whole_list = whole_list  # type: ignore[assignment]
    assert (await _get(app, "/items/7")).text == "item 7"
    assert (await _get(app, "/items/7", "POST")).status_code == 405
