"""`make mutate MUTATE_SAMPLE=N`: a deterministic sample of N mutants per money module (seeded, so every
run draws the same ones), from the mutants mutmut generated (mutants/**/*.py.meta).

    python -m tests.money.mutation_sample N [mutants-dir]
"""

import json
import random
import sys
from pathlib import Path

SEED = "issue-23-h11"


def main(per_module: str, root: str = "mutants") -> None:
    rng = random.Random(SEED)
    chosen: list[str] = []
    for meta in sorted(Path(root).rglob("*.py.meta")):
        names = sorted(json.loads(meta.read_text())["exit_code_by_key"])
        chosen += rng.sample(names, min(int(per_module), len(names)))
    print("\n".join(chosen))


if __name__ == "__main__":
    main(*sys.argv[1:])
