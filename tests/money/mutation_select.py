"""`make mutate`'s mutant list, printed one name per line for `mutmut run`.

    python -m tests.money.mutation_select [--only "GLOB ..."] [--sample N] [--all] [mutants-dir]
    python -m tests.money.mutation_select --record [mutants-dir]

By default every generated mutant runs except the judged ones (`mutation_verdicts`: equivalent or
accepted) whose mutation is still the one that was judged: a judged mutant survives by definition,
and a survivor runs every money test that reaches it (up to ~17 s), so re-running the judged ones
would spend the time budget on answers already known. "Still the one judged" is a fingerprint of
the changed lines (JUDGED_FILE, written by `--record` after the verdicts were checked): mutmut
numbers mutants per function, so a name can point at another mutation once its function changes.
Then the fingerprint differs, the mutant runs again, and `mutation_score` asks for a new verdict.

--only: the mutants matching these globs, judged or not (checking a verdict runs it);
--sample N: N mutants per module, drawn with a fixed seed so every run draws the same ones;
--all: the judged ones too (re-checks every verdict; the whole set then takes longer).
"""

import argparse
import ast
import difflib
import fnmatch
import hashlib
import json
import random
from collections.abc import Iterable
from pathlib import Path

from tests.money.mutation_verdicts import ACCEPTED, EQUIVALENT

JUDGED_FILE = Path(__file__).with_name("mutation_judged.json")
SAMPLE_SEED = "issue-23-h11"


def generated(root: Path) -> dict[str, list[str]]:
    """Mutant names per mutated module file, from mutmut's result files."""
    return {
        str(meta)[: -len(".meta")]: sorted(json.loads(meta.read_text())["exit_code_by_key"])
        for meta in sorted(root.rglob("*.py.meta"))
    }


def fingerprints(root: Path, names: Iterable[str]) -> dict[str, str]:
    """For each name, a hash of the lines its mutation changes in its function (names mutmut did not
    generate are left out)."""
    wanted = set(names)
    found: dict[str, str] = {}
    for path, module_names in generated(root).items():
        mine = wanted.intersection(module_names)
        if not mine:
            continue
        prefix = module_names[0].rsplit(".", 1)[0] + "."
        functions = {
            prefix + node.name: node
            for node in ast.walk(ast.parse(Path(path).read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name
        }
        for name in mine:
            original = functions.get(name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
            mutant = functions.get(name)
            if original is None or mutant is None:
                continue
            changed = [
                line
                for line in difflib.unified_diff(_body(original), _body(mutant), n=0, lineterm="")
                if line[:1] in "+-" and line[:3] not in ("+++", "---")
            ]
            found[name] = hashlib.sha256("\n".join(changed).encode()).hexdigest()[:16]
    return found


def _body(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [ast.unparse(statement) for statement in function.body]


def judged_still_valid(root: Path) -> set[str]:
    """The judged names whose mutation is the one recorded when they were judged."""
    recorded: dict[str, str] = json.loads(JUDGED_FILE.read_text()) if JUDGED_FILE.exists() else {}
    judged = {*EQUIVALENT, *ACCEPTED}
    return {
        name
        for name, fingerprint in fingerprints(root, judged & recorded.keys()).items()
        if recorded[name] == fingerprint
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", nargs="?", default="mutants", type=Path)
    parser.add_argument("--only", default="")
    parser.add_argument("--sample", type=int)
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if args.record:
        JUDGED_FILE.write_text(
            json.dumps(
                fingerprints(args.root, {*EQUIVALENT, *ACCEPTED}),
                indent=0,
                sort_keys=True,
                ensure_ascii=False,
            )
            + "\n"
        )
        return
    per_module = generated(args.root)
    if args.only:
        patterns = args.only.split()
        chosen = [
            name
            for names in per_module.values()
            for name in names
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
        ]
        _print(chosen)
        return
    skipped = set() if args.all else judged_still_valid(args.root)
    rng = random.Random(SAMPLE_SEED)
    chosen = []
    for names in per_module.values():
        chosen += rng.sample(names, min(args.sample, len(names))) if args.sample else names
    _print([name for name in chosen if name not in skipped])


def _print(names: list[str]) -> None:
    # `mutmut run` with no name runs every mutant: an empty choice must stop `make mutate` instead.
    if not names:
        raise SystemExit("no mutant matches")
    print("\n".join(names))


if __name__ == "__main__":
    main()
