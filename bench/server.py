"""The benchmarked server process: the real app, the bare Starlette baseline and the FastAPI floor side by side.

One process, one event loop (uvloop when installed, as uvicorn picks it), three uvicorn servers on three
loopback ports sharing the app's database handle: the app's lifespan loads the dataset into whichever
engine is configured (the embedded engine lives in this process), then the baseline and the floor start
on top.

    python -m bench.server --scale 1 --app-port 8101 --baseline-port 8102 --floor-port 8103 --out DIR

When both listen it writes DIR/ready.json (dataset counts, fixture ids, tokens). It reads commands on
stdin: `profile start` and `profile stop PATH` (cProfile of the event-loop thread's CPU time, written to
PATH as pstats text and next to it as a pstats dump with the suffix `.prof`; with the embedded engine on
its worker thread, that thread's profile goes to PATH with `-engine` before the suffix, written first). End of input shuts it down (and, on a real MongoDB, writes DIR/plans.json and
drops the bench database).
"""

import argparse
import asyncio
import cProfile
import gc
import io
import json
import pstats
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from bson import ObjectId
from fastapi import FastAPI

from app.core.config import Settings
from app.core.embedded import _Worker
from app.core.security import create_access_token
from app.core.timeutils import utcnow
from app.main import background_jobs, create_app
from bench.baseline import create_baseline_app
from bench.dataset import build, database_name, load
from bench.floor import create_floor_app
from bench.plans import explain_all, plans_to_json, record_commands, run_background_jobs_once


def bench_settings(scale: int) -> Settings:
    """The configured engine (`MONGODB_URL` or embedded) with a bench database and no side work.

    Background tasks are off, so nothing refreshes the most-watched snapshot as the ranking job does in
    production; a long maximum age stands in for it (the request that finds no snapshot computes it: the
    scale curves show that first request apart), instead of a recomputation inside some timed runs.
    """
    return Settings(
        app_env="development",
        mongodb_db=database_name(scale),
        seed_demo=False,
        background_tasks=False,
        ranking_max_age_seconds=24 * 3600,
        log_level="WARNING",
        log_json=False,
        media_dir=tempfile.mkdtemp(prefix="allmine-bench-media-"),
    )


def create_bench_app(settings: Settings, scale: int, seed: int, out: Path) -> FastAPI:
    """`create_app(settings)` whose lifespan also loads the dataset and mints the driver's tokens."""
    recorder = None if settings.uses_embedded_db else record_commands()
    app = create_app(settings)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            started = time.perf_counter()
            dataset = build(scale, seed)
            built = time.perf_counter()
            await load(app.state.db, dataset)
            fixtures = dataset.fixtures
            users = [fixtures.fan, fixtures.guest, *fixtures.actors]
            app.state.bench = {
                "engine": "embedded" if settings.uses_embedded_db else "mongodb",
                "scale": scale,
                "join_events": dataset.join_events,
                "counts": dataset.counts(),
                "build_seconds": round(built - started, 2),
                "load_seconds": round(time.perf_counter() - built, 2),
                "fixtures": vars(fixtures),
                "tokens": {user: create_access_token(settings, ObjectId(user)) for user in users},
            }
            del dataset  # the engine holds its own copy
            # The loaded data set is start-up state, as what the app froze before it: out of the
            # collector's reach, so a full collection (~5 ms over the data set's objects at 1×) does not
            # land in one measured window and not in the next.
            gc.collect()
            gc.freeze()
            yield
            if recorder is not None:
                await run_background_jobs_once(background_jobs(app, settings), utcnow)  # their plans too
                plans = await explain_all(app.state.db, recorder)
                (out / "plans.json").write_text(json.dumps(plans_to_json(plans), indent=1))
                await app.state.mongo_client.drop_database(settings.mongodb_db)

    app.router.lifespan_context = lifespan
    return app


async def _start(app: Any, port: int, lifespan: str) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan=lifespan,
        access_log=False,
        log_level="warning",
        ws="none",
        timeout_keep_alive=120,  # the driver's connections to one target idle while it measures the others
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            raise SystemExit(f"server on port {port} failed to start")
        await asyncio.sleep(0.05)
    return server, task


def _stats_text(profiler: cProfile.Profile) -> str:
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    return text.getvalue()


def _write(profiler: cProfile.Profile, path: Path) -> None:
    """The profile as pstats text at `path` and as a pstats dump next to it (`.prof`, for
    bench.attribution), the dump renamed into place once complete."""
    path.write_text(_stats_text(profiler))
    partial = path.with_suffix(".prof.partial")
    profiler.dump_stats(partial)
    partial.rename(path.with_suffix(".prof"))


async def _control(servers: list[uvicorn.Server], engine: Any) -> None:
    """`engine`: the embedded engine's worker thread (its `run` executes a call there), else None."""
    loop = asyncio.get_running_loop()
    profiler = engine_profiler = None
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command, _, argument = line.strip().partition(" ")
        if command == "profile" and argument == "start":
            profiler = cProfile.Profile(time.thread_time)  # on-CPU time of the event-loop thread only
            profiler.enable()
            if engine is not None:  # cProfile hooks the thread that enables it: enabled on the worker
                engine_profiler = cProfile.Profile(time.thread_time)
                await engine.run(engine_profiler.enable)
        elif command == "profile" and argument.startswith("stop ") and profiler is not None:
            profiler.disable()
            path = Path(argument.removeprefix("stop "))
            if engine_profiler is not None:
                await engine.run(engine_profiler.disable)
                engine_path = path.with_name(f"{path.stem}-engine{path.suffix}")
                await asyncio.to_thread(_write, engine_profiler, engine_path)
            await asyncio.to_thread(_write, profiler, path)  # last: its .prof tells the driver both are there
            profiler = engine_profiler = None
    for server in servers:
        server.should_exit = True


async def serve(scale: int, seed: int, app_port: int, baseline_port: int, floor_port: int, out: Path) -> None:
    app = create_bench_app(bench_settings(scale), scale, seed, out)
    app_server, app_task = await _start(app, app_port, "on")
    baseline_server, baseline_task = await _start(create_baseline_app(app), baseline_port, "off")
    floor_server, floor_task = await _start(create_floor_app(app), floor_port, "off")
    ready = out / "ready.json"
    ready.with_suffix(".tmp").write_text(json.dumps(app.state.bench))
    ready.with_suffix(".tmp").rename(ready)
    worker = getattr(app.state.mongo_client, "_worker", None)  # the embedded engine's
    engine = worker if isinstance(worker, _Worker) else None
    await _control([floor_server, baseline_server, app_server], engine)
    await asyncio.gather(floor_task, baseline_task, app_task)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the app and the baseline for the benchmark")
    parser.add_argument("--scale", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--app-port", type=int, required=True)
    parser.add_argument("--baseline-port", type=int, required=True)
    parser.add_argument("--floor-port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    loop_factory = uvicorn.Config(app=None).get_loop_factory()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(args.scale, args.seed, args.app_port, args.baseline_port, args.floor_port, args.out))


if __name__ == "__main__":
    main()
