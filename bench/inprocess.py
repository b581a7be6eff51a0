"""App ÷ FastAPI floor event-loop CPU per request, measured in one process and interleaved (issue 25 item 2).

    python -m bench.inprocess                                  # every scenario, 12 rounds of 50 requests
    python -m bench.inprocess --endpoints detail,join --rounds 20 --batch 50
    python -m bench.inprocess --endpoints detail --profile app # cProfile of the app's loop thread only

The app (`bench.server.create_bench_app`, the bench dataset loaded by its lifespan) and the FastAPI floor
(`bench.floor`) run in this process on one dataset; requests are ASGI calls straight into each app (no
HTTP server, no sockets), `--concurrency` at a time. Each round sends `--batch` requests to the app and
`--batch` to the floor, alternating which goes first, and reads the event-loop thread's CPU
(`time.thread_time()`: the embedded engine's worker thread is not counted, as `make bench` reads the
loop thread apart). The figure is the **median of the per-round app ÷ floor ratios**: whatever else the
shared machine runs hits both sides of a ratio alike, where two separate runs minutes apart swing by
±20 %. Without the HTTP server's work (~200–400 µs per request in the bench) the ratios are somewhat
higher than `make bench`'s: read them as a bound from above.

Not part of the test suite; prints a table (and `--json PATH` writes the raw rounds).
"""

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import uvicorn

from bench.driver import Call
from bench.floor import create_floor_app
from bench.scenarios import FLOOR_TARGET, KEYS, Scenario, scenarios
from bench.server import bench_settings, create_bench_app

Asgi = Callable[..., Any]


def _scope(call: Call) -> tuple[dict[str, Any], bytes]:
    path, _, query = call.path.partition("?")
    body = orjson.dumps(call.json) if call.json is not None else b""
    headers = [(b"host", b"bench"), (b"accept", b"*/*"), (b"user-agent", b"bench-inprocess")]
    headers += [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in call.headers.items()
    ]
    if call.json is not None:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": call.method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    return scope, body


async def call_asgi(app: Asgi, call: Call) -> tuple[int, bytes]:
    """One request into `app`: its status and body."""
    scope, body = _scope(call)
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # no disconnect while the request runs
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _batch(app: Asgi, scenario: Scenario, start: int, count: int, concurrency: int) -> float:
    """Loop-thread CPU seconds per request over `count` requests, `concurrency` at a time."""
    queue = iter(range(start, start + count))
    failures: list[tuple[int, bytes]] = []

    async def worker() -> None:
        for n in queue:
            status, body = await call_asgi(app, scenario.make(n))
            if status != 200:
                failures.append((status, body[:300]))

    begun = time.thread_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    spent = time.thread_time() - begun
    if failures:
        raise SystemExit(f"{scenario.key}: {len(failures)} answers were not 200, e.g. {failures[0]}")
    return spent / count


async def measure(
    targets: dict[str, Asgi], chosen: list[Scenario], rounds: int, batch: int, warmup: int, concurrency: int
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    counter = 0
    for scenario in chosen:
        for app in targets.values():
            await _batch(app, scenario, counter, warmup, concurrency)
            counter += warmup
        per_round: list[dict[str, float]] = []
        for round_ in range(rounds):
            order = list(targets) if round_ % 2 == 0 else list(reversed(targets))
            spent: dict[str, float] = {}
            for name in order:
                spent[name] = await _batch(targets[name], scenario, counter, batch, concurrency)
                counter += batch
            per_round.append(spent)
        ratios = [r["app"] / r["floor"] for r in per_round]
        results[scenario.key] = {
            "title": scenario.title,
            "ratio": statistics.median(ratios),
            "app_us": statistics.median(r["app"] for r in per_round) * 1e6,
            "floor_us": statistics.median(r["floor"] for r in per_round) * 1e6,
            "rounds": per_round,
        }
        line = results[scenario.key]
        print(
            f"{scenario.title:<42} app {line['app_us']:7.0f} µs  floor {line['floor_us']:7.0f} µs  "
            f"app ÷ floor {line['ratio']:.2f} {'✅' if line['ratio'] <= FLOOR_TARGET else '❌'}",
            flush=True,
        )
    return results


async def profile(target: Asgi, scenario: Scenario, count: int, concurrency: int, out: Path | None) -> None:
    await _batch(target, scenario, 0, 50, concurrency)
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    await _batch(target, scenario, 50, count, concurrency)
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(50)
    if out is not None:
        await asyncio.to_thread(out.write_text, text.getvalue())
        profiler.dump_stats(out.with_suffix(".prof"))  # for pstats / a diff against the other target
        print(f"profile written to {out} (and {out.with_suffix('.prof').name})")
    else:
        print(text.getvalue())


async def run(args: argparse.Namespace) -> None:
    settings = bench_settings(args.scale)
    app = create_bench_app(
        settings, args.scale, args.seed, Path(tempfile.mkdtemp(prefix="allmine-inprocess-"))
    )
    async with app.router.lifespan_context(app):
        floor = create_floor_app(app)
        everything = {s.key: s for s in scenarios(app.state.bench)}
        keys = args.endpoints.split(",") if args.endpoints else list(KEYS)
        unknown = [key for key in keys if key not in everything]
        if unknown:
            raise SystemExit(f"unknown endpoints {unknown}; known: {', '.join(KEYS)}")
        chosen = [everything[key] for key in keys]
        targets: dict[str, Asgi] = {"app": app, "floor": floor}
        if args.profile:
            for scenario in chosen:
                out = (
                    Path(args.profile_out) / f"{args.profile}-{scenario.key}.txt"
                    if args.profile_out
                    else None
                )
                await profile(
                    targets[args.profile], scenario, args.batch * args.rounds, args.concurrency, out
                )
            return
        results = await measure(targets, chosen, args.rounds, args.batch, args.warmup, args.concurrency)
        if args.json:
            await asyncio.to_thread(Path(args.json).write_text, json.dumps(results, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--endpoints", help=f"comma-separated, of {', '.join(KEYS)} (default all)")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--batch", type=int, default=50, help="requests per target per round")
    parser.add_argument("--warmup", type=int, default=30, help="requests per target before the rounds")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--profile", choices=("app", "floor"), help="profile this target instead of measuring"
    )
    parser.add_argument("--profile-out", help="directory for the profiles (default: print them)")
    parser.add_argument("--json", help="write every round's figures here")
    args = parser.parse_args()
    loop_factory = uvicorn.Config(
        app=None
    ).get_loop_factory()  # uvloop when installed, as the bench's servers
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(run(args))


if __name__ == "__main__":
    main()
