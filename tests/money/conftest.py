"""The money harness prints how many schedules each scenario ran (issue 11: "report how many")."""

from typing import Any

from tests.money.harness import REPORTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORTS:
        return
    terminalreporter.section("money harness")
    for report in REPORTS:
        terminalreporter.write_line(f"money harness: {report.summary()}")
    total = sum(r.total for r in REPORTS)
    seconds = sum(r.seconds for r in REPORTS)
    terminalreporter.write_line(f"money harness: {total} schedules in {seconds:.1f}s")
