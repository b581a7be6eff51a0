"""The `allmine-live` console entry point: in-process with the server stubbed out, and as the real
process an operator starts (one-line refusals, a busy port, the banner and the log lines)."""

import errno
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import cli
from app.core.config import Settings
from app.core.logging import configure_logging

SCRIPT = Path(sys.executable).parent / "allmine-live"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in Settings.model_fields:
        # set, then delete: monkeypatch records each variable, so whatever the CLI exports (e.g.
        # PUBLIC_BASE_URL) is put back as it was after the test
        monkeypatch.setenv(name.upper(), "")
        monkeypatch.delenv(name.upper())
    monkeypatch.chdir(tmp_path)  # no developer `.env` is read


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, socket.socket]]:
    calls: list[tuple[Any, socket.socket]] = []
    monkeypatch.setattr(cli, "run_server", lambda config, sock: calls.append((config, sock)))
    yield calls
    for _, sock in calls:
        sock.close()


def test_serves_the_app_factory_on_a_socket_bound_first(clean_env, served, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["allmine-live", "--host", "127.0.0.1", "--port", "0"])
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8")

    cli.main()

    [(config, sock)] = served
    assert (config.app, config.factory, config.reload) == ("app.main:create_app", True, False)
    port = sock.getsockname()[1]
    assert port != 0 and config.port == port
    assert config.log_config is None  # uvicorn's lines go through the app's formatter
    assert config.forwarded_allow_ips == "10.0.0.0/8" and config.proxy_headers
    # Without PUBLIC_BASE_URL, links and the banner use the served port.
    assert Settings().public_base_url == f"http://127.0.0.1:{port}"


def test_an_explicit_public_base_url_is_kept(clean_env, served, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["allmine-live", "--port", "0"])
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://live.example.com")
    cli.main()
    assert Settings().public_base_url == "https://live.example.com"


def test_all_interfaces_are_shown_as_loopback():
    assert cli.bound_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"
    assert cli.bound_url("::", 9000) == "http://[::1]:9000"


def test_refuses_unsafe_production_settings_without_serving(clean_env, served, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["allmine-live"])
    monkeypatch.setenv("APP_ENV", "production")

    with pytest.raises(SystemExit) as exited:
        cli.main()

    assert "refusing to start in production" in str(exited.value.code)
    assert "PUBLIC_BASE_URL" in str(exited.value.code)
    assert served == []


# --- the real process -------------------------------------------------------------------------------


def clean_process_env(**values: str) -> dict[str, str]:
    setting_names = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key not in setting_names}
    return {**env, **values}


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    if not SCRIPT.exists():
        pytest.skip("console script not installed in this environment")
    # cwd=tmp_path: no developer `.env` is read.
    return subprocess.run(
        [str(SCRIPT), *args], cwd=tmp_path, env=clean_process_env(**env), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], *named: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no traceback
    assert lines[0].startswith("allmine-live: ")
    for name in named:
        assert name in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MONGODB_URL": "not-a-url"}, ["MONGODB_URL", "mongodb://", "mongodb+srv://"]),
        ({"MONGODB_URL": "mongodb://"}, ["MONGODB_URL", "hostname"]),
        ({"MONGODB_URL": "mongodb://db:99999"}, ["MONGODB_URL", "Port"]),
        ({"MONGODB_URL": "mongodb+srv://cluster.example.com:27017"}, ["MONGODB_URL", "no port"]),
        ({"MONGODB_URL": "mongodb://u:s3cret-pw@db/?noSuchOption=1"}, ["MONGODB_URL"]),
        ({"APP_ENV": "prod"}, ["APP_ENV", "'production'"]),
        ({"AIOZ_QUALITIES": "360p"}, ["AIOZ_QUALITIES", "JSON list"]),
        ({"MONGODB_TIMEOUT_MS": "soon"}, ["MONGODB_TIMEOUT_MS", "integer"]),
        ({"PUBLIC_BASE_URL": "live.example.com"}, ["PUBLIC_BASE_URL", "http"]),
        ({"APP_ENV": "production"}, ["refusing to start in production", "PUBLIC_BASE_URL"]),
    ],
    ids=[
        "not-a-url", "no-host", "bad-port", "srv-with-port", "unknown-option", "app-env", "qualities",
        "integer", "base-url-not-absolute", "production-without-public-base-url",
    ],
)  # fmt: skip
def test_bad_settings_are_one_line_naming_the_variable(clean_env, served, monkeypatch, env, named):
    """The console script's own code path, in this process (a process start costs ~0.6 s of CPU): it
    exits with `SystemExit(message)`, which the interpreter prints as that one line to stderr with exit
    status 1, no traceback (the real process is checked below)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as refused:
        cli.main(["--port", "0"])
    message = refused.value.code
    assert isinstance(message, str) and served == []
    assert len(message.splitlines()) == 1 and message.startswith("allmine-live: ")
    for part in named:
        assert part in message
    assert "s3cret-pw" not in message  # a URL's password is never echoed


def test_the_real_process_refuses_bad_settings_in_one_line(tmp_path):
    result = run_cli(tmp_path, "--port", "0", MONGODB_URL="mongodb://u:s3cret-pw@db/?noSuchOption=1")
    assert_one_line_refusal(result, "MONGODB_URL")
    assert "s3cret-pw" not in result.stderr


def test_a_valid_srv_url_is_accepted_without_a_dns_lookup():
    settings = Settings(
        _env_file=None, mongodb_url="mongodb+srv://u:p@cluster0.example.invalid/db?retryWrites=true"
    )
    assert settings.mongodb_url is not None


def test_a_busy_port_is_one_line_before_anything_starts(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(tmp_path, "--port", str(port), SEED_DEMO="true")
    assert_one_line_refusal(result, f"127.0.0.1:{port}", "already in use", "PORT=")
    assert "Demo users" not in result.stdout  # no banner, no tokens for a server that never ran


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_taken(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
        return False


def test_the_served_process_binds_before_the_banner_and_logs_json_lines(tmp_path):
    """The demo banner appears only once the port is ours; uvicorn's lines (start-up and access) are
    JSON like the app's, one event per line, the access line with the request id; the index
    migration is one summary line."""
    if not SCRIPT.exists():
        pytest.skip("console script not installed in this environment")
    port = free_port()
    env = clean_process_env(SEED_DEMO="true", LOG_JSON="true", BACKGROUND_TASKS="false")
    process = subprocess.Popen(
        [str(SCRIPT), "--port", str(port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = ""
        deadline = time.monotonic() + 60
        while "Demo users" not in banner and time.monotonic() < deadline:
            banner += process.stdout.readline()
        assert "Demo users" in banner
        assert port_is_taken(port)  # already bound when the banner is printed
        assert f"http://127.0.0.1:{port}/docs" in process.stdout.readline() + process.stdout.readline()
        for _ in range(100):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", headers={"X-Request-ID": "a" * 32})
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert response.status_code == 200
        time.sleep(0.3)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    events = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is JSON
    by_event = {event["event"]: event for event in events}
    assert by_event["Application startup complete."]["logger"] == "uvicorn.error"
    access = by_event["http_request"]
    assert access["logger"] == "uvicorn.access"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/health", 200)
    assert access["request_id"] == "a" * 32
    assert [e for e in events if e["event"].startswith("index_migration")] == [
        by_event["index_migration_done"]
    ]
    assert by_event["index_migration_done"]["created"] > 10
    assert by_event["serving"]["address"] == f"http://127.0.0.1:{port}"


def test_uvicorn_errors_are_one_json_line_and_access_logging_can_be_off(capsys):
    try:
        configure_logging("INFO", json=True)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
        [line] = capsys.readouterr().err.splitlines()
        event = json.loads(line)
        assert event["logger"] == "uvicorn.error" and "RuntimeError: boom" in event["exception"]
        assert logging.getLogger("uvicorn.access").hasHandlers()
        configure_logging("INFO", json=True, access_log=False)
        assert not logging.getLogger("uvicorn.access").hasHandlers()  # uvicorn then logs no access line
    finally:
        configure_logging("WARNING")


def test_make_run_takes_the_port_and_host():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parents[1]
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "run", "PORT=9000", "HOST=0.0.0.0"], cwd=root,
        capture_output=True, text=True, timeout=60, env={**os.environ, "MAKEFLAGS": ""},
    )  # fmt: skip
    assert "allmine-live --host 0.0.0.0 --port 9000" in dry.stdout, dry.stdout + dry.stderr
