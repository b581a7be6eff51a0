"""Drive the server process: start it, run the load test against app and baseline, measure scale curves."""

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.attribution import Attribution, read_attribution
from bench.baseline import TRANSPORT_PATH
from bench.driver import Call, Measurement, RequestFactory, connections, measure, sequential
from bench.scenarios import CURVE_KEYS, Scenario, scenarios

SERVER_CPU, DRIVER_CPU = 0, 1  # with two or more cores, server and driver each get their own


@dataclass
class Server:
    process: subprocess.Popen
    app_url: str
    baseline_url: str
    floor_url: str
    ready: dict[str, Any]
    plans: list[dict[str, Any]] = field(default_factory=list)

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        self.process.stdin.flush()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _can_pin(pin: bool) -> bool:
    return pin and (os.cpu_count() or 1) >= 2


def pin_driver(pin: bool) -> None:
    if _can_pin(pin):
        os.sched_setaffinity(0, {DRIVER_CPU})


@contextmanager
def server(scale: int, seed: int, pin: bool, start_timeout: float = 1800) -> Iterator[Server]:
    """The app, the baseline and the floor serving `scale`× data in one subprocess (pinned to its own core)."""
    out = Path(tempfile.mkdtemp(prefix="allmine-bench-"))
    ports = _free_port(), _free_port(), _free_port()
    command = [sys.executable, "-m", "bench.server", "--scale", str(scale), "--seed", str(seed)]
    command += ["--app-port", str(ports[0]), "--baseline-port", str(ports[1]), "--floor-port", str(ports[2])]
    command += ["--out", str(out)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE)
    try:
        if _can_pin(pin):
            os.sched_setaffinity(process.pid, {SERVER_CPU})
        deadline = time.monotonic() + start_timeout
        while not (out / "ready.json").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bench server for scale {scale} did not start")
            time.sleep(0.2)
        ready = json.loads((out / "ready.json").read_text())
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        handle = Server(process, *urls, ready)
        yield handle
    finally:
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout=600)
        except subprocess.TimeoutExpired:
            process.kill()
    if (out / "plans.json").exists():
        handle.plans = json.loads((out / "plans.json").read_text())


async def same_answer(srv: Server, scenario: Scenario) -> tuple[bool, int | None]:
    """The baseline and the floor must answer exactly what the app answers (timestamps aside) to be fair
    references; also how many items the answer lists (None when it is not a list)."""
    call = scenario.make(0)
    answers = []
    async with httpx.AsyncClient(timeout=900) as client:
        for base in (srv.app_url, srv.baseline_url, srv.floor_url):
            response = await client.request(call.method, base + call.path, headers=call.headers)
            answers.append((response.status_code, response.json().get("data")))
    data = answers[0][1]
    listed = data if isinstance(data, list) else data.get("list") if isinstance(data, dict) else None
    same = all(answer == answers[0] for answer in answers) and answers[0][0] == 200
    return same, len(listed) if isinstance(listed, list) else None


async def answer_size(srv: Server, scenario: Scenario) -> int:
    """Bytes of the baseline's answer to the scenario's first request (a write's is one more write)."""
    call = scenario.make(0)
    async with httpx.AsyncClient(timeout=900) as client:
        response = await client.request(
            call.method, srv.baseline_url + call.path, headers=call.headers, json=call.json
        )
    return len(response.content)


def transport_requests(scenario: Scenario, size: int) -> RequestFactory:
    """The scenario's requests (method, headers, body) sent to the baseline server's transport floor,
    which answers `size` constant bytes without calling any service."""

    def make(n: int) -> Call:
        call = scenario.make(n)
        return Call(call.method, f"{TRANSPORT_PATH}/{size}", call.headers, call.json)

    return make


@dataclass
class LoadResult:
    scenario: Scenario
    app: Measurement
    baseline: Measurement | None = None
    floor: Measurement | None = None
    same_answer: bool | None = None
    items: int | None = None  # items in a list answer
    profiles: dict[str, str] = field(default_factory=dict)
    # Constant bytes of the baseline's answer size on the baseline's server, no service call.
    transport: Measurement | None = None
    answer_bytes: int | None = None
    # Every target's measured windows in cycle order (window i of each target ran in the same cycle).
    windows: dict[str, list[Measurement]] = field(default_factory=dict)
    # Where each target's CPU went, from the profiled pass after the measured windows.
    attributions: dict[str, Attribution] = field(default_factory=dict)

    def pair_ratios(self, numerator: str, denominator: str) -> list[float]:
        """Per cycle, `numerator` ÷ `denominator` event-loop CPU per request (windows minutes apart never
        pair: the machine's load hits both sides of each ratio alike)."""
        pairs = zip(self.windows.get(numerator, []), self.windows.get(denominator, []), strict=False)
        return [loop_us(a) / loop_us(b) for a, b in pairs if a.requests and b.requests and b.loop_cpu_seconds]


# The app's window next to the floor's and the baseline's, whose ratios to it are judged; every other
# cycle reversed, so a load rising or falling over two cycles weighs on both sides of a pair alike.
CYCLE_ORDER = ("floor", "app", "baseline", "transport")
MIN_CYCLES = 5  # windows per target at least, for a median of per-cycle ratios
PROFILED = ("app", "baseline", "floor")  # the targets whose CPU the causes of a miss split


def cycle_plan(seconds: float, rounds: int, slice_seconds: float) -> tuple[int, float]:
    """(cycles, window seconds): `rounds × seconds` of measurement per target cut into windows of about
    `slice_seconds`, at least MIN_CYCLES of them."""
    total = seconds * rounds
    cycles = max(MIN_CYCLES, round(total / slice_seconds)) if slice_seconds > 0 else rounds
    return cycles, total / cycles


async def load_test(
    srv: Server,
    *,
    keys: list[str],
    concurrency: int,
    seconds: float,
    warmup: float,
    rounds: int,
    profile_dir: Path | None,
    slice_seconds: float = 0.25,
    attribution: bool = True,
    profile_seconds: float = 1.5,
) -> list[LoadResult]:
    """The chosen scenarios on the app, the baseline, the floor and the transport floor in interleaved
    windows (one window per target per cycle, CYCLE_ORDER forwards then backwards), then a profiled pass
    per target that explains where their CPU went (outside the measured windows)."""
    results = []
    chosen = [s for s in scenarios(srv.ready) if s.key in keys]
    reads = [s for s in chosen if s.read]
    writes = [s for s in chosen if not s.read]  # last: they change the data reads see
    cycles, window = cycle_plan(seconds, rounds, slice_seconds)
    for scenario in reads + writes:
        size = await answer_size(srv, scenario)
        targets = {
            "app": (srv.app_url, scenario.make),
            "baseline": (srv.baseline_url, scenario.make),
            "floor": (srv.floor_url, scenario.make),
            "transport": (srv.baseline_url, transport_requests(scenario, size)),
        }
        runs: dict[str, list[Measurement]] = {name: [] for name in targets}
        clients = {name: connections(url, concurrency) for name, (url, _) in targets.items()}
        try:
            for cycle in range(cycles):
                for name in CYCLE_ORDER if cycle % 2 == 0 else CYCLE_ORDER[::-1]:
                    runs[name].append(
                        await measure(
                            targets[name][0],
                            targets[name][1],
                            concurrency=concurrency,
                            seconds=window,
                            warmup=warmup if cycle == 0 else 0,  # its connections stay open
                            server_pid=srv.process.pid,
                            client=clients[name],
                        )
                    )
            result = LoadResult(
                scenario,
                Measurement.merge(runs["app"]),
                Measurement.merge(runs["baseline"]),
                Measurement.merge(runs["floor"]),
                transport=Measurement.merge(runs["transport"]),
                answer_bytes=size,
                windows=runs,
            )
            if scenario.read:
                result.same_answer, result.items = await same_answer(srv, scenario)
            if attribution or profile_dir is not None:
                await _profile(
                    srv, scenario, targets, clients, concurrency, profile_seconds, profile_dir, result
                )
        finally:
            for client in clients.values():
                await client.aclose()
        print(_progress(result), flush=True)
        results.append(result)
    return results


async def _profile(
    srv: Server,
    scenario: Scenario,
    targets: dict[str, tuple[str, RequestFactory]],
    clients: dict[str, httpx.AsyncClient],
    concurrency: int,
    seconds: float,
    out: Path | None,
    result: LoadResult,
) -> None:
    """An extra, unmeasured pass per profiled target under cProfile (the server's event-loop thread and
    the embedded engine's worker): `result.attributions` and, with `out`, the pstats text files there."""
    directory = out or Path(tempfile.mkdtemp(prefix="allmine-bench-profile-"))
    for name in PROFILED:
        url, make = targets[name]
        path = directory / f"profile-{scenario.key}-{name}.txt"
        srv.send("profile start")
        served = await measure(
            url,
            make,
            concurrency=concurrency,
            seconds=seconds,
            warmup=0,
            server_pid=srv.process.pid,
            client=clients[name],
        )
        srv.send(f"profile stop {path}")
        dump = path.with_suffix(".prof")
        deadline = time.monotonic() + 120
        while not dump.exists():
            if srv.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bench server wrote no profile at {dump}")
            await asyncio.sleep(0.05)
        engine = path.with_name(f"{path.stem}-engine.prof")
        result.attributions[name] = await asyncio.to_thread(
            read_attribution, dump, engine if engine.exists() else None, served.requests
        )
        if out is not None:
            result.profiles[name] = str(path)
    if out is None:
        shutil.rmtree(directory, ignore_errors=True)


def _progress(result: LoadResult) -> str:
    line = (
        f"{result.scenario.title:<42} app {result.app.rps:8.1f} req/s p50 {result.app.percentile(50):8.1f} ms"
    )
    if result.baseline is not None:
        ratio = result.app.rps / result.baseline.rps
        line += f" | baseline {result.baseline.rps:8.1f} req/s | ratio {ratio:.2f}"
    if result.floor is not None:
        line += f" | floor {result.floor.rps:8.1f} req/s"
    if result.baseline is not None and result.transport is not None:
        base, transport = loop_us(result.baseline), loop_us(result.transport)
        line += f" | loop µs: baseline {base:,.0f} = transport {transport:,.0f} + services {base - transport:+,.0f}"
    return line


def loop_us(m: Measurement) -> float:
    """Event-loop CPU per request, µs."""
    return m.per_request_us(m.loop_cpu_seconds)


@dataclass
class CurvePoint:
    scale: int
    join_events: int
    rollup_rows: int
    first_ms: dict[str, float]
    latencies_ms: dict[str, list[float]]  # after the first request


async def curve_point(srv: Server, *, budget_seconds: float, max_requests: int) -> CurvePoint:
    by_key = {s.key: s for s in scenarios(srv.ready)}
    point = CurvePoint(
        srv.ready["scale"], srv.ready["join_events"], srv.ready["counts"]["creator_viewers"], {}, {}
    )
    for key in CURVE_KEYS:
        point.first_ms[key], point.latencies_ms[key] = await sequential(
            srv.app_url, by_key[key].make, budget_seconds=budget_seconds, max_requests=max_requests
        )
        median = statistics.median(point.latencies_ms[key])
        print(
            f"scale {point.scale:>3}: {by_key[key].title:<42} {median:10.1f} ms (first {point.first_ms[key]:.1f} ms)"
        )
    return point
