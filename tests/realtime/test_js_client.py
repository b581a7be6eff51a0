"""The official JS client (`socket.io-client` 4.x from npm) connects with `auth: {token}`, joins a stream
and receives `viewerCount` and `chatMessage`. Skipped without Node.js/npm (CI machines with Node run it)."""

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import auth, install_socketio_client
from tests.streams import started_stream

NODE, NPM = shutil.which("node"), shutil.which("npm")
pytestmark = pytest.mark.skipif(not (NODE and NPM), reason="Node.js/npm not found: JS client check skipped")
SCRIPT = Path(__file__).parent / "js" / "client.mjs"


@pytest.fixture(scope="module")
def js_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sio-js")
    install_socketio_client(folder, '{"name": "sio-check", "private": true, "type": "module"}')
    shutil.copy(SCRIPT, folder / "client.mjs")
    return folder


async def test_official_js_client(live, js_dir):
    _, creator = await live.user()
    _, viewer = await live.user()
    _, other = await live.user()
    stream = await started_stream(live.http, creator)
    proc = await asyncio.create_subprocess_exec(
        NODE, "client.mjs", live.url, viewer, stream["id"],
        cwd=js_dir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.decode().strip() == "joined", (line, await proc.stderr.read())
        await live.http.post(
            "/api/v1/live-stream/join", json={"liveStreamId": stream["id"]}, headers=auth(other)
        )
        await live.http.post(
            f"/api/v1/live-stream/{stream['id']}/chat/messages",
            json={"content": "hi js"},
            headers=auth(other),
        )
        seen: dict[str, list] = {}
        while "chatMessage" not in seen or seen.get("viewerCount", [{}])[-1].get("viewerCount") != 2:
            line = await asyncio.wait_for(proc.stdout.readline(), 10)
            assert line, await proc.stderr.read()
            item = json.loads(line)
            seen.setdefault(item["event"], []).append(item["payload"])
        assert seen["chatMessage"][0]["content"] == "hi js"
        assert seen["viewerCount"][-1] == {"streamId": stream["id"], "viewerCount": 2}  # coalesced: ≤ 1/s
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
