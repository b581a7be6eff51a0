"""bench/verdicts.py: `make bench` prints every target as met with its figure, or missed with its figure
and the cause measured in the same run (issue 25's "done means"); ratios between targets are judged on
the median of interleaved per-cycle pairs, so one noisy window does not flip a verdict."""

from bench.attribution import Attribution, Profile
from bench.driver import Call, Measurement
from bench.realtime import FanoutResult, target_line
from bench.runner import CurvePoint, LoadResult, cycle_plan
from bench.scenarios import LIST_US_TARGET, Scenario
from bench.verdicts import NOT_PROFILED, curve_lines, floor_ratio, load_lines, loop_ratio

FUNDED = Scenario("funded", "GET /funded", lambda n: Call("GET", "/funded", {}), True, LIST_US_TARGET)


def window(loop_us: float, server_us: float | None = None, requests: int = 100) -> Measurement:
    """One measured window: `requests` answers at `loop_us` event-loop CPU each (server CPU all threads)."""
    loop = loop_us * requests / 1e6
    server = (server_us if server_us is not None else loop_us * 1.5) * requests / 1e6
    return Measurement(requests, 0, 1.0, [10.0] * requests, server, loop, 0.2)


def result(windows: dict[str, list[float]], **kwargs) -> LoadResult:
    runs = {name: [window(us) for us in values] for name, values in windows.items()}
    merged = {name: Measurement.merge(ms) for name, ms in runs.items()}
    return LoadResult(
        FUNDED,
        merged["app"],
        merged["baseline"],
        merged["floor"],
        same_answer=True,
        items=50,
        transport=merged["transport"],
        windows=runs,
        **kwargs,
    )


def line(lines: list[str], what: str) -> str:
    (found,) = [text for text in lines if what in text]
    return found


def test_one_noisy_window_does_not_flip_the_floor_ratio():
    r = result(
        {
            "app": [1000, 1000, 1900],  # the third app window ran while the machine was busy
            "floor": [900, 900, 900],
            "baseline": [850, 850, 850],
            "transport": [200, 200, 200],
        }
    )
    assert round(floor_ratio(r), 2) == 1.11  # 1.30 as a ratio of the totals
    verdict = line(load_lines(r), "app ÷ FastAPI floor")
    assert verdict.startswith("✅ met: GET /funded app ÷ FastAPI floor loop CPU 1.11 ")
    assert "median of 3 interleaved pairs, 1.11–2.11" in verdict
    assert "cause" not in verdict


def test_a_framework_miss_names_the_categories_that_grew_over_the_floor():
    app = Attribution(Profile({"routing": 0.5, "transport": 0.4, "presenter": 0.1}, requests=10))
    floor = Attribution(Profile({"routing": 0.2, "transport": 0.7, "presenter": 0.1}, requests=10))
    r = result(
        {"app": [1300] * 3, "floor": [1000] * 3, "baseline": [1300] * 3, "transport": [200] * 3},
        attributions={"app": app, "floor": floor},
    )
    verdict = line(load_lines(r), "app ÷ FastAPI floor")
    assert verdict.startswith("❌ missed: GET /funded app ÷ FastAPI floor loop CPU 1.30 (target ≤ 1.15;")
    # app: routing 650, transport 520, presenter 130 µs; floor: 200, 700, 100
    assert verdict.endswith("— cause: routing +450 µs, presenter +30 µs (profile diff app − FastAPI floor)")


def test_a_service_cost_miss_splits_the_baseline_by_category_per_item_and_per_engine_call():
    baseline = Attribution(
        Profile(
            {"presenter": 0.5, "encoding": 0.25, "transport": 0.15, "engine hand-offs": 0.1}, requests=100
        ),
        Profile({"aggregation": 1.0}, requests=100, entries=600),
    )
    r = result(
        {"app": [1300] * 3, "floor": [1300] * 3, "baseline": [1300] * 3, "transport": [200] * 3},
        attributions={"baseline": baseline},
    )
    verdict = line(load_lines(r), "baseline loop CPU")
    assert verdict.startswith(
        "❌ missed: GET /funded baseline loop CPU 1,300 µs/req (target ≤ 600; transport floor 200 µs, "
        "services' share +1,100 µs) — cause: "
    )
    assert verdict.endswith(
        "presenter 650 µs (13.0 µs/item × 50), encoding 325 µs, "
        "engine hand-offs 130 µs (6.0 engine calls × 22 µs)"
    )


def test_an_engine_share_miss_names_the_engine_threads_cost_and_split():
    engine = Profile(
        {"aggregation": 0.55, "document copies": 0.30, "index walks": 0.15},
        50,
        entries=300,
        counts={"aggregation": 100, "filter matching": 0},
    )
    r = result({"app": [1000] * 3, "floor": [1000] * 3, "baseline": [900] * 3, "transport": [200] * 3})
    r.app = Measurement.merge([window(1000, server_us=5000)] * 3)
    r.attributions["app"] = Attribution(Profile({"presenter": 1.0}, 50), engine)
    verdict = line(load_lines(r), "server CPU")
    assert verdict == (
        "❌ missed: GET /funded server CPU 5.0× its loop CPU (5,000 µs/req in all; target ≤ 3×) — cause: "
        "engine thread 4,000 µs/req (6.0 engine calls, 667 µs each): "
        "aggregation 55% (2 pipeline stages/req), document copies 30%, index walks 15%"
    )


def test_without_profiles_a_miss_says_so_and_met_targets_show_their_figure():
    r = result({"app": [1250] * 3, "floor": [1000] * 3, "baseline": [1300] * 3, "transport": [200] * 3})
    lines = load_lines(r)
    assert line(lines, "loop ratio").startswith(
        "✅ met: GET /funded loop ratio 1.04 (target ≥ 0.80 on reads;"
    )
    assert line(lines, "app ÷ FastAPI floor").endswith(f"— cause: {NOT_PROFILED}")
    assert round(loop_ratio(r), 2) == 1.04


def test_a_loop_ratio_the_floor_itself_misses_is_out_of_reach():
    r = result({"app": [1300] * 3, "floor": [1200] * 3, "baseline": [700] * 3, "transport": [200] * 3})
    verdict = line(load_lines(r), "loop ratio")
    assert verdict.startswith("➖ out of reach: GET /funded loop ratio 0.54")
    assert verdict.endswith("the FastAPI floor itself reaches only 0.58)")


def test_a_growth_miss_names_the_point_that_grew_with_median_and_first_request():
    def point(scale: int, ms: float, first: float) -> CurvePoint:
        keys = ("most_watched_anon", "most_watched_token", "viewer_count", "featured", "funded")
        return CurvePoint(
            scale, scale * 10_000, scale * 5_000, dict.fromkeys(keys, first), {k: [ms] for k in keys}
        )

    lines = curve_lines([point(1, 10.0, 100.0), point(10, 11.0, 900.0), point(100, 22.0, 5000.0)])
    assert line(lines, "funded") == (
        "❌ missed: funded latency growth 2.2× from 10,000 to 1,000,000 join events (target ≤ 1.5×) — cause: "
        "the 100× point grew 2.0× over the 10× one; median 10.0 → 11.0 → 22.0 ms, "
        "first request 100.0 → 900.0 → 5,000.0 ms"
    )


def test_the_realtime_line_gives_its_figures_and_on_a_miss_the_collectors_share():
    def fanout(target: str, cpu_us: float, gc_seconds: float) -> FanoutResult:
        return FanoutResult(
            target, 200, 40, 8000, 8000, 5.0, 9.0, 12.0, cpu_us * 8000 / 1e6, cpu_us, gc_seconds, "9/1/0"
        )

    met = target_line(200, 1.2, [fanout("app", 36.0, 0.01), fanout("bare", 30.0, 0.0)])
    assert met == (
        "✅ met: realtime fan-out to 200 sockets, app / bare CPU per delivery 1.20 (target ≤ 1.5; "
        "app 36.0 µs vs bare 30.0 µs server CPU per delivery, p50 5.0 vs 5.0 ms)"
    )
    missed = target_line(200, 2.0, [fanout("app", 60.0, 0.08), fanout("bare", 30.0, 0.0)])
    assert missed.startswith("❌ missed: realtime fan-out to 200 sockets, app / bare CPU per delivery 2.00")
    assert "app +30.0 µs per delivery, of which garbage collection +10.0 µs" in missed
    assert "delivered 8,000/8,000 vs 8,000/8,000" in missed


def test_the_measured_time_is_cut_into_interleaved_windows():
    assert cycle_plan(3, 2, 1.0) == (6, 1.0)
    assert cycle_plan(5, 1, 1.0) == (5, 1.0)
    assert cycle_plan(2, 1, 1.0) == (5, 0.4)  # at least five windows for a median
