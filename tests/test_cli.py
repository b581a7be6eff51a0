"""The `allmine-live` console entry point, run in-process with uvicorn stubbed out."""

import sys
from typing import Any

import pytest

from app import cli
from app.core.config import Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in Settings.model_fields:
        # set, then delete: monkeypatch records each variable, so whatever the CLI exports (e.g.
        # PUBLIC_BASE_URL) is put back as it was after the test
        monkeypatch.setenv(name.upper(), "")
        monkeypatch.delenv(name.upper())
    monkeypatch.chdir(tmp_path)  # no developer `.env` is read


def test_serves_the_app_factory_with_the_given_address(clean_env, monkeypatch):
    served: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda *args, **kwargs: served.append((args, kwargs)))
    monkeypatch.setattr(sys, "argv", ["allmine-live", "--host", "0.0.0.0", "--port", "9000"])

    cli.main()

    [(args, kwargs)] = served
    assert args == ("app.main:create_app",)
    assert kwargs["factory"] is True
    assert (kwargs["host"], kwargs["port"], kwargs["reload"]) == ("0.0.0.0", 9000, False)
    # Without PUBLIC_BASE_URL, links and the banner use the served port (all interfaces → loopback).
    assert Settings().public_base_url == "http://127.0.0.1:9000"


def test_an_explicit_public_base_url_is_kept(clean_env, monkeypatch):
    monkeypatch.setattr(cli.uvicorn, "run", lambda *args, **kwargs: None)
    monkeypatch.setattr(sys, "argv", ["allmine-live", "--port", "9001"])
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://live.example.com")
    cli.main()
    assert Settings().public_base_url == "https://live.example.com"


def test_refuses_unsafe_production_settings_without_serving(clean_env, monkeypatch):
    monkeypatch.setattr(cli.uvicorn, "run", lambda *args, **kwargs: pytest.fail("must not serve"))
    monkeypatch.setattr(sys, "argv", ["allmine-live"])
    monkeypatch.setenv("APP_ENV", "production")

    with pytest.raises(SystemExit) as exited:
        cli.main()

    assert "refusing to start in production" in str(exited.value.code)
