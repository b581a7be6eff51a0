"""Two API processes and a real Redis: events raised on replica A reach a socket on replica B.

Both replicas run with `REDIS_URL`, so python-socketio's Redis manager carries every emit between them.
With `MONGODB_TEST_URL` both share that database. Without it each replica's embedded engine is private
to its process, so the test gives B the same user and stream documents as A by copying the raw documents
through test-only routes (`replica.py`); the events themselves are still raised only on A (REST chat post
and REST end) and can reach B's socket only through Redis. With `REDIS_TEST_URL` (CI's `mongodb` job,
`make test-mongo`) both use that server; otherwise the test starts `redis-server` from PATH (`.ci/run`
installs Debian's) and is skipped without one.
"""

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import socketio

from tests.helpers import auth, create_stream
from tests.realtime.conftest import Received, free_socket

ROOT = Path(__file__).resolve().parents[2]
REDIS = shutil.which("redis-server")
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL")
pytestmark = pytest.mark.skipif(
    REDIS is None and not REDIS_TEST_URL,
    reason="redis-server is not on PATH (apt-get install redis-server) and REDIS_TEST_URL is unset",
)


def free_port() -> int:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    return port


def wait_http(url: str) -> None:
    for _ in range(600):
        try:
            if httpx.get(url).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@pytest.fixture
def cluster(tmp_path):
    ports = (free_port(), free_port())
    procs = []
    if REDIS_TEST_URL:
        redis_url = REDIS_TEST_URL
    else:
        assert REDIS is not None
        redis_port = free_port()
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        procs.append(
            subprocess.Popen(
                [REDIS, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
            )
        )
    env = {
        **os.environ,
        "APP_ENV": "test",
        "SEED_DEMO": "false",
        "BACKGROUND_TASKS": "false",
        "LOG_LEVEL": "WARNING",
        "MEDIA_DIR": str(tmp_path / "media"),
        "REDIS_URL": redis_url,
        "MONGODB_DB": f"test_{uuid.uuid4().hex[:12]}",
    }
    if os.environ.get("MONGODB_TEST_URL"):
        env["MONGODB_URL"] = os.environ["MONGODB_TEST_URL"]
    for port in ports:
        procs.append(
            subprocess.Popen([sys.executable, "-m", "tests.realtime.replica", str(port)], cwd=ROOT, env=env)
        )
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url in urls:
            wait_http(url + "/health")
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


async def test_events_from_replica_a_reach_a_socket_on_replica_b(cluster):
    url_a, url_b = cluster
    async with (
        httpx.AsyncClient(base_url=url_a, timeout=10) as a,
        httpx.AsyncClient(base_url=url_b, timeout=10) as b,
    ):
        made = (await a.post("/api/v1/dev/users", json={"username": f"u{uuid.uuid4().hex[:8]}"})).json()[
            "data"
        ]
        token = made["accessToken"]
        stream = await create_stream(a, token)
        started = await a.post(f"/api/v1/live-stream/{stream['id']}/start", headers=auth(token))
        assert started.status_code == 200, started.text
        if not os.environ.get("MONGODB_TEST_URL"):
            for collection in ("users", "live_streams"):
                docs = (await a.get(f"/_test/docs/{collection}")).content
                assert (await b.post(f"/_test/docs/{collection}", content=docs)).status_code == 204

        got = Received()
        client = socketio.AsyncClient(reconnection=False)
        for name in ("chatMessage", "liveStreamStatus"):
            client.on(name, lambda data, name=name: got.add(name, data), namespace="/stream-chat")
            client.on(name, lambda data, name=name: got.add(name, data), namespace="/live-stream-status")
        await client.connect(url_b, namespaces=["/stream-chat", "/live-stream-status"], auth={"token": token})
        try:
            joined = await client.call("joinStream", {"streamId": stream["id"]}, namespace="/stream-chat")
            assert joined["ok"], joined
            subscribed = await client.call(
                "subscribe", {"streamId": stream["id"]}, namespace="/live-stream-status"
            )
            assert subscribed["ok"], subscribed

            posted = await a.post(
                f"/api/v1/live-stream/{stream['id']}/chat/messages",
                json={"content": "via A"},
                headers=auth(token),
            )
            assert posted.status_code in (200, 201), posted.text
            messages = await got.wait_for("chatMessage")
            assert messages[0]["content"] == "via A"

            ended = await a.post(f"/api/v1/live-stream/{stream['id']}/end", headers=auth(token))
            assert ended.status_code == 200, ended.text
            statuses = await got.wait_for("liveStreamStatus")
            assert statuses[0]["status"] == "ended"
        finally:
            await client.disconnect()
