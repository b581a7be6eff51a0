"""Drive the server process: start it, run the load test against app and baseline, measure scale curves."""

import json
import os
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

from bench.driver import Measurement, measure, sequential
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


@dataclass
class LoadResult:
    scenario: Scenario
    app: Measurement
    baseline: Measurement | None = None
    floor: Measurement | None = None
    same_answer: bool | None = None
    items: int | None = None  # items in a list answer
    profiles: dict[str, str] = field(default_factory=dict)


async def load_test(
    srv: Server,
    *,
    keys: list[str],
    concurrency: int,
    seconds: float,
    warmup: float,
    rounds: int,
    profile_dir: Path | None,
) -> list[LoadResult]:
    """The chosen scenarios on the app, the baseline and the floor, rotating which goes first per round."""
    results = []
    chosen = [s for s in scenarios(srv.ready) if s.key in keys]
    reads = [s for s in chosen if s.read]
    writes = [s for s in chosen if not s.read]  # last: they change the data reads see
    for scenario in reads + writes:
        targets = {"app": srv.app_url, "baseline": srv.baseline_url, "floor": srv.floor_url}
        runs: dict[str, list[Measurement]] = {name: [] for name in targets}
        names = list(targets)
        for round_ in range(rounds):
            shift = round_ % len(names)
            order = names[shift:] + names[:shift]
            for name in order:
                runs[name].append(
                    await measure(
                        targets[name],
                        scenario.make,
                        concurrency=concurrency,
                        seconds=seconds,
                        warmup=warmup,
                        server_pid=srv.process.pid,
                    )
                )
        result = LoadResult(
            scenario,
            Measurement.merge(runs["app"]),
            Measurement.merge(runs["baseline"]),
            Measurement.merge(runs["floor"]),
        )
        if scenario.read:
            result.same_answer, result.items = await same_answer(srv, scenario)
        if profile_dir is not None:
            result.profiles = await _profile(srv, scenario, targets, concurrency, seconds, profile_dir)
        print(_progress(result), flush=True)
        results.append(result)
    return results


async def _profile(
    srv: Server, scenario: Scenario, targets: dict[str, str], concurrency: int, seconds: float, out: Path
) -> dict[str, str]:
    """An extra, unmeasured run per target under cProfile (event-loop thread of the server)."""
    paths = {}
    for name, url in targets.items():
        path = out / f"profile-{scenario.key}-{name}.txt"
        srv.send("profile start")
        await measure(
            url, scenario.make, concurrency=concurrency, seconds=seconds, warmup=0, server_pid=srv.process.pid
        )
        srv.send(f"profile stop {path}")
        paths[name] = str(path)
    return paths


def _progress(result: LoadResult) -> str:
    line = (
        f"{result.scenario.title:<42} app {result.app.rps:8.1f} req/s p50 {result.app.percentile(50):8.1f} ms"
    )
    if result.baseline is not None:
        ratio = result.app.rps / result.baseline.rps
        line += f" | baseline {result.baseline.rps:8.1f} req/s | ratio {ratio:.2f}"
    if result.floor is not None:
        line += f" | floor {result.floor.rps:8.1f} req/s"
    return line


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
