"""Routes of the domain routers added to the app itself, in one flat list.

FastAPI 0.165's `include_router` keeps each included router as a nested candidate: a request tries
every route of every router before its own (~5.5 µs per route, with effective-context bookkeeping
around each try) and then matches the chosen router's routes a second time. Added with the app's own
`add_api_route`, as `@app.get` would, a route costs ~2.6 µs to try and is matched once: the hot
`/{id}` routes, tried after ~30 others, answered ~130 µs sooner per request (docs/benchmarks.md,
"Findings"). The operations, their documentation and dependency overrides stay the same.

Building a route is most of `create_app`'s cost (~0.13 s of CPU for ~60 routes: FastAPI analyses
each endpoint's signature and builds a pydantic TypeAdapter per parameter and response model), and
none of that depends on the app: a process that builds several apps (the test suite builds hundreds)
builds each route once and gives every later app a copy bound to that app (its dependency overrides,
its request handler). docs/decisions.md, "One route build per process".
"""

import copy
import inspect

from fastapi import APIRouter, FastAPI
from fastapi._body_limit import wrap_app_with_body_limit
from fastapi.routing import APIRoute, request_response

# Every argument of `FastAPI.add_api_route`: APIRoute keeps each under the same name.
ROUTE_ARGUMENTS = tuple(
    name for name in inspect.signature(FastAPI.add_api_route).parameters if name != "self"
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
        _built[id(route)] = (route, built)


def _bound_copy(built: APIRoute, app: FastAPI) -> APIRoute:
    """`built` for another app: the same analysed endpoint, models and documentation, and a request
    handler that reads this app's dependency overrides (what `APIRoute.__init__` does last)."""
    route = copy.copy(built)
    route.dependency_overrides_provider = app
    route.app = wrap_app_with_body_limit(request_response(route.get_route_handler()), route.max_body_size)
    return route
