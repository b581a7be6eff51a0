"""Every setting is documented: in `.env.example` (with a comment) and in the README's table."""

import re
from pathlib import Path

import pytest

from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SETTING_NAMES = sorted(name.upper() for name in Settings.model_fields)
EXAMPLE_LINE = re.compile(r"^#? ?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def example_entries() -> dict[str, str]:
    entries = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if match := EXAMPLE_LINE.match(line):
            entries[match["name"]] = match["value"]
    return entries


@pytest.mark.parametrize("name", SETTING_NAMES)
def test_setting_is_in_env_example_with_a_comment(name):
    lines = (ROOT / ".env.example").read_text().splitlines()
    found = [i for i, line in enumerate(lines) if (m := EXAMPLE_LINE.match(line)) and m["name"] == name]
    assert len(found) == 1, f"{name} must appear exactly once in .env.example"
    index = found[0]
    comment = lines[index - 1]
    assert comment.startswith("# ") and not EXAMPLE_LINE.match(comment), (
        f"{name} has no comment line above it"
    )


@pytest.mark.parametrize("name", SETTING_NAMES)
def test_setting_is_in_readme(name):
    assert f"`{name}`" in (ROOT / "README.md").read_text(), f"{name} is missing from README.md"


def test_env_example_names_only_real_settings():
    assert sorted(example_entries()) == SETTING_NAMES


def test_env_example_values_are_accepted(tmp_path, monkeypatch):
    """Uncommenting every example value gives valid settings (syntax of lists, numbers, booleans)."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    values = {name: value for name, value in example_entries().items() if value}
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    settings = Settings(_env_file=env_file)
    assert settings.aioz_qualities == ["360p", "720p", "1080p"]
    assert settings.mongodb_db == "allmine_live"
