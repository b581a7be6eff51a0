"""`python -m bench`: load test (app vs Starlette baseline vs FastAPI floor), scale curves and the report, in one command.

Never part of the test suite. The defaults finish in a few minutes on the 2-core dev machine; add
`--scales 1,10,100` for the full curve on the embedded engine (several more minutes: see
docs/benchmarks.md).
"""

import argparse
import asyncio
import shlex
import sys
from pathlib import Path

from app.core.config import Settings
from bench.report import Run, collscans, now, target_lines, write_all
from bench.runner import CurvePoint, LoadResult, curve_point, load_test, pin_driver, server
from bench.scenarios import KEYS
from bench.suite import suite_line

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=8, help="load-test connections (default 8)")
    parser.add_argument("--seconds", type=float, default=5, help="measured seconds per run (default 5)")
    parser.add_argument("--warmup", type=float, default=1, help="warm-up seconds per run (default 1)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="multiplies the measured seconds per target (default 1)"
    )
    parser.add_argument(
        "--slice",
        type=float,
        default=0.25,
        help="seconds per interleaved window: each target's measured time is cut into windows of about this "
        "length, taken in turns with the other targets (default 0.25; at least 5 windows per target)",
    )
    parser.add_argument(
        "--profile-seconds",
        type=float,
        default=1.5,
        help="length of the profiled pass per target after its windows (default 1.5)",
    )
    parser.add_argument(
        "--no-attribution",
        dest="attribution",
        action="store_false",
        help="skip the profiled passes (a missed target then names no cause)",
    )
    parser.add_argument("--load-scale", type=int, default=1, help="data scale of the load test (default 1)")
    parser.add_argument(
        "--scales",
        help="scale-curve points, 1 unit = 10k join events (default 1,10,100 on MongoDB; 1,10 on the embedded "
        "engine, where the 100x point alone takes several minutes)",
    )
    parser.add_argument(
        "--curve-seconds", type=float, default=10, help="time budget per curve point (default 10)"
    )
    parser.add_argument(
        "--curve-requests", type=int, default=20, help="max requests per curve point (default 20)"
    )
    parser.add_argument(
        "--endpoints", default=",".join(KEYS), help=f"load-test scenarios (default {','.join(KEYS)})"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="keep the profiled passes' pstats (text and .prof, event loop and engine thread) in bench/results/",
    )
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin server and driver to cores"
    )
    parser.add_argument("--skip-load", action="store_true", help="scale curves only")
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="Socket.IO chat fan-out only: app vs bare python-socketio emit",
    )
    parser.add_argument("--sockets", type=int, default=200, help="fan-out sockets in the room (default 200)")
    parser.add_argument(
        "--realtime-seconds", type=float, default=4, help="fan-out send window per target (default 4)"
    )
    parser.add_argument(
        "--realtime-interval", type=float, default=0.1, help="seconds between chat messages (default 0.1)"
    )
    parser.add_argument(
        "--no-realtime-target",
        dest="realtime_target",
        action="store_false",
        help="skip the realtime fan-out run that ends the default run (its target is printed with the others)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    if args.scales is None:
        args.scales = "1,10" if Settings().uses_embedded_db else "1,10,100"
    args.scales = sorted({int(s) for s in args.scales.split(",") if s})
    args.endpoints = [key for key in args.endpoints.split(",") if key]
    if unknown := set(args.endpoints) - set(KEYS):
        parser.error(f"unknown endpoints: {', '.join(sorted(unknown))}")
    return args


async def run(args: argparse.Namespace) -> Run:
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    started = now()
    load: list[LoadResult] = []
    curve: list[CurvePoint] = []
    plans = {}
    ready = {}
    scales = [args.load_scale, *(s for s in args.scales if s != args.load_scale)]
    for scale in scales:
        with server(scale, args.seed, args.pin) as srv:
            print(
                f"scale {scale}×: {srv.ready['join_events']:,} join events, built in "
                f"{srv.ready['build_seconds']} s, loaded in {srv.ready['load_seconds']} s",
                flush=True,
            )
            if scale in args.scales:  # before the load test: its writes add joins and fundings
                curve.append(
                    await curve_point(
                        srv, budget_seconds=args.curve_seconds, max_requests=args.curve_requests
                    )
                )
            if scale == args.load_scale:
                ready = srv.ready
                if not args.skip_load:
                    load = await load_test(
                        srv,
                        keys=args.endpoints,
                        concurrency=args.concurrency,
                        seconds=args.seconds,
                        warmup=args.warmup,
                        rounds=args.rounds,
                        profile_dir=results_dir if args.profile else None,
                        slice_seconds=args.slice,
                        attribution=args.attribution,
                        profile_seconds=args.profile_seconds,
                    )
        if srv.plans:
            plans[scale] = srv.plans
    curve.sort(key=lambda point: point.scale)
    options = {k: v for k, v in vars(args).items() if k != "output"}
    command = "python -m bench" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    return Run(command, started, options, ready, load, curve, plans, suite_line())


def main() -> None:
    args = parse_args(sys.argv[1:])
    if args.realtime:
        from bench import realtime

        realtime.main(args.sockets, args.realtime_seconds, args.realtime_interval)
        return
    pin_driver(args.pin)
    result = asyncio.run(run(args))
    write_all(result, args.output, ROOT / "bench" / "results")
    print(f"wrote {args.output} and {args.output.with_name('benchmarks-scale.png')}")
    lines = [*target_lines(result), result.suite]
    if args.realtime_target:  # a fresh process pair after the load servers have exited
        from bench import realtime

        results, ratio = realtime.measure(args.sockets, args.realtime_seconds, args.realtime_interval)
        lines.append(realtime.target_line(args.sockets, ratio, results))
    print("\ntargets (issues 16 and 25):", *lines, sep="\n  ")
    missing = collscans(result.plans)
    if missing:
        sys.exit("queries without an index:\n  " + "\n  ".join(missing))


if __name__ == "__main__":
    main()
