"""`make bench`'s item-4 line: a whole-suite run records its time (tests/run_record.py), the bench judges it
(bench/suite.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.suite import SUITE_TARGET_SECONDS, suite_line
from tests.run_record import PROFILE_KNOBS

ROOT = Path(__file__).resolve().parent.parent


def _record(seconds: float) -> dict[str, object]:
    return {
        "finishedAt": "2026-12-06T16:00:00Z",
        "seconds": seconds,
        "passed": 1655,
        "workers": 2,
        "cpuSeconds": 160.0,
        "secondsByFile": {
            "tests/money/test_a.py": 60.0,
            "tests/money/test_b.py": 30.0,
            "tests/browser/test_docs.py": 20.0,
            "tests/test_cli.py": 5.0,
            "tests/realtime/test_x.py": 1.0,
        },
        "slowest": [
            ["tests/browser/test_docs.py::test_playground", 12.3],
            ["tests/test_cli.py::test_run", 4.0],
        ],
    }


def test_a_run_over_the_target_is_missed_with_where_its_time_went(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(_record(125.0)))
    line = suite_line(path)
    assert line.startswith(f"❌ missed: make test 125.0 s of pytest time (target ≤ {SUITE_TARGET_SECONDS} s;")
    assert (
        "cause: 116 s of test time on 2 worker(s): tests/money 90 s, tests/browser 20 s, tests/test_cli.py 5 s;"
        in line
    )
    assert "slowest tests test_playground 12.3 s, test_run 4.0 s; 160 s of CPU, 1.3 cores busy" in line


def test_a_run_within_the_target_is_met_and_no_record_is_not_judged(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(_record(SUITE_TARGET_SECONDS)))
    assert suite_line(path).startswith("✅ met: make test 75.0 s of pytest time")
    assert suite_line(tmp_path / "none.json").startswith("➖ not judged:")


def _inner_run(project: Path, record: Path, *args: str) -> None:
    env = {
        **os.environ,
        "TEST_RUN_RECORD": str(record),
        "PYTHONPATH": str(ROOT),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    for knob in PROFILE_KNOBS:  # a run with any of them set is not recorded
        env.pop(knob, None)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )


def test_only_a_whole_default_suite_run_is_recorded(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "t").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["t"]\n')
    (project / "conftest.py").write_text('pytest_plugins = ["tests.run_record"]\n')
    (project / "t" / "test_inner.py").write_text("def test_one():\n    pass\n\n\ndef test_two():\n    pass\n")
    record = tmp_path / "var" / "run.json"
    _inner_run(project, record, "-k", "one")
    _inner_run(project, record, "t/test_inner.py")
    assert not record.exists()  # a selection is not the suite
    _inner_run(project, record)
    written = json.loads(record.read_text())
    assert written["passed"] == 2
    assert set(written["secondsByFile"]) == {"t/test_inner.py"}
    assert "2 passed" in suite_line(record)
