"""A whole-suite run leaves its time in `var/test-run.json`, which `make bench` judges (issue 25 item 4:
`make test` ≤ 75 s of pytest time) and explains (where the test time went).

A plugin registered by the root conftest (`pytest_plugins`), so the xdist controller has the hooks too.
Only a run of the whole default suite is recorded: no file or node arguments, no `-k`/`-m`, none of the
profile knobs that deepen or trim it (`MONEY_POINTS`, ...), and every test passed. Each worker hands the
controller its process CPU (`workeroutput`); the controller sums every test's setup, call and teardown
time per file from the reports it receives.
"""

import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from bench.suite import RECORD as DEFAULT_RECORD

# TEST_RUN_RECORD: another file (tests/test_bench_suite.py records an inner run there)
RECORD = Path(os.environ.get("TEST_RUN_RECORD") or DEFAULT_RECORD)
# Environment variables that change what `make test` runs: a run with any of them set is not recorded.
PROFILE_KNOBS = (
    "MONEY_POINTS",
    "MONEY_SAMPLE",
    "FUZZ_MAX_EXAMPLES",
    "INDEX_MAX_EXAMPLES",
    "MONGODB_TEST_URL",
)

_started = time.perf_counter()
_seconds_by_file: defaultdict[str, float] = defaultdict(float)
_slowest: list[tuple[float, str]] = []
_worker_cpu: list[float] = []
_passed = 0


def _whole_default_suite(config: pytest.Config) -> bool:
    return (
        config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not config.option.keyword
        and not config.option.markexpr
        and not any(os.environ.get(knob) for knob in PROFILE_KNOBS)
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    global _started
    _started = time.perf_counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _passed
    _seconds_by_file[report.nodeid.split("::")[0]] += report.duration
    if report.when == "call":
        _passed += report.passed
        _slowest.append((report.duration, report.nodeid))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    cpu = getattr(node, "workeroutput", {}).get("process_cpu")
    if cpu is not None:
        _worker_cpu.append(cpu)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller records
        workeroutput["process_cpu"] = time.process_time()
        return
    if exitstatus != 0 or not _passed or not _whole_default_suite(session.config):
        return
    workers = len(_worker_cpu)
    record = {
        "finishedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.perf_counter() - _started, 1),
        "passed": _passed,
        "workers": workers,
        "cpuSeconds": round(sum(_worker_cpu) + time.process_time(), 1),
        "secondsByFile": {name: round(s, 2) for name, s in sorted(_seconds_by_file.items())},
        "slowest": [[nodeid, round(s, 2)] for s, nodeid in sorted(_slowest, reverse=True)[:5]],
    }
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    RECORD.write_text(json.dumps(record, indent=1) + "\n")
