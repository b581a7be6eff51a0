"""Closed-loop HTTP load over loopback with httpx: fixed concurrency, warm-up, then a measured window.

`concurrency` workers each send one request at a time over their own keep-alive connection. Requests
that complete inside the measured window are counted (throughput) and timed (latency percentiles);
requests still in flight when it closes are awaited but not counted, so the next run starts on an idle
server. The server's CPU time over the window (from /proc) gives CPU per request, the steadiest figure on
a shared machine; the driver's own CPU share tells whether the driver, not the server, was the limit.
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
    driver_cpu_share: float

    @classmethod
    def merge(cls, runs: list["Measurement"]) -> "Measurement":
        """Several runs as one: summed counts and time, pooled latencies, time-weighted driver share."""
        seconds = sum(r.seconds for r in runs)
        return cls(
            requests=sum(r.requests for r in runs),
            errors=sum(r.errors for r in runs),
            seconds=seconds,
            latencies_ms=[latency for r in runs for latency in r.latencies_ms],
            server_cpu_seconds=sum(r.server_cpu_seconds for r in runs),
            driver_cpu_share=sum(r.driver_cpu_share * r.seconds for r in runs) / seconds,
        )

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else float("nan")
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(p) - 1]

    @property
    def server_cpu_us_per_request(self) -> float:
        return self.server_cpu_seconds * 1e6 / self.requests if self.requests else float("nan")


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(
    base_url: str,
    make: RequestFactory,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    server_pid: int,
) -> Measurement:
    numbers = itertools.count()
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    window_start = loop.time() + warmup
    window_end = window_start + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while (started := loop.time()) < window_end:
            call = make(next(numbers))
            response = await client.request(call.method, call.path, headers=call.headers, json=call.json)
            finished = loop.time()
            if window_start <= finished < window_end:
                latencies.append((finished - started) * 1000)
                errors += response.status_code >= 400

    async def cpu_at(when: float) -> tuple[float, float]:
        await asyncio.sleep(when - loop.time())
        return process_cpu_seconds(server_pid), _own_cpu_seconds()

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=900) as client:
        (server0, own0), (server1, own1), *_ = await asyncio.gather(
            cpu_at(window_start), cpu_at(window_end), *(worker(client) for _ in range(concurrency))
        )
    return Measurement(
        requests=len(latencies),
        errors=errors,
        seconds=seconds,
        latencies_ms=latencies,
        server_cpu_seconds=server1 - server0,
        driver_cpu_share=(own1 - own0) / seconds,
    )


async def sequential(
    base_url: str, make: RequestFactory, *, budget_seconds: float, max_requests: int
) -> list[float]:
    """Latencies (ms) of one request at a time, after one warm-up request, within a time budget."""
    async with httpx.AsyncClient(base_url=base_url, timeout=900) as client:

        async def timed(n: int) -> float:
            call = make(n)
            started = time.perf_counter()
            response = await client.request(call.method, call.path, headers=call.headers, json=call.json)
            response.raise_for_status()
            return (time.perf_counter() - started) * 1000

        await timed(0)
        deadline = time.perf_counter() + budget_seconds
        latencies = [await timed(1)]
        while len(latencies) < max_requests and time.perf_counter() < deadline:
            latencies.append(await timed(len(latencies) + 1))
        return latencies
