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

A request is added to plain per-series totals (`PendingRequests`), folded into the collectors when
anything reads them (their `collect()`, which every exposition and `REGISTRY.get_sample_value` call):
prometheus_client validates and takes a lock on each of its nine value updates per request (~20 µs of
event-loop CPU, docs/benchmarks.md, issue 25), where one lock and a few additions do the same. Reads
see every request recorded before them, with the same names, labels, buckets and values.
"""

import hmac
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable
from functools import lru_cache
from time import perf_counter
from typing import Any, NamedTuple

from prometheus_client import Counter, Histogram, Summary
from prometheus_client.metrics_core import Metric
from starlette.requests import Request
from starlette.routing import Mount
from starlette.types import Scope

from app.core.errors import NotAuthenticated

UNTEMPLATED = "none"  # the handler label of requests no route matched (404s): no path, no cardinality


class PendingRequests:
    """Requests recorded but not yet folded into the collectors: per series, the count, the sums of the
    request and response sizes and of the durations, and the latency histogram's bucket counts (one
    more for `http_request_duration_highr_seconds`, which has no labels).

    `add` runs on the event loop for every request; `flush` runs on whatever thread reads the metrics.
    One lock guards both (a `with` around a few additions, instead of nine validated, locked updates).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[_Series, list[Any]] = {}
        self._highr_counts: list[int] = []
        self._highr_sum = 0.0

    def add(self, series: "_Series", request_size: int, response_size: int, duration: float) -> None:
        with self._lock:
            totals = self._series.get(series)
            if totals is None:
                totals = self._series[series] = [0, 0, 0, 0.0, [0] * len(LATENCY_BOUNDS)]
            totals[0] += 1
            totals[1] += request_size
            totals[2] += response_size
            totals[3] += duration
            totals[4][bisect_left(LATENCY_BOUNDS, duration)] += 1  # the first bucket whose bound >= it
            if not self._highr_counts:
                self._highr_counts = [0] * len(HIGHR_BOUNDS)
            self._highr_counts[bisect_left(HIGHR_BOUNDS, duration)] += 1
            self._highr_sum += duration

    def flush(self) -> None:
        """Fold every pending request into the collectors (what `inc`/`observe` would have written)."""
        with self._lock:
            pending, self._series = self._series, {}
            highr_counts, self._highr_counts = self._highr_counts, []
            highr_sum, self._highr_sum = self._highr_sum, 0.0
        for series, (count, request_bytes, response_bytes, seconds, buckets) in pending.items():
            series.requests.inc(count)
            _observe_totals(series.request_size, count, request_bytes)
            _observe_totals(series.response_size, count, response_bytes)
            _observe_buckets(series.latency, seconds, buckets)
        if highr_counts:
            _observe_buckets(LATENCY_HIGHR, highr_sum, highr_counts)


def _observe_totals(summary: Summary, count: int, total: float) -> None:
    """`count` observations adding up to `total` (a Summary keeps only these two)."""
    summary._count.inc(count)
    summary._sum.inc(total)


def _observe_buckets(histogram: Histogram, total: float, counts: list[int]) -> None:
    """Observations adding up to `total`, `counts[i]` of them in bucket `i` (non-cumulative, as stored)."""
    histogram._sum.inc(total)
    for cell, count in zip(histogram._buckets, counts, strict=True):
        if count:
            cell.inc(count)


class _Flushing:
    """A collector that folds the pending requests in before it is read."""

    def collect(self) -> Iterable[Metric]:
        PENDING.flush()
        collected: Iterable[Metric] = super().collect()  # type: ignore[misc]
        return collected


class _Counter(_Flushing, Counter):
    pass


class _Summary(_Flushing, Summary):
    pass


class _Histogram(_Flushing, Histogram):
    pass


PENDING = PendingRequests()


REQUESTS = _Counter(
    "http_requests_total",
    "Total number of requests by method, status and handler.",
    ("method", "status", "handler"),
)
REQUEST_SIZE = _Summary(
    "http_request_size_bytes",
    "Content length of incoming requests by handler. Only value of header is respected. "
    "Otherwise ignored. No percentile calculated. ",
    ("handler",),
)
RESPONSE_SIZE = _Summary(
    "http_response_size_bytes",
    "Content length of outgoing responses by handler. Only value of header is respected. "
    "Otherwise ignored. No percentile calculated. ",
    ("handler",),
)
LATENCY_HIGHR = _Histogram(
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
LATENCY = _Histogram(
    "http_request_duration_seconds",
    "Latency with only few buckets by handler. Made to be only used if aggregation by handler is important. ",
    ("method", "handler"),
    buckets=(0.1, 0.5, 1),
)

LATENCY_BOUNDS = tuple(LATENCY._upper_bounds)
HIGHR_BOUNDS = tuple(LATENCY_HIGHR._upper_bounds)


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
        PENDING.add(
            self._series(method, f"{str(status)[0]}xx", handler), request_size, response_size, duration
        )

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
