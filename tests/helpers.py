"""Assertion and request helpers shared by the tests."""

import atexit
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

# httpx loads the CA bundle for every client it builds (~35 ms of CPU): the tests' clients of their own
# loopback servers (plain HTTP) share one verified context.
SHARED_TLS = httpx.create_ssl_context()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, first_message: str) -> dict[str, Any]:
    """The documented error envelope: data null, errors[0] the generic text, ms-precision Z time."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["isSuccess"] is False
    assert body["statusCode"] == status
    assert body["data"] is None
    assert body["errors"][0] == first_message
    assert body["timestamp"].endswith("Z") and len(body["timestamp"]) == 24
    return body


def iso_in(**delta: float) -> str:
    """An ISO-8601 UTC time relative to now, e.g. iso_in(hours=2)."""
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(**delta)).isoformat().replace("+00:00", "Z")


async def create_stream(client: httpx.AsyncClient, token: str, **fields: Any) -> dict[str, Any]:
    """POST /create as multipart (like the mobile apps); returns `data` of the 201 answer."""
    files = fields.pop("files", None)
    form = {
        "title": "Evening jam",
        **{k: str(v) if not isinstance(v, bool) else str(v).lower() for k, v in fields.items()},
    }
    response = await client.post(
        "/api/v1/live-stream/create", data=form, files=files or {"_": (None, "")}, headers=auth(token)
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]


def use_manual_server_clock(db: Any, now: Callable[[], datetime]) -> None:
    """Make `now` the database server's clock (`$$NOW`): the embedded engine's, set by hand. A real
    server's clock cannot be driven, so the test is skipped there (MONGODB_TEST_URL)."""
    set_clock = getattr(db.client, "set_server_clock", None)
    if set_clock is None:
        pytest.skip("drives the server's clock by hand: the embedded engine only")
    set_clock(now)


_SOCKETIO_CLIENT: list[Path] = []  # this process's npm install (`node_modules`), shared by its callers


def install_socketio_client(folder: Path, package_json: str) -> Path:
    """`socket.io-client@4` for a script in `folder`: npm installs it once per test process (seconds each
    time) into a folder of its own, and `folder/node_modules` links to it (skips the test without npm or
    when the install fails)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm not found: the Socket.IO JS client check is skipped")
    (folder / "package.json").write_text(package_json)
    if not _SOCKETIO_CLIENT:
        where = Path(tempfile.mkdtemp(prefix="allmine-sio-client-"))
        atexit.register(shutil.rmtree, where, True)
        (where / "package.json").write_text('{"name": "sio-client", "private": true}')
        result = subprocess.run(
            [npm, "install", "--silent", "--no-audit", "--no-fund", "socket.io-client@4"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            pytest.skip(f"npm could not install socket.io-client: {result.stderr[-300:]}")
        _SOCKETIO_CLIENT.append(where / "node_modules")
    (folder / "node_modules").symlink_to(_SOCKETIO_CLIENT[0], target_is_directory=True)
    return folder / "node_modules/socket.io-client"
