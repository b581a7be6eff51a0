"""`make mutate`'s closing summary: the mutation score per money module, from mutmut's result files.

    python -m tests.money.mutation_score [mutants-dir]
    python -m tests.money.mutation_score --write-docs   (the verdict table of docs/money.md)

Killed = a test of tests/money failed (or timed out: a mutant that hangs a flow is caught too);
survived = every selected test passed; "no tests" = no test of tests/money runs that function (counted
as a survivor: the money tests do not reach it). Survivors are listed by name for `mutmut show NAME`.
The score leaves out the survivors `mutation_verdicts.EQUIVALENT` lists; accepted ones
(`mutation_verdicts.ACCEPTED`) stay survivors, shown with their reason. A judged mutant that
`mutation_select` did not run (its mutation is still the judged one) counts as it was judged:
equivalent, or an accepted survivor.
"""

import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

from tests.money.mutation_select import judged_still_valid
from tests.money.mutation_verdicts import ACCEPTED, EQUIVALENT

KILLED = {1, 3, 36, -24, 24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


def main(root: str = "mutants") -> None:
    totals: Counter[str] = Counter()
    survivors: list[str] = []
    stale: list[str] = []
    generated: set[str] = set()
    judged = judged_still_valid(Path(root))
    for meta in sorted(Path(root).rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts: Counter[str] = Counter()
        for name, code in codes.items():
            if code is None and name in judged:
                code = 0  # not run: it survives, as when it was judged
            kind = (
                "killed"
                if code in KILLED
                else "survived"
                if code in SURVIVED
                else "no tests"
                if code in NO_TESTS
                else "not checked"
                if code is None
                else f"other({code})"
            )
            if kind in ("survived", "no tests") and name in EQUIVALENT:
                kind = "equivalent"
            elif kind == "killed" and (name in EQUIVALENT or name in ACCEPTED):
                stale.append(f"{name} (listed as equivalent or accepted, but killed)")
            counts[kind] += 1
            if kind in ("survived", "no tests"):
                reason = ACCEPTED.get(name)
                survivors.append(f"{name} ({kind}{'; accepted: ' + reason if reason else ''})")
            generated.add(name)
        checked = counts["killed"] + counts["survived"] + counts["no tests"]
        score = f"{100 * counts['killed'] / checked:.1f} %" if checked else "-"
        module = str(meta.relative_to(root)).removesuffix(".meta")
        print(f"{module:<45} {score:>8}  {dict(counts)}")
        totals.update(counts)
    checked = totals["killed"] + totals["survived"] + totals["no tests"]
    if checked:
        print(
            f"{'total (equivalent left out)':<45} {100 * totals['killed'] / checked:>6.1f} %  {dict(totals)}"
        )
    print("\nsurvivors:")
    print("\n".join(f"  {s}" for s in survivors))
    stale += [f"{name} (listed, not generated)" for name in sorted({*EQUIVALENT, *ACCEPTED} - generated)]
    stale += [
        f"{name} (its mutation is not the one recorded: judge it again, then `mutation_select --record`)"
        for name in sorted(({*EQUIVALENT, *ACCEPTED} & generated) - judged)
    ]
    if stale:
        print("\nverdicts to revisit (tests/money/mutation_verdicts.py):")
        print("\n".join(f"  {s}" for s in stale))


DOCS = Path(__file__).parents[2] / "docs" / "money.md"
TABLE_START, TABLE_END = "<!-- verdicts: start -->", "<!-- verdicts: end -->"


def verdict_table() -> str:
    """Every verdict of mutation_verdicts as a Markdown table, one row per function, verdict and reason."""
    numbers: defaultdict[tuple[str, str, str], list[int]] = defaultdict(list)
    for verdict, listed in (("equivalent", EQUIVALENT), ("accepted", ACCEPTED)):
        for name, reason in listed.items():
            function, number = name.rsplit("__mutmut_", 1)
            numbers[function.removeprefix("app."), verdict, reason].append(int(number))
    rows = [
        f"| `{function.replace('.x_', '.').replace('.xǁ', '.').replace('ǁ', '.')}` "
        f"| {', '.join(map(str, sorted(found)))} | {verdict} | {reason} |"
        for (function, verdict, reason), found in sorted(numbers.items())
    ]
    return "\n".join(["| function | mutants | verdict | why |", "|---|---|---|---|", *rows])


def write_docs() -> None:
    text = DOCS.read_text()
    pattern = re.compile(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), re.S)
    DOCS.write_text(pattern.sub(lambda _: f"{TABLE_START}\n{verdict_table()}\n{TABLE_END}", text))


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-docs"]:
        write_docs()
    else:
        main(*sys.argv[1:])
