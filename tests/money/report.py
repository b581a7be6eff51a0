"""The money harness prints how many schedules each scenario ran (issue 11: "report how many").

A plugin registered by the root conftest (`pytest_plugins`), so the xdist controller - which collects
nothing itself - has the hooks too.

Under pytest-xdist the scenarios run in the workers: each worker hands its lines to the controller
(`workeroutput`), which prints them with its own summary.
"""

from typing import Any

import pytest

from tests.money.harness import REPORTS

# (summary line, schedules, seconds) from every finished xdist worker
FROM_WORKERS: list[tuple[str, int, float]] = []


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # this process is an xdist worker
        workeroutput["money_harness"] = [(r.summary(), r.total, r.seconds) for r in REPORTS]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    FROM_WORKERS.extend(getattr(node, "workeroutput", {}).get("money_harness", []))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = [(r.summary(), r.total, r.seconds) for r in REPORTS] + FROM_WORKERS
    if not lines:
        return
    terminalreporter.section("money harness")
    for summary, _, _ in lines:
        terminalreporter.write_line(f"money harness: {summary}")
    total = sum(schedules for _, schedules, _ in lines)
    seconds = sum(elapsed for _, _, elapsed in lines)
    terminalreporter.write_line(f"money harness: {total} schedules in {seconds:.1f}s")
