"""Routes of the domain routers added to the app itself, in one flat list.

FastAPI 0.165's `include_router` keeps each included router as a nested candidate: a request tries
every route of every router before its own (~5.5 µs per route, with effective-context bookkeeping
around each try) and then matches the chosen router's routes a second time. Added with the app's own
`add_api_route`, as `@app.get` would, a route costs ~2.6 µs to try and is matched once: the hot
`/{id}` routes, tried after ~30 others, answered ~130 µs sooner per request (docs/benchmarks.md,
"Findings"). The operations, their documentation and dependency overrides stay the same.
"""

import inspect

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

# Every argument of `FastAPI.add_api_route`: APIRoute keeps each under the same name.
ROUTE_ARGUMENTS = tuple(
    name for name in inspect.signature(FastAPI.add_api_route).parameters if name != "self"
)


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Add `router`'s operations to `app` in their order (their paths already carry the router's prefix)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r}: only API routes can be added to the app's flat route list")
        app.add_api_route(**{name: getattr(route, name) for name in ROUTE_ARGUMENTS})
