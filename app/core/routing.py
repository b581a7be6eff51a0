"""How requests reach the app's routes: one flat route list (`add_routes`), dispatched through an index.

FastAPI 0.165's `include_router` keeps each included router as a nested candidate: a request tries
every route of every router before its own (~5.5 µs per route, with effective-context bookkeeping
around each try) and then matches the chosen router's routes a second time. Added with the app's own
`add_api_route`, as `@app.get` would, a route costs ~2.6 µs to try and is matched once: the hot
`/{id}` routes, tried after ~30 others, answered ~130 µs sooner per request (docs/benchmarks.md,
"Findings"). The operations, their documentation and dependency overrides stay the same.

Starlette's router still tries the flat list in order, one regular expression per route, so a
`/{id}` request paid for the ~35 routes declared before it. `RouteIndex` narrows the list first: a
tree of the routes' path segments (literal, single-segment parameter, or "the rest" for `:path`
parameters and mounts) gives, for a request path, the few routes that could match it, in their
declared order, and the router's own matching runs on those alone. The first full match, else the
first partial one (405), is the one the whole list would give, because every route left out cannot
match the path. A path no candidate matches (a 404, a redirect to the slash-ended path, a
low-priority route) takes the router's own path over the whole list, unchanged.

Building a route is most of `create_app`'s cost (~0.13 s of CPU for ~60 routes: FastAPI analyses
each endpoint's signature and builds a pydantic TypeAdapter per parameter and response model), and
none of that depends on the app: a process that builds several apps (the test suite builds hundreds)
builds each route once and gives every later app a copy bound to that app (its dependency overrides,
its request handler). docs/decisions.md, "One route build per process".
"""

import copy
import dataclasses
import functools
import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi._body_limit import wrap_app_with_body_limit
from fastapi.routing import APIRoute, request_response
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.dependencies import shared_build, shared_instance

# Every argument of `FastAPI.add_api_route`: APIRoute keeps each under the same name.
ROUTE_ARGUMENTS = tuple(
    name for name in inspect.signature(FastAPI.add_api_route).parameters if name != "self"
)
# Starlette's convertors whose values never contain a slash (str, int, float, uuid): a parameter
# using one stays inside its path segment. Any other (`path`, a registered custom one) may span
# segments and ends the tree there.
ONE_SEGMENT = frozenset(
    {
        "[^/]+",
        "[0-9]+",
        r"[0-9]+(\.[0-9]+)?",
        "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
    }
)


# The route first built from each router route (by identity; the source route is kept alive with it).
_built: dict[int, tuple[APIRoute, APIRoute]] = {}


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Add `router`'s operations to `app` in their order (their paths already carry the router's prefix)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r}: only API routes can be added to the app's flat route list")
        known = _built.get(id(route))
        if known is not None and known[0] is route:
            app.router.routes.append(_bound_copy(known[1], app))
            continue
        app.add_api_route(**{name: getattr(route, name) for name in ROUTE_ARGUMENTS})
        built = app.router.routes[-1]
        assert isinstance(built, APIRoute)
        built._shared_elided = _elide_shared_nodes(built.dependant)  # type: ignore[attr-defined]
        built.app = _route_app(built)
        _built[id(route)] = (route, built)


def _bound_copy(built: APIRoute, app: FastAPI) -> APIRoute:
    """`built` for another app: the same analysed endpoint, models and documentation, and a request
    handler that reads this app's dependency overrides (what `APIRoute.__init__` does last)."""
    route = copy.copy(built)
    route.dependency_overrides_provider = app
    route.app = _route_app(route)
    return route


class _Elided:
    """A route's dependant without its top-level `shared` nodes, and what those nodes were."""

    def __init__(self, dependant: Any, calls: frozenset[Callable[..., Any]]) -> None:
        self.dependant = dependant
        self.calls = calls


def _elide_shared_nodes(dependant: Any) -> _Elided | None:
    """The dependant whose endpoint gets its top-level `shared` services (app.core.dependencies) from the
    app's state instead of FastAPI resolving each as a node (~20-30 µs a node per request: a nested
    `solve_dependencies`, cache key and callable checks; docs/decisions.md, issue 25 round 3). None when
    the route has none, or when its endpoint is not a coroutine function (FastAPI runs those in a thread).

    `route.dependant` itself stays whole: the OpenAPI document, and the request handler used while an
    app overrides one of the elided dependencies, are FastAPI's own."""
    endpoint = dependant.call
    elided = [
        (sub.name, build, sub.call)
        for sub in dependant.dependencies
        if sub.name is not None and (build := shared_build(sub.call)) is not None
    ]
    if not elided or not inspect.iscoroutinefunction(endpoint):
        return None
    request_name = dependant.request_param_name or "_shared_services_request"
    takes_request = dependant.request_param_name is not None
    services = tuple((name, build) for name, build, _ in elided)

    @functools.wraps(endpoint)
    async def with_services(**values: Any) -> Any:
        request = values[request_name] if takes_request else values.pop(request_name)
        state = request.app.state
        for name, build in services:
            values[name] = shared_instance(state, build)
        return await endpoint(**values)

    calls = frozenset(call for _, _, call in elided)
    kept = [sub for sub in dependant.dependencies if sub.call not in calls or sub.name is None]
    lean = dataclasses.replace(
        dependant, dependencies=kept, call=with_services, request_param_name=request_name
    )
    return _Elided(lean, calls)


def _route_app(route: APIRoute) -> ASGIApp:
    """The route's ASGI app, as `APIRoute.__init__` builds it; with elided `shared` nodes, FastAPI's
    handler over the lean dependant, and over the whole one while the app overrides an elided call."""
    whole = wrap_app_with_body_limit(request_response(route.get_route_handler()), route.max_body_size)
    elided: _Elided | None = getattr(route, "_shared_elided", None)
    if elided is None:
        return whole
    lean_route = copy.copy(route)
    lean_route.dependant = elided.dependant
    lean = wrap_app_with_body_limit(request_response(lean_route.get_route_handler()), route.max_body_size)
    provider = route.dependency_overrides_provider
    calls = elided.calls

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        overrides = getattr(provider, "dependency_overrides", None)
        if overrides and not calls.isdisjoint(overrides):
            await whole(scope, receive, send)
        else:
            await lean(scope, receive, send)

    return app


def index_routes(app: FastAPI) -> None:
    """Dispatch the app's HTTP requests through a `RouteIndex` (routes added later are indexed too)."""
    router = app.router
    if router.middleware_stack != router.app:  # router-level middleware: the index would bypass it
        raise RuntimeError("index_routes: the app's router has middleware of its own")
    router.middleware_stack = RouteIndex(router)


class _Node:
    """Routes whose path segments so far match the tree's branch down to this node."""

    __slots__ = ("ends", "literal", "parameter", "rest")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.parameter: _Node | None = None  # any one segment
        self.ends: list[int] = []  # routes whose pattern ends here
        self.rest: list[int] = []  # routes whose pattern takes whatever follows (none or more segments)


class RouteIndex:
    """The app router's HTTP dispatch, trying only the routes that could match the request's path."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.whole_list: ASGIApp = router.app  # the router's own dispatch over every route
        self._indexed: list[BaseRoute] = []
        self._root = _Node()
        self._always: list[int] = []  # routes of other kinds: tried for every path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        router = self.router
        if (
            scope["type"] != "http"
            or router.form_limits  # the router's own dispatch records them in the scope
            or scope.get("fastapi.telemetry") is not None  # and tells the tracer which route ran
        ):
            await self.whole_list(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = router
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is not None:
            route, child_scope = partial
            scope.update(child_scope)
            await route.handle(scope, receive, send)
            return
        await self.whole_list(scope, receive, send)

    def candidates(self, path: str) -> list[BaseRoute]:
        """The routes that could match `path`, in the router's order (a superset of those that do)."""
        routes = self.router.routes
        if routes != self._indexed:  # compared by identity first: a few pointer checks per request
            self._build(routes)
        found = list(self._always)
        frontier = [self._root]
        for segment in path.split("/"):
            following = []
            for node in frontier:
                found += node.rest
                if (child := node.literal.get(segment)) is not None:
                    following.append(child)
                if node.parameter is not None:
                    following.append(node.parameter)
            if not following:
                break
            frontier = following
        else:
            for node in frontier:
                found += node.ends
                found += node.rest
        found.sort()
        return [routes[i] for i in found]

    def _build(self, routes: list[BaseRoute]) -> None:
        root, always = _Node(), []
        for position, route in enumerate(routes):
            pattern = _pattern(route)
            if pattern is None:
                always.append(position)
                continue
            node = root
            for segment in pattern:
                if segment is None:  # a parameter that may span segments: the rest of the path
                    node.rest.append(position)
                    break
                if isinstance(segment, _OneSegment):
                    node.parameter = node.parameter or _Node()
                    node = node.parameter
                else:
                    node = node.literal.setdefault(segment, _Node())
            else:
                node.ends.append(position)
        self._root, self._always, self._indexed = root, always, list(routes)


class _OneSegment:
    """A path segment holding one-segment parameters (alone or among literal text)."""


_ONE = _OneSegment()
_NAME = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)}")  # a parameter in a route's `path_format`


def _pattern(route: BaseRoute) -> list[str | _OneSegment | None] | None:
    """A route's path as segments: literal text, `_ONE`, then `None` where a parameter that may span
    segments begins; None for a route of another kind than `Route`, `APIRoute` or `Mount` (its
    matching may differ: tried for every path)."""
    if type(route) not in (Route, APIRoute, Mount):
        return None
    path_format: str = route.path_format  # type: ignore[attr-defined]
    regexes = {name: convertor.regex for name, convertor in route.param_convertors.items()}  # type: ignore[attr-defined]
    if not path_format.startswith("/"):
        return None
    return list(_segments(path_format.split("/"), regexes))


def _segments(parts: Iterable[str], regexes: dict[str, str]) -> Iterator[str | _OneSegment | None]:
    for part in parts:
        if "{" not in part and "}" not in part:
            yield part
        elif _NAME.sub("", part).count("{") == 0 and all(
            regexes.get(name) in ONE_SEGMENT for name in _NAME.findall(part)
        ):
            yield _ONE
        else:
            yield None
            return
