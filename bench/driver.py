"""Closed-loop HTTP load over loopback with httpx: fixed concurrency, warm-up, then a measured window.

`concurrency` workers each send one request at a time over their own keep-alive connection. A measured
window starts with no request in flight (after the warm-up's last answers came back), sends requests for
its duration, then lets the ones in flight finish: every request sent in it is counted (throughput) and
timed (latency percentiles), and the CPU read from /proc at its two ends is exactly theirs. (A window
cutting through requests in flight counts some of their CPU and not others: up to one request per
connection at each end, ~10 % of a one-second window at 100 req/s.) The window is stretched until it
holds at least two answers per connection (slow endpoints).

The server's CPU time over the window (from /proc) gives CPU per request, the steadiest figure on a
shared machine, split into the event-loop thread (framework, handlers, encoding) and the rest (the
embedded engine's worker thread, the thread pool). The driver's own CPU share tells whether the driver,
not the server, was the limit.
"""

import asyncio
import itertools
import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    json: dict | None = None


RequestFactory = Callable[[int], Call]  # the n-th request of a run


@dataclass(frozen=True)
class Measurement:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    server_cpu_seconds: float
    loop_cpu_seconds: float
    driver_cpu_share: float

    @classmethod
    def merge(cls, runs: list["Measurement"]) -> "Measurement":
        """Several runs as one: summed counts and times, pooled latencies, time-weighted driver share."""
        seconds = sum(r.seconds for r in runs)
        return cls(
            requests=sum(r.requests for r in runs),
            errors=sum(r.errors for r in runs),
            seconds=seconds,
            latencies_ms=[latency for r in runs for latency in r.latencies_ms],
            server_cpu_seconds=sum(r.server_cpu_seconds for r in runs),
            loop_cpu_seconds=sum(r.loop_cpu_seconds for r in runs),
            driver_cpu_share=sum(r.driver_cpu_share * r.seconds for r in runs) / seconds,
        )

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else float("nan")
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(p) - 1]

    def per_request_us(self, cpu_seconds: float) -> float:
        return cpu_seconds * 1e6 / self.requests if self.requests else float("nan")


def _ticks(stat_path: str) -> float:
    fields = Path(stat_path).read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def server_cpu_seconds(pid: int) -> tuple[float, float]:
    """(whole process, main thread = the event loop) CPU seconds so far; the thread's in nanoseconds."""
    loop_ns = int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[0])
    return _ticks(f"/proc/{pid}/stat"), loop_ns / 1e9


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _send(client: httpx.AsyncClient, call: Call) -> httpx.Response:
    return await client.request(call.method, call.path, headers=call.headers, json=call.json)


async def measure(
    base_url: str,
    make: RequestFactory,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    server_pid: int,
    client: httpx.AsyncClient | None = None,
) -> Measurement:
    """One measured window on `base_url` (or on `client`, whose open connections a series of windows
    reuses), after `warmup` seconds of the same load."""
    if client is None:
        async with connections(base_url, concurrency) as own:
            return await measure(
                base_url,
                make,
                concurrency=concurrency,
                seconds=seconds,
                warmup=warmup,
                server_pid=server_pid,
                client=own,
            )
    numbers = itertools.count()
    loop = asyncio.get_running_loop()

    async def load(duration: float, latencies: list[float], minimum: int) -> int:
        """`concurrency` workers until `duration` has passed and `minimum` answers came back, then every
        request in flight finishes: the errors among the answers."""
        deadline = loop.time() + duration
        errors = 0

        async def worker() -> None:
            nonlocal errors
            while loop.time() < deadline or len(latencies) < minimum:
                started = loop.time()
                response = await _send(client, make(next(numbers)))
                latencies.append((loop.time() - started) * 1000)
                errors += response.status_code >= 400

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return errors

    if warmup > 0:
        await load(warmup, [], 0)
    latencies: list[float] = []
    started = loop.time()
    (process0, loop0), own0 = server_cpu_seconds(server_pid), _own_cpu_seconds()
    errors = await load(seconds, latencies, 2 * concurrency)
    (process1, loop1), own1 = server_cpu_seconds(server_pid), _own_cpu_seconds()
    elapsed = loop.time() - started
    return Measurement(
        len(latencies),
        errors,
        elapsed,
        latencies,
        process1 - process0,
        loop1 - loop0,
        (own1 - own0) / elapsed,
    )


def connections(base_url: str, concurrency: int) -> httpx.AsyncClient:
    """A client keeping `concurrency` keep-alive connections to `base_url`."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=1800)


async def sequential(
    base_url: str, make: RequestFactory, *, budget_seconds: float, max_requests: int
) -> tuple[float, list[float]]:
    """One request at a time: (the first request's latency, those of the next ones) in ms.

    The first request pays whatever is cold (a ranking computed on demand, caches); the next ones run
    until the time budget or `max_requests` is reached, at least one.
    """
    async with httpx.AsyncClient(base_url=base_url, timeout=1800) as client:

        async def timed(n: int) -> float:
            started = time.perf_counter()
            (await _send(client, make(n))).raise_for_status()
            return (time.perf_counter() - started) * 1000

        first = await timed(0)
        deadline = time.perf_counter() + budget_seconds
        latencies = [await timed(1)]
        while len(latencies) < max_requests and time.perf_counter() < deadline:
            latencies.append(await timed(len(latencies) + 1))
        return first, latencies
