"""The targets of issues 16 and 25, judged on one `make bench` run: `✅ met` with the figure, or `❌ missed`
with the figure and its cause as measured in the same run (bench.attribution's split of the profiled
pass, the windows' figures, the curve's points), or `➖ out of reach` (a Starlette loop ratio the FastAPI
floor itself misses).

Ratios between two targets are the median of per-cycle ratios (`LoadResult.pair_ratios`: the targets'
windows interleave, so each ratio compares two windows seconds apart), which the shared machine's load
swings far less than a ratio of two totals; absolute µs are the totals over every window.
"""

import itertools
import statistics
from collections.abc import Mapping, Sequence
from typing import Protocol

from bench.attribution import (
    ENGINE_COUNTERS,
    HAND_OFFS,
    PER_ITEM,
    TRANSPORT,
    Attribution,
    Profile,
    difference,
    top,
)
from bench.driver import Measurement
from bench.runner import CurvePoint, LoadResult
from bench.scenarios import FLAT_CURVE_KEYS, FLOOR_TARGET

CURVE_TARGET = 1.5
# Issue 25: a hot read's whole server CPU (the embedded engine's thread included) at most this many
# times its event-loop CPU, i.e. the engine's indexes leave the framework and services the main cost.
ENGINE_SHARE_TARGET = 3.0
CAUSES = 3  # categories named per cause
NOT_PROFILED = "not profiled in this run (--no-attribution)"


class RunLike(Protocol):
    load: list[LoadResult]
    curve: list[CurvePoint]


def loop_us(m: Measurement) -> float:
    """Event-loop CPU per request, µs."""
    return m.per_request_us(m.loop_cpu_seconds)


def _judged(r: LoadResult, numerator: str, denominator: str, a: Measurement, b: Measurement) -> float:
    """The median of the per-cycle ratios, or the ratio of the totals without windows."""
    ratios = r.pair_ratios(numerator, denominator)
    return statistics.median(ratios) if ratios else loop_us(a) / loop_us(b)


def loop_ratio(r: LoadResult) -> float:
    """Starlette baseline ÷ app event-loop CPU per request (target ≥ the scenario's loop target)."""
    assert r.baseline is not None
    return _judged(r, "baseline", "app", r.baseline, r.app)


def floor_ratio(r: LoadResult) -> float:
    """App ÷ FastAPI floor event-loop CPU per request (target ≤ FLOOR_TARGET)."""
    assert r.floor is not None
    return _judged(r, "app", "floor", r.app, r.floor)


def floor_loop_ratio(r: LoadResult) -> float:
    """Baseline ÷ floor event-loop CPU: the best loop ratio a FastAPI app can reach on this endpoint."""
    assert r.baseline is not None and r.floor is not None
    return _judged(r, "baseline", "floor", r.baseline, r.floor)


def spread(r: LoadResult, numerator: str, denominator: str) -> str:
    """ "median of N interleaved pairs, low–high" for a judged ratio (empty without windows)."""
    ratios = r.pair_ratios(numerator, denominator)
    if len(ratios) < 2:
        return ""
    return f"median of {len(ratios)} interleaved pairs, {min(ratios):.2f}–{max(ratios):.2f}"


def service_share(r: LoadResult) -> float | None:
    """Baseline minus transport floor event-loop CPU per request: the services' own µs."""
    if r.baseline is None or r.transport is None:
        return None
    return loop_us(r.baseline) - loop_us(r.transport)


def engine_us(m: Measurement) -> float:
    """CPU per request of the server's other threads (the embedded engine's worker), µs."""
    return m.per_request_us(m.server_cpu_seconds - m.loop_cpu_seconds)


def _us(value: float) -> str:
    return f"{value:,.0f} µs"


def _item_note(category: str, value: float, items: int | None) -> str:
    if category in PER_ITEM and items:
        return f" ({value / items:,.1f} µs/item × {items})"
    return ""


def _hand_off_note(category: str, value: float, attribution: Attribution) -> str:
    engine = attribution.engine
    if category != HAND_OFFS or engine is None or not engine.requests or not engine.entries:
        return ""
    calls = engine.entries / engine.requests
    return f" ({calls:,.1f} engine calls × {value / calls:,.0f} µs)"


def service_cause(r: LoadResult) -> str:
    """Where the baseline's loop CPU beyond the transport floor goes: its largest categories, µs per
    request (the profile's shares of the measured µs)."""
    attribution = r.attributions.get("baseline")
    if attribution is None or r.baseline is None:
        return NOT_PROFILED
    split = attribution.loop.scaled(loop_us(r.baseline))
    parts = [
        f"{name} {_us(value)}{_item_note(name, value, r.items)}{_hand_off_note(name, value, attribution)}"
        for name, value in top(split, CAUSES, exclude=TRANSPORT, minimum=0.5)
    ]
    return ", ".join(parts) if parts else "no category above 1 µs"


def framework_cause(r: LoadResult, reference: str) -> str:
    """Where the app's extra loop CPU over `reference` (the floor or the baseline) goes: the categories
    that grew most between the two targets' profiles, each scaled to its target's measured µs."""
    app, other = r.attributions.get("app"), r.attributions.get(reference)
    measured = {"floor": r.floor, "baseline": r.baseline}[reference]
    if app is None or other is None or measured is None:
        return NOT_PROFILED
    grown = difference(app.loop.scaled(loop_us(r.app)), other.loop.scaled(loop_us(measured)))
    parts = [f"{name} +{_us(value)}" for name, value in top(grown, CAUSES, minimum=0.5)]
    what = "app − FastAPI floor" if reference == "floor" else "app − Starlette baseline"
    return f"{', '.join(parts) or 'no category grew'} (profile diff {what})"


def _count_note(engine: Profile, category: str) -> str:
    count = engine.counts.get(category)
    if not count or not engine.requests or category not in ENGINE_COUNTERS:
        return ""
    return f" ({count / engine.requests:,.0f} {ENGINE_COUNTERS[category][1]}/req)"


def engine_cause(r: LoadResult) -> str:
    """The engine thread's CPU per request and what it is spent on (the worker thread's profile)."""
    attribution = r.attributions.get("app")
    head = f"engine thread {_us(engine_us(r.app))}/req"
    if attribution is None:
        return f"{head}; {NOT_PROFILED}"
    engine = attribution.engine
    if engine is None or engine.total <= 0:
        return f"{head}; no engine thread profiled (not the embedded engine)"
    if engine.requests and engine.entries:
        calls = engine.entries / engine.requests
        head += f" ({calls:,.1f} engine calls, {engine_us(r.app) / calls:,.0f} µs each)"
    shares = {name: seconds / engine.total for name, seconds in engine.seconds.items()}
    parts = [
        f"{name} {share:.0%}{_count_note(engine, name)}" for name, share in top(shares, CAUSES, minimum=0.005)
    ]
    return f"{head}: {', '.join(parts)}"


def _verdict(met: bool) -> str:
    return "✅ met" if met else "❌ missed"


def _line(met: bool, text: str, cause: str | None) -> str:
    return f"{_verdict(met)}: {text}" + ("" if met or cause is None else f" — cause: {cause}")


def load_lines(r: LoadResult) -> list[str]:
    """The targets one load-test scenario is judged on."""
    lines: list[str] = []
    if r.baseline is None:
        return lines
    s = r.scenario
    loop = loop_ratio(r)
    kind = "read" if s.read else "write"
    extra = f"app {loop_us(r.app) - loop_us(r.baseline):+,.0f} µs"
    if pairs := spread(r, "baseline", "app"):
        extra = f"{pairs}; {extra}"
    text = f"{s.title} loop ratio {loop:.2f} (target ≥ {s.loop_target:.2f} on {kind}s; {extra})"
    if loop < s.loop_target and r.floor is not None and floor_loop_ratio(r) < s.loop_target:
        # the bare FastAPI floor itself is below the target
        text = text[:-1] + f"; the FastAPI floor itself reaches only {floor_loop_ratio(r):.2f})"
        lines.append(f"➖ out of reach: {text}")
    else:
        lines.append(_line(loop >= s.loop_target, text, framework_cause(r, "baseline")))
    if r.floor is not None:
        over = floor_ratio(r)
        extra = f"app {loop_us(r.app) - loop_us(r.floor):+,.0f} µs"
        if pairs := spread(r, "app", "floor"):
            extra = f"{pairs}; {extra}"
        text = f"{s.title} app ÷ FastAPI floor loop CPU {over:.2f} (target ≤ {FLOOR_TARGET:.2f}; {extra})"
        lines.append(_line(over <= FLOOR_TARGET, text, framework_cause(r, "floor")))
    if s.service_us_target is not None:
        base_us, share = loop_us(r.baseline), service_share(r)
        split = (
            ""
            if share is None or r.transport is None
            else f"; transport floor {loop_us(r.transport):,.0f} µs, services' share {share:+,.0f} µs"
        )
        text = f"{s.title} baseline loop CPU {base_us:,.0f} µs/req (target ≤ {s.service_us_target}{split})"
        lines.append(_line(base_us <= s.service_us_target, text, service_cause(r)))
    if s.read:
        share = r.app.server_cpu_seconds / r.app.loop_cpu_seconds if r.app.loop_cpu_seconds else 0.0
        text = (
            f"{s.title} server CPU {share:.1f}× its loop CPU ({r.app.per_request_us(r.app.server_cpu_seconds):,.0f} "
            f"µs/req in all; target ≤ {ENGINE_SHARE_TARGET:.0f}×)"
        )
        lines.append(_line(share <= ENGINE_SHARE_TARGET, text, engine_cause(r)))
    if s.read and not r.same_answer:
        lines.append(f"❌ missed: {s.title} baseline and app answers differ (the ratio is not a fair one)")
    return lines


def curve_growth(curve: Sequence[CurvePoint], key: str) -> float:
    first, last = curve[0], curve[-1]
    return statistics.median(last.latencies_ms[key]) / statistics.median(first.latencies_ms[key])


def growth_cause(curve: Sequence[CurvePoint], key: str) -> str:
    """Which step of the curve grew most, and every point's median and first-request latency."""
    medians = [statistics.median(p.latencies_ms[key]) for p in curve]
    steps = [(b / a, curve[i], curve[i + 1]) for i, (a, b) in enumerate(itertools.pairwise(medians))]
    grown, before, after = max(steps, key=lambda step: step[0])
    points = " → ".join(f"{m:,.1f}" for m in medians)
    firsts = " → ".join(f"{p.first_ms[key]:,.1f}" for p in curve)
    return (
        f"the {after.scale}× point grew {grown:.1f}× over the {before.scale}× one; median {points} ms, "
        f"first request {firsts} ms"
    )


def curve_lines(curve: Sequence[CurvePoint]) -> list[str]:
    lines: list[str] = []
    if len(curve) < 2:
        return lines
    for key in FLAT_CURVE_KEYS:
        growth = curve_growth(curve, key)
        text = (
            f"{key} latency growth {growth:.1f}× from {curve[0].join_events:,} to {curve[-1].join_events:,} "
            f"join events (target ≤ {CURVE_TARGET}×)"
        )
        lines.append(_line(growth <= CURVE_TARGET, text, growth_cause(curve, key)))
    return lines


def target_lines(run: RunLike) -> list[str]:
    """Every target of issues 16 and 25 measured in this run (the realtime one is added by `python -m
    bench` after its own run)."""
    return [line for r in run.load for line in load_lines(r)] + curve_lines(run.curve)


def as_json(run: RunLike) -> Mapping[str, object]:
    """The judged ratios and their per-cycle figures (raw results)."""
    return {
        r.scenario.key: {
            "loop_ratio_pairs": r.pair_ratios("baseline", "app"),
            "floor_ratio_pairs": r.pair_ratios("app", "floor"),
            "attributions": {name: a.to_json() for name, a in r.attributions.items()},
        }
        for r in run.load
    }
