"""bench/attribution.py: where a profiled request's CPU goes, by category (the causes `make bench` prints).

Hand-made pstats tables pin the rules (own category first, uncategorized time handed to the callers in
proportion, caller-less leftovers `other`, cycles end); one real cProfile run and one dump read back
check them on cProfile's own data."""

import cProfile
import time
from pathlib import Path

import pytest

from bench.attribution import (
    ENGINE_CATEGORIES,
    ENGINE_COUNTERS,
    LOOP_CATEGORIES,
    OTHER,
    Category,
    Profile,
    attribute,
    categorize,
    counts,
    load,
    read_attribution,
    requests_served,
    root_calls,
    top,
)

SITE = "/venv/lib/python3.11/site-packages"
APP = "/repo/app"
PRESENTER = (f"{APP}/live_streams/presenter.py", 78, "many")
ENVELOPE = (f"{APP}/core/envelope.py", 83, "ok")
ORJSON = ("~", 0, "<built-in method orjson.dumps>")
STDLIB = ("/usr/lib/python3.11/typing.py", 10, "get_origin")
DICT_GET = ("~", 0, "<method 'get' of 'dict' objects>")
ROUTE_MATCH = (f"{SITE}/starlette/routing.py", 251, "matches")
DEPENDENCIES = (f"{SITE}/fastapi/dependencies/utils.py", 671, "solve_dependencies")


def edge(tottime: float, cumtime: float, calls: int = 1) -> tuple[int, int, float, float]:
    return (calls, calls, tottime, cumtime)


def row(tottime: float, callers: dict, calls: int = 1) -> tuple:
    cumulative = tottime + sum(e[3] for e in callers.values())
    return (calls, calls, tottime, cumulative, callers)


@pytest.mark.parametrize(
    ("key", "category"),
    [
        (PRESENTER, "presenter"),
        (ENVELOPE, "encoding"),
        (ORJSON, "encoding"),
        (ROUTE_MATCH, "routing"),
        ((f"{SITE}/fastapi/routing.py", 1349, "matches"), "routing"),
        ((f"{SITE}/fastapi/routing.py", 438, "app"), "FastAPI request handler"),
        (DEPENDENCIES, "dependency solving"),
        ((f"{APP}/core/embedded_rules.py", 1051, "_shape_of"), "command-shape checks"),
        ((f"{APP}/core/embedded.py", 69, "run"), "engine hand-offs"),
        ((f"{APP}/core/middleware.py", 212, "new_request_id"), "middleware: request id"),
        ((f"{APP}/core/middleware.py", 74, "__call__"), "middleware: errors, query and body checks"),
        ((f"{APP}/core/metrics.py", 200, "record"), "middleware: metrics"),
        ((f"{SITE}/uvicorn/protocols/http/httptools_impl.py", 463, "send"), "transport"),
        ((f"{APP}/users/repository.py", 63, "summaries"), "repositories"),
        ((f"{APP}/live_streams/participant_repository.py", 173, "roles_of"), "repositories"),
        ((f"{APP}/live_streams/service.py", 40, "funded"), "services"),
        (("/repo/bench/floor.py", 68, "detail"), "endpoint functions"),
        (STDLIB, None),
        (DICT_GET, None),
    ],
)
def test_the_loop_table_puts_code_in_its_category(key, category):
    assert categorize(key, LOOP_CATEGORIES) == category


@pytest.mark.parametrize(
    ("key", "category"),
    [
        ((f"{SITE}/mongomock_ng/aggregate.py", 2261, "_handle_group_stage"), "aggregation"),
        ((f"{SITE}/mongomock_ng/filtering.py", 132, "apply"), "filter matching"),
        (("/usr/lib/python3.11/copy.py", 128, "deepcopy"), "document copies"),
        ((f"{APP}/core/embedded.py", 459, "_copy_aware"), "document copies"),
        ((f"{APP}/core/embedded_index.py", 469, "_plan_on"), "index walks"),
        (
            (f"{SITE}/mongomock_ng/helpers.py", 396, "patch_datetime_awareness_in_document"),
            "datetime conversions",
        ),
        ((f"{APP}/core/embedded.py", 564, "__next__"), "engine adapter"),
        ((f"{SITE}/mongomock_ng/store.py", 143, "__contains__"), "mongomock (rest)"),
    ],
)
def test_the_engine_table_puts_code_in_its_category(key, category):
    assert categorize(key, ENGINE_CATEGORIES) == category


def test_the_first_matching_category_wins():
    table = (Category("first", (r"a\.py:",)), Category("second", (r"a\.py:f$",)))
    assert categorize(("/x/a.py", 1, "f"), table) == "first"


def test_uncategorized_time_goes_to_the_callers_categories_in_proportion():
    stats = {
        PRESENTER: row(0.005, {}),
        ENVELOPE: row(0.010, {}),
        ORJSON: row(0.004, {ENVELOPE: edge(0.004, 0.004)}),
        # 0.030 s of typing: 0.020 s of it for the envelope, 0.010 s for the presenter
        STDLIB: row(0.030, {ENVELOPE: edge(0.020, 0.020), PRESENTER: edge(0.010, 0.010)}),
    }
    seconds = attribute(stats, LOOP_CATEGORIES)
    assert seconds == pytest.approx({"encoding": 0.010 + 0.004 + 0.020, "presenter": 0.005 + 0.010})


def test_time_climbs_through_uncategorized_callers_by_their_cumulative_time():
    # dict.get ← typing.get_origin ← {dependency solving 3/4 of the calls' time, routing 1/4}
    stats = {
        DEPENDENCIES: row(0.001, {}),
        ROUTE_MATCH: row(0.001, {}),
        STDLIB: row(0.004, {DEPENDENCIES: edge(0.003, 0.006), ROUTE_MATCH: edge(0.001, 0.002)}),
        DICT_GET: row(0.008, {STDLIB: edge(0.008, 0.008)}),
    }
    seconds = attribute(stats, LOOP_CATEGORIES)
    assert seconds["dependency solving"] == pytest.approx(0.001 + 0.003 + 0.008 * 0.75)
    assert seconds["routing"] == pytest.approx(0.001 + 0.001 + 0.008 * 0.25)
    assert sum(seconds.values()) == pytest.approx(sum(r[2] for r in stats.values()))


def test_caller_less_uncategorized_time_is_other_and_cycles_end():
    loop_a = ("/usr/lib/python3.11/a.py", 1, "a")
    loop_b = ("/usr/lib/python3.11/b.py", 1, "b")
    stats = {
        DICT_GET: row(0.002, {}),  # nobody called it inside the profile
        PRESENTER: row(0.001, {}),
        loop_a: row(0.004, {loop_b: edge(0.002, 0.004), PRESENTER: edge(0.002, 0.004)}),
        loop_b: row(0.002, {loop_a: edge(0.002, 0.002)}),
    }
    seconds = attribute(stats, LOOP_CATEGORIES)
    assert seconds[OTHER] == pytest.approx(0.002)
    assert seconds["presenter"] == pytest.approx(0.001 + 0.004 + 0.002)


def test_work_is_counted_per_category_in_primitive_calls():
    tested = (f"{SITE}/mongomock_ng/filtering.py", 59, "filter_applies")
    stats = {tested: (90, 120, 0.01, 0.02, {})}  # 30 of the 120 calls recursive
    assert counts(stats, ENGINE_COUNTERS) == {
        "filter matching": 90,
        "aggregation": 0,
        "datetime conversions": 0,
    }


def test_requests_and_engine_calls_are_counted_from_the_profile():
    marker = (f"{SITE}/uvicorn/protocols/http/httptools_impl.py", 321, "on_message_complete")
    find_one = (f"{SITE}/mongomock_ng/collection.py", 1852, "find_one")
    read = (f"{APP}/core/embedded.py", 183, "_read")
    stats = {
        marker: row(0.001, {}, calls=40),
        find_one: row(0.001, {}, calls=7),
        read: row(0.001, {}, calls=5),
        DICT_GET: row(0.001, {read: edge(0.001, 0.001, 9)}, calls=9),
        # what the worker's own loop calls between two engine calls, and the profiler's `disable`
        ("~", 0, "<method 'get_nowait' of '_queue.SimpleQueue' objects>"): row(0.0, {}, calls=12),
        ("/usr/lib/python3.11/contextlib.py", 440, "__init__"): row(0.0, {}, calls=12),
        ("~", 0, "<method 'disable' of '_lsprof.Profiler' objects>"): row(0.0, {}),
    }
    assert requests_served(stats) == 40
    assert root_calls(stats, ENGINE_CATEGORIES) == 7 + 5


def test_a_profile_scales_its_shares_to_the_measured_figure():
    profile = Profile({"presenter": 0.3, "encoding": 0.1}, requests=10)
    assert profile.scaled(800.0) == pytest.approx({"presenter": 600.0, "encoding": 200.0})
    assert profile.share("encoding") == pytest.approx(0.25)
    assert top({"a": 5.0, "b": 50.0, "c": 0.1, "d": -3.0}, 2, exclude=("b",)) == [("a", 5.0), ("c", 0.1)]


def _sorting_work() -> int:
    total = 0
    for n in range(300):
        total += len(sorted(range(n, 0, -1)))
    return total


def test_a_real_profile_hands_builtin_time_to_the_categorized_caller(tmp_path: Path):
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    _sorting_work()
    profiler.disable()
    loop = tmp_path / "loop.prof"
    profiler.dump_stats(loop)
    engine = tmp_path / "engine.prof"
    profiler.dump_stats(engine)
    table = (Category("sorting work", (r"test_bench_attribution\.py:_sorting_work$",)),)
    attribution = read_attribution(loop, engine, fallback_requests=3)
    assert attribution.loop.requests == 3  # no uvicorn in this profile: the driver's count
    assert attribution.engine is not None and attribution.engine.requests == 3
    seconds = attribute(load(loop), table)
    assert seconds["sorting work"] / sum(seconds.values()) > 0.9  # `sorted` and `len` counted as its own
