"""Prometheus request metrics per route template, recorded by the app's pure ASGI middleware.

The metric names, labels and buckets are prometheus-fastapi-instrumentator's defaults (dashboards
and alerts keep working); `/metrics` is still served by the instrumentator's `expose()`. Its
middleware is not used: it re-matches every route of the app to find the template (plus a
`Request`, a `Response` and `Headers` per request), about a third of the framework's cost per request
in `python -m bench` (docs/benchmarks.md, "Findings"). The router has already matched the route and
left it in the ASGI scope (`scope["route"]`), so this middleware reads it from there after the
request, for nothing.

The collectors live in prometheus_client's process-wide registry, created once at import: every app
of the process records into the same series.
"""

import hmac
from collections.abc import Callable
from functools import lru_cache
from time import perf_counter
from typing import NamedTuple

from prometheus_client import Counter, Histogram, Summary
from starlette.requests import Request
from starlette.routing import Mount
from starlette.types import Scope

from app.core.errors import NotAuthenticated

UNTEMPLATED = "none"  # the handler label of requests no route matched (404s): no path, no cardinality

REQUESTS = Counter(
    "http_requests_total",
    "Total number of requests by method, status and handler.",
    ("method", "status", "handler"),
)
REQUEST_SIZE = Summary(
    "http_request_size_bytes",
    "Content length of incoming requests by handler. Only value of header is respected. "
    "Otherwise ignored. No percentile calculated. ",
    ("handler",),
)
RESPONSE_SIZE = Summary(
    "http_response_size_bytes",
    "Content length of outgoing responses by handler. Only value of header is respected. "
    "Otherwise ignored. No percentile calculated. ",
    ("handler",),
)
LATENCY_HIGHR = Histogram(
    "http_request_duration_highr_seconds",
    "Latency with many buckets but no API specific labels. Made for more accurate percentile calculations. ",
    buckets=(
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.25,
        0.5,
        0.75,
        1,
        1.5,
        2,
        2.5,
        3,
        3.5,
        4,
        4.5,
        5,
        7.5,
        10,
        30,
        60,
    ),
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Latency with only few buckets by handler. Made to be only used if aggregation by handler is important. ",
    ("method", "handler"),
    buckets=(0.1, 0.5, 1),
)


def route_template(scope: Scope, root_path: str) -> str:
    """The matched route's path template (`/api/v1/live-stream/{id}`); a mount's path (`/static`) for
    apps mounted without routes of their own; `none` when nothing matched.

    `root_path` is the scope's before routing: a mount extends it with its path (FastAPI leaves no
    `route` in the scope for a mount, Starlette leaves the `Mount`).
    """
    route = scope.get("route")
    mounted: str = scope.get("root_path", "")[len(root_path) :]
    path = getattr(route, "path", None)
    if isinstance(route, Mount) or not isinstance(path, str):
        return mounted or UNTEMPLATED
    return mounted + path


class RequestMetrics:
    """Count, time and size every HTTP request by method, grouped status (`2xx`) and route template;
    recorded by the app's one middleware (`app.core.middleware.EdgeMiddleware`) once the answer is sent."""

    def __init__(self, excluded_handlers: frozenset[str] = frozenset()) -> None:
        self.excluded_handlers = excluded_handlers

    def record(self, scope: Scope, root_path: str, status: int, response_size: int, started: float) -> None:
        """One finished request; `root_path` is the scope's before routing, `started` its `perf_counter()`."""
        duration = perf_counter() - started
        handler = route_template(scope, root_path)
        if handler in self.excluded_handlers:
            return
        method = scope["method"]
        request_size = 0
        for name, value in scope["headers"]:
            if name == b"content-length":
                request_size = int(value) if value.isdigit() else 0
                break
        series = self._series(method, f"{str(status)[0]}xx", handler)
        series.requests.inc()
        series.request_size.observe(request_size)
        series.response_size.observe(response_size)
        LATENCY_HIGHR.observe(duration)
        series.latency.observe(duration)

    @staticmethod
    @lru_cache(maxsize=4096)  # method × status class × route template: a bounded set
    def _series(method: str, status: str, handler: str) -> "_Series":
        """The labelled children of one request kind, looked up once: `labels()` validates the values
        and takes the metric's lock on every call (~11 µs per request for the four of them)."""
        return _Series(
            REQUESTS.labels(method, status, handler),
            REQUEST_SIZE.labels(handler),
            RESPONSE_SIZE.labels(handler),
            LATENCY.labels(method, handler),
        )


class _Series(NamedTuple):
    requests: Counter
    request_size: Summary
    response_size: Summary
    latency: Histogram


def metrics_guard(token: str | None) -> Callable[[Request], None]:
    """A dependency for `/metrics`: with a token, only `Authorization: Bearer <token>` reads it (401
    otherwise, compared in constant time); without, anyone does."""

    def guard(request: Request) -> None:
        if token is None:
            return
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
            raise NotAuthenticated()

    return guard
