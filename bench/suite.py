"""Issue 25 item 4, `make test` ≤ 75 s of pytest time, judged from the last whole-suite run's record
(`var/test-run.json`, written by tests/run_record.py): the bench does not run the suite itself, it reads
what the suite measured, and names where its time went."""

import json
from pathlib import Path
from typing import Any

SUITE_TARGET_SECONDS = 75
RECORD = Path(__file__).resolve().parent.parent / "var" / "test-run.json"
AREAS = 3  # areas of the suite named in the cause
SLOWEST = 2  # single tests named in the cause


def _area(path: str) -> str:
    """A test file's area: its folder under tests/ (`tests/money`), or the file itself at the top."""
    parts = path.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else path


def suite_cause(record: dict[str, Any]) -> str:
    by_area: dict[str, float] = {}
    for path, seconds in record["secondsByFile"].items():
        by_area[_area(path)] = by_area.get(_area(path), 0.0) + seconds
    total = sum(by_area.values())
    areas = sorted(by_area.items(), key=lambda item: item[1], reverse=True)[:AREAS]
    named = ", ".join(f"{area} {seconds:,.0f} s" for area, seconds in areas)
    slowest = ", ".join(
        f"{nodeid.split('::')[-1]} {seconds:.1f} s" for nodeid, seconds in record["slowest"][:SLOWEST]
    )
    workers = max(record["workers"], 1)
    busy = record["cpuSeconds"] / record["seconds"] if record["seconds"] else 0.0
    return (
        f"{total:,.0f} s of test time on {workers} worker(s): {named}; slowest tests {slowest}; "
        f"{record['cpuSeconds']:,.0f} s of CPU, {busy:.1f} cores busy on average"
    )


def suite_line(record_path: Path = RECORD) -> str:
    """The item-4 verdict line, or why there is none."""
    try:
        record = json.loads(record_path.read_text())
    except FileNotFoundError:
        return f"➖ not judged: make test ≤ {SUITE_TARGET_SECONDS} s (no whole-suite run recorded in {record_path.name}; run `make test`)"
    seconds = record["seconds"]
    text = (
        f"make test {seconds:,.1f} s of pytest time (target ≤ {SUITE_TARGET_SECONDS} s; {record['passed']:,} passed, "
        f"recorded {record['finishedAt']})"
    )
    if seconds <= SUITE_TARGET_SECONDS:
        return f"✅ met: {text}"
    return f"❌ missed: {text} — cause: {suite_cause(record)}"
