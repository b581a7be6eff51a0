"""`make mutate`'s selection and score: a judged mutant is skipped only while its mutation is the one
judged, and a skipped judged mutant counts as it was judged."""

import json
from pathlib import Path

import pytest

from tests.money import mutation_score, mutation_select

ORIGINAL = "def x_share__mutmut_orig(amount):\n    return amount * 80 // 100\n"
KILLED_MUTANT = "def x_share__mutmut_1(amount):\n    return amount * 81 // 100\n"
JUDGED_MUTANT = "def x_share__mutmut_2(amount):\n    return amount * 80 // 101\n"


def write_mutants(root: Path, judged_mutant: str, results: dict[str, int | None]) -> None:
    module = root / "app" / "pay.py"
    module.parent.mkdir(parents=True)
    module.write_text(ORIGINAL + KILLED_MUTANT + judged_mutant)
    (root / "app" / "pay.py.meta").write_text(json.dumps({"exit_code_by_key": results}))


@pytest.fixture
def judged(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    name = "app.pay.x_share__mutmut_2"
    monkeypatch.setattr(mutation_select, "JUDGED_FILE", tmp_path / "judged.json")
    monkeypatch.setattr(mutation_select, "EQUIVALENT", {name: "a reason"})
    monkeypatch.setattr(mutation_score, "EQUIVALENT", {name: "a reason"})
    return name


def test_a_judged_mutant_is_skipped_while_its_mutation_is_unchanged(tmp_path: Path, judged: str) -> None:
    unrun = {"app.pay.x_share__mutmut_1": None, judged: None}
    write_mutants(tmp_path / "then", JUDGED_MUTANT, unrun)
    mutation_select.JUDGED_FILE.write_text(
        json.dumps(mutation_select.fingerprints(tmp_path / "then", [judged]))
    )
    write_mutants(tmp_path / "same", JUDGED_MUTANT, unrun)
    write_mutants(tmp_path / "moved", JUDGED_MUTANT.replace("101", "99"), unrun)

    assert mutation_select.judged_still_valid(tmp_path / "same") == {judged}
    assert mutation_select.judged_still_valid(tmp_path / "moved") == set()


def test_a_skipped_judged_mutant_counts_as_judged_and_a_changed_one_is_flagged(
    tmp_path: Path, judged: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_mutants(tmp_path / "then", JUDGED_MUTANT, {judged: None})
    mutation_select.JUDGED_FILE.write_text(
        json.dumps(mutation_select.fingerprints(tmp_path / "then", [judged]))
    )
    results = {"app.pay.x_share__mutmut_1": 1, judged: None}
    write_mutants(tmp_path / "same", JUDGED_MUTANT, results)
    write_mutants(tmp_path / "moved", JUDGED_MUTANT.replace("101", "99"), results)

    mutation_score.main(str(tmp_path / "same"))
    same = capsys.readouterr().out
    mutation_score.main(str(tmp_path / "moved"))
    moved = capsys.readouterr().out

    assert "'killed': 1, 'equivalent': 1" in same and "judge it again" not in same
    assert "'not checked': 1" in moved and f"{judged} (its mutation is not the one recorded" in moved


def test_docs_list_every_verdict_with_its_reason() -> None:
    text = mutation_score.DOCS.read_text()
    start = text.index(mutation_score.TABLE_START) + len(mutation_score.TABLE_START)
    assert text[start : text.index(mutation_score.TABLE_END)].strip() == mutation_score.verdict_table(), (
        "docs/money.md's verdict table is out of date: python -m tests.money.mutation_score --write-docs"
    )
