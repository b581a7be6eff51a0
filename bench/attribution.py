"""Where a request's CPU goes, by category, from a cProfile of the server's threads (the causes `make bench`
prints next to a missed target).

One table per thread maps code to categories by module path and function name (regexes searched in
`"<file>:<function>"`, first match wins). A function that matches no pattern (the standard library,
pydantic, a builtin such as `dict.copy` or `sorted`) hands its own time to the categories of its callers,
in proportion to the time it spent for each of them, and so on up the call graph: pydantic validating a
dependency's parameters counts as dependency solving, `orjson.dumps` as encoding, a `deepcopy` in the
engine's projection as a document copy. Time that reaches a caller-less uncategorized frame is `other`.

The profiles come from a short extra pass after a scenario's measured windows (never inside them:
cProfile slows small Python calls far more than C code). Only each category's *share* of the profile is
used, scaled to the CPU per request measured without the profiler, so the µs printed add up to the
measured figure; the profiler's uneven overhead still tilts the shares towards code that makes many small
calls (routing, dependency solving) and away from C (orjson, the socket layer).
"""

import math
import pstats
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OTHER = "other"
FuncKey = tuple[str, int, str]  # pstats' (file, line, function)


@dataclass(frozen=True)
class Category:
    name: str
    patterns: tuple[str, ...]  # regexes searched in "<file>:<function>" (files with forward slashes)


def _table(*rows: tuple[str, tuple[str, ...]]) -> tuple[Category, ...]:
    return tuple(Category(name, patterns) for name, patterns in rows)


# The event-loop thread: the framework, the app's middleware, auth, services and presenter, encoding, and
# the hand-offs to the embedded engine's worker thread.
LOOP_CATEGORIES = _table(
    ("command-shape checks", (r"/app/core/embedded_rules\.py:",)),
    ("engine hand-offs", (r"/app/core/embedded[a-z_]*\.py:", r"/mongomock_ng/", r"/pymongo/")),
    ("auth", (r"/app/core/security\.py:", r"/app/users/auth\.py:", r"/jwt/")),
    (
        "presenter",
        (r"/app/live_streams/presenter\.py:", r"/app/replays/access\.py:", r"/app/users/schemas\.py:"),
    ),
    ("encoding", (r"/app/core/envelope\.py:", r"orjson")),
    ("middleware: metrics", (r"/app/core/metrics\.py:", r"/prometheus_client/")),
    (
        "middleware: request id",
        (r"/asgi_correlation_id/", r"/app/core/middleware\.py:(_take_request_id|new_request_id)$"),
    ),
    ("middleware: CORS", (r"/app/core/cors\.py:", r"/starlette/middleware/cors\.py:")),
    ("middleware: errors, query and body checks", (r"/app/core/middleware\.py:",)),
    (
        "routing",
        (
            r"/starlette/routing\.py:",
            r"/app/core/routing\.py:",
            r"/fastapi/routing\.py:(.*matches|_get_scope_effective_route_context|url_path_for)$",
        ),
    ),
    (
        "dependency solving",
        (
            r"/fastapi/dependencies/",
            r"/fastapi/_compat",
            r"/fastapi/params\.py:",
            r"/fastapi/security/",
            r"/app/core/dependencies\.py:",
            r"/app/[a-z_]+/dependencies\.py:",
        ),
    ),
    ("endpoint functions", (r"/bench/(floor|baseline)\.py:", r"/app/[a-z_]+/[a-z_]*router\.py:")),
    (
        "response building",
        (r"/starlette/responses\.py:", r"/fastapi/responses\.py:", r"/fastapi/encoders\.py:"),
    ),
    ("FastAPI request handler", (r"/fastapi/",)),
    (
        "transport",
        (
            r"/uvicorn/",
            r"httptools",
            r"uvloop",
            r"/h11/",
            r"/starlette/(applications|_exception_handler|middleware/(errors|exceptions))\.py:",
        ),
    ),
    (
        "repositories",
        (r"/app/([a-z_]+/)?[a-z_]*repository\.py:", r"/app/core/sessions\.py:", r"/app/repositories\.py:"),
    ),
    ("services", (r"/app/",)),
)
# Categories the transport floor itself pays (the rest of a baseline request is the services' share).
TRANSPORT = ("transport", "routing", "response building")
# Categories per listed item (their µs are also shown per item of a list answer).
PER_ITEM = ("presenter",)
HAND_OFFS = "engine hand-offs"

# The embedded engine's worker thread: mongomock-ng plus the adapter's indexes and rule checks.
ENGINE_CATEGORIES = _table(
    ("command-shape checks", (r"/app/core/embedded_rules\.py:",)),
    ("index walks", (r"/app/core/embedded_index\.py:", r"bisect")),
    (
        "datetime conversions",
        (r"datetime_(timezone_)?aware", r"/datetime\.py:", r"<method '(replace|astimezone)' of 'datetime"),
    ),
    (
        "document copies",
        (
            r"/copy\.py:",
            r"_clone_document",
            r"_copy_field",
            r"deepcopy",
            r"<method 'copy' of 'dict'",
            r"/app/core/embedded[a-z_]*\.py:_copy",
        ),
    ),
    (
        "projection",
        (
            r"/mongomock_ng/collection\.py:(_project_by_spec|_copy_only_fields|_combine_projection|_apply_projection)",
        ),
    ),
    ("aggregation", (r"/mongomock_ng/aggregate\.py:",)),
    ("filter matching", (r"/mongomock_ng/filtering\.py:",)),
    ("sorting", (r"builtins\.sorted", r"<method 'sort' of 'list'", r"_profiler_set_sort|sort_key|_sort")),
    ("BSON and codecs", (r"/bson/", r"/mongomock_ng/codec_options\.py:")),
    ("engine locks", (r"/mongomock_ng/thread\.py:",)),
    ("engine adapter", (r"/app/core/embedded[a-z_]*\.py:",)),
    ("mongomock (rest)", (r"/mongomock_ng/",)),
)

# Work counted per request next to a category's share (primitive calls of the functions that match):
# category → (pattern, what one call is).
ENGINE_COUNTERS = {
    "filter matching": (r"/mongomock_ng/filtering\.py:filter_applies$", "documents tested"),
    "aggregation": (r"/mongomock_ng/aggregate\.py:_handle_[a-z_]+_stage$", "pipeline stages"),
    "datetime conversions": (r"patch_datetime_awareness_in_document$", "documents made timezone-aware"),
}

# A synchronous function uvicorn calls exactly once per HTTP request (a coroutine would count every
# resumption as a call): the number of requests a profiled pass served.
REQUEST_MARKER = re.compile(r"/uvicorn/protocols/http/[a-z_]+\.py:on_message_complete$")


def _label(key: FuncKey) -> str:
    file, _, function = key
    return f"{file.replace(chr(92), '/')}:{function}"


def categorize(key: FuncKey, table: Iterable[Category]) -> str | None:
    """The first category whose pattern matches the function, else None (it inherits its callers')."""
    label = _label(key)
    for category in table:
        if any(re.search(pattern, label) for pattern in category.patterns):
            return category.name
    return None


Stats = Mapping[FuncKey, tuple[Any, ...]]  # pstats' `Stats.stats`: (cc, nc, tt, ct, callers)


def _edge_times(edge: Any) -> tuple[float, float]:
    """(own time, cumulative time) the callee spent for one caller (cProfile's per-caller tuple)."""
    if isinstance(edge, tuple):
        return float(edge[2]), float(edge[3])
    return 0.0, 0.0  # an old-style count only


def contributions(stats: Stats, table: Iterable[Category]) -> dict[tuple[str, FuncKey], float]:
    """Own CPU seconds of the profile per (category, function): every function's `tottime` under its own
    category, or, uncategorized, split among its callers' categories (see the module's doc)."""
    table = tuple(table)
    own: dict[FuncKey, str | None] = {key: categorize(key, table) for key in stats}
    memo: dict[FuncKey, dict[str, float]] = {}
    active: set[FuncKey] = set()

    def inherited(key: FuncKey) -> dict[str, float]:
        """How time handed to `key` divides among categories (shares summing to 1)."""
        if (category := own.get(key)) is not None:
            return {category: 1.0}
        if key in memo:
            return memo[key]
        active.add(key)
        callers = [c for c in (stats[key][4] if key in stats else {}) if c in stats and c not in active]
        weights = {c: _edge_times(stats[key][4][c])[1] for c in callers}
        total = sum(weights.values())
        if total <= 0:  # no timing per edge: every caller alike
            weights, total = dict.fromkeys(callers, 1.0), float(len(callers))
        shares: dict[str, float] = {} if callers else {OTHER: 1.0}
        for caller, weight in weights.items():
            for name, share in inherited(caller).items():
                shares[name] = shares.get(name, 0.0) + share * weight / total
        active.discard(key)
        memo[key] = shares
        return shares

    seconds: dict[tuple[str, FuncKey], float] = {}
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    try:
        for key, (_cc, _nc, tottime, _ct, callers) in stats.items():
            if tottime <= 0:
                continue
            if (category := own[key]) is not None:
                seconds[category, key] = seconds.get((category, key), 0.0) + tottime
                continue
            parts = {c: _edge_times(e)[0] for c, e in callers.items() if c in stats and c != key}
            spent = sum(parts.values())
            if spent <= 0:  # no caller, or no time per caller: by its callers' cumulative times
                shares = inherited(key)
            else:
                shares = {}
                for caller, part in parts.items():
                    for name, share in inherited(caller).items():
                        shares[name] = shares.get(name, 0.0) + share * part / spent
            for name, share in shares.items():
                seconds[name, key] = seconds.get((name, key), 0.0) + tottime * share
    finally:
        sys.setrecursionlimit(limit)
    return seconds


def attribute(stats: Stats, table: Iterable[Category]) -> dict[str, float]:
    """Own CPU seconds of the profile per category; the values sum to the profile's total."""
    seconds: dict[str, float] = {}
    for (category, _), spent in contributions(stats, table).items():
        seconds[category] = seconds.get(category, 0.0) + spent
    return seconds


def counts(stats: Stats, counters: Mapping[str, tuple[str, str]]) -> dict[str, int]:
    """Primitive calls of each counter's functions in the profile, by category."""
    found: dict[str, int] = {}
    for category, (pattern, _) in counters.items():
        found[category] = sum(int(v[0]) for key, v in stats.items() if re.search(pattern, _label(key)))
    return found


def requests_served(stats: Stats) -> int:
    """Requests the profiled pass served (calls of uvicorn's once-per-request parser callback)."""
    return sum(int(v[1]) for key, v in stats.items() if REQUEST_MARKER.search(_label(key)))


def root_calls(stats: Stats, table: Iterable[Category]) -> int:
    """Calls into the profile's categorized code from unprofiled code: on the engine's worker thread, one
    per engine call (the worker's own loop started before the profiler; the builtins and context managers
    it calls between two engine calls are not in any category of the engine's table)."""
    table = tuple(table)
    return sum(
        int(v[1])
        for key, v in stats.items()
        if not v[4] and key[0] != "~" and categorize(key, table) is not None
    )


@dataclass
class Profile:
    """One thread's profiled pass, by category: own CPU seconds, requests served, calls from outside."""

    seconds: dict[str, float]
    requests: int = 0
    entries: int = 0  # root calls (engine calls on the worker thread)
    counts: dict[str, int] = field(default_factory=dict)  # by category, see ENGINE_COUNTERS

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def share(self, category: str) -> float:
        return self.seconds.get(category, 0.0) / self.total if self.total > 0 else 0.0

    def scaled(self, measured_us: float) -> dict[str, float]:
        """µs per request by category: the profile's shares of `measured_us` (measured unprofiled)."""
        if self.total <= 0 or not math.isfinite(measured_us):
            return {}
        return {name: measured_us * s / self.total for name, s in self.seconds.items()}

    def per_request(self, count: int) -> float:
        return count / self.requests if self.requests else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "requests": self.requests,
            "entries": self.entries,
            "counts": self.counts,
        }


@dataclass
class Attribution:
    """A target's profiled pass: the event-loop thread and, on the embedded engine, its worker thread."""

    loop: Profile
    engine: Profile | None = None
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "loop": self.loop.to_json(),
            "engine": None if self.engine is None else self.engine.to_json(),
            "files": self.files,
        }


def load(path: Path) -> Stats:
    return pstats.Stats(str(path)).stats  # type: ignore[attr-defined,no-any-return]


def profile_of(
    stats: Stats,
    table: Iterable[Category],
    fallback_requests: int = 0,
    counters: Mapping[str, tuple[str, str]] | None = None,
) -> Profile:
    table = tuple(table)
    return Profile(
        attribute(stats, table),
        requests_served(stats) or fallback_requests,
        root_calls(stats, table),
        counts(stats, counters or {}),
    )


def read_attribution(loop_path: Path, engine_path: Path | None, fallback_requests: int) -> Attribution:
    """The attribution of one profiled pass from the server's pstats dumps."""
    loop = profile_of(load(loop_path), LOOP_CATEGORIES, fallback_requests)
    engine = None
    if engine_path is not None and engine_path.exists():
        engine = profile_of(load(engine_path), ENGINE_CATEGORIES, counters=ENGINE_COUNTERS)
        engine.requests = loop.requests  # the worker thread serves the loop's requests
    return Attribution(
        loop, engine, {"loop": str(loop_path), **({"engine": str(engine_path)} if engine else {})}
    )


def top(
    split: Mapping[str, float], n: int, *, exclude: Iterable[str] = (), minimum: float = 0.0
) -> list[tuple[str, float]]:
    """The `n` largest categories of a µs split (positive, above `minimum`), largest first."""
    skipped = set(exclude)
    ranked = sorted(
        ((k, v) for k, v in split.items() if k not in skipped and v > minimum), key=lambda kv: -kv[1]
    )
    return ranked[:n]


def difference(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    """Per category, a − b (µs per request)."""
    return {name: a.get(name, 0.0) - b.get(name, 0.0) for name in {*a, *b}}


def main() -> None:
    """`python -m bench.attribution PROFILE.prof [--engine]`: a pstats dump's categories and, in each,
    the functions whose time it holds (to check or extend the tables)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--engine", action="store_true", help="the engine worker's table")
    parser.add_argument("--functions", type=int, default=6, help="functions shown per category")
    args = parser.parse_args()
    stats = load(args.path)
    table = ENGINE_CATEGORIES if args.engine else LOOP_CATEGORIES
    parts = contributions(stats, table)
    total = sum(parts.values())
    by_category = attribute(stats, table)
    print(
        f"{requests_served(stats)} requests, {root_calls(stats, table)} root calls, {total * 1e3:.1f} ms profiled"
    )
    for category, spent in sorted(by_category.items(), key=lambda kv: -kv[1]):
        print(f"{spent / total:6.1%}  {category}")
        ranked = sorted(((s, k) for (c, k), s in parts.items() if c == category), reverse=True)
        for s, key in ranked[: args.functions]:
            print(f"          {s / total:6.1%}  {_label(key)}:{key[1]}")


if __name__ == "__main__":
    main()
