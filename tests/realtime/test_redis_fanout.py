"""Two API processes and a real Redis: events raised on replica A reach a socket on replica B.

Both replicas run with `REDIS_URL`, so python-socketio's Redis manager carries every emit between them.
With `MONGODB_TEST_URL` both share that database. Without it each replica's embedded engine is private
to its process, so the test gives B the same user and stream documents as A by copying the raw documents
through test-only routes (`replica.py`); the events themselves are still raised only on A (REST chat post
and REST end) and can reach B's socket only through Redis. With `REDIS_TEST_URL` (CI's `mongodb` job,
`make test-mongo`) both use that server; otherwise the test starts `redis-server` from PATH (`.ci/run`
installs Debian's) and is skipped without one. The outage test always runs its own `redis-server` (it
stops and restarts it), skipped without one; without `REDIS_TEST_URL` both tests share one such server and
one pair of replicas (started once per module).
"""

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import socketio

from tests.helpers import SHARED_TLS, auth, create_stream
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
    with httpx.Client(verify=SHARED_TLS) as http:  # one client for the whole wait, not one per try
        for _ in range(600):
            try:
                if http.get(url).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


class Cluster:
    """A `redis-server` (that a test may stop and start again on the same port) and two replicas."""

    def __init__(self, tmp_path: Path, redis_url: str | None = None) -> None:
        self.tmp_path = tmp_path
        self.redis_port = free_port()
        self.redis_url = redis_url or f"redis://127.0.0.1:{self.redis_port}/0"  # else our own server
        self.redis: subprocess.Popen[bytes] | None = None
        self.replicas: list[subprocess.Popen[bytes]] = []
        self.logs = [tmp_path / "replica-a.log", tmp_path / "replica-b.log"]
        self.urls: list[str] = []

    def start_redis(self) -> None:
        assert REDIS is not None
        self.redis = subprocess.Popen(
            [
                REDIS,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(200):  # until it accepts connections
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.redis_port), 0.1):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not come up")

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.terminate()
        self.redis.wait(timeout=10)
        self.redis = None

    def start_replicas(self) -> None:
        env = {
            **os.environ,
            "APP_ENV": "test",
            "SEED_DEMO": "false",
            "BACKGROUND_TASKS": "false",
            "LOG_LEVEL": "WARNING",
            "MEDIA_DIR": str(self.tmp_path / "media"),
            "REDIS_URL": self.redis_url,
            "MONGODB_DB": f"test_{uuid.uuid4().hex[:12]}",
        }
        if os.environ.get("MONGODB_TEST_URL"):
            env["MONGODB_URL"] = os.environ["MONGODB_TEST_URL"]
        for log in self.logs:
            port = free_port()
            with log.open("wb") as sink:
                self.replicas.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "tests.realtime.replica", str(port)],
                        cwd=ROOT,
                        env=env,
                        stderr=sink,
                        stdout=sink,
                    )
                )
            self.urls.append(f"http://127.0.0.1:{port}")
        for url in self.urls:
            wait_http(url + "/health")

    def log(self, index: int) -> str:
        return self.logs[index].read_text(errors="replace")

    def close(self) -> None:
        procs = [*self.replicas, *([self.redis] if self.redis else [])]
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory):
    """Two replicas on a `redis-server` of their own, shared by this module's tests: two app processes
    cost seconds to start, and no test needs them fresh (each makes its own users, stream and sockets;
    the outage test restarts Redis on the same port and leaves it running)."""
    if REDIS is None:
        pytest.skip("the outage test stops and restarts its own redis-server: none on PATH")
    replicas = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        replicas.start_redis()
        replicas.start_replicas()
        yield replicas
    finally:
        replicas.close()


@pytest.fixture
def cluster(request, tmp_path):
    """Two replicas on `REDIS_TEST_URL` when set, else the module's replicas on their own `redis-server`."""
    if not REDIS_TEST_URL:
        yield request.getfixturevalue("own_cluster").urls
        return
    replicas = Cluster(tmp_path, REDIS_TEST_URL)
    try:
        replicas.start_replicas()
        yield replicas.urls
    finally:
        replicas.close()


@pytest.fixture
def two_replicas(own_cluster):
    """Two replicas on a `redis-server` this test may stop and start (never a shared REDIS_TEST_URL)."""
    yield own_cluster
    if own_cluster.redis is None:  # a failed outage test leaves Redis up for the next test
        own_cluster.start_redis()


async def test_events_from_replica_a_reach_a_socket_on_replica_b(cluster):
    url_a, url_b = cluster
    async with (
        httpx.AsyncClient(base_url=url_a, timeout=10, verify=SHARED_TLS) as a,
        httpx.AsyncClient(base_url=url_b, timeout=10, verify=SHARED_TLS) as b,
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


async def copy_documents(a: httpx.AsyncClient, b: httpx.AsyncClient) -> None:
    if not os.environ.get("MONGODB_TEST_URL"):  # each embedded engine is private to its replica
        for collection in ("users", "live_streams"):
            docs = (await a.get(f"/_test/docs/{collection}")).content
            assert (await b.post(f"/_test/docs/{collection}", content=docs)).status_code == 204


async def chat_socket(url: str, token: str, stream_id: str) -> tuple[socketio.AsyncClient, Received]:
    got = Received()
    client = socketio.AsyncClient(reconnection=False)
    client.on("chatMessage", lambda data: got.add("chatMessage", data), namespace="/stream-chat")
    await client.connect(url, namespaces=["/stream-chat"], auth={"token": token}, wait_timeout=5)
    joined = await client.call("joinStream", {"streamId": stream_id}, namespace="/stream-chat", timeout=5)
    assert joined["ok"], joined
    return client, got


async def post_chat(a: httpx.AsyncClient, stream_id: str, content: str) -> None:
    """A chat message through REST on replica A, by a fresh user (the chat rate limit is per user)."""
    made = await a.post("/api/v1/dev/users", json={"username": f"u{uuid.uuid4().hex[:8]}"})
    posted = await a.post(
        f"/api/v1/live-stream/{stream_id}/chat/messages",
        json={"content": content},
        headers=auth(made.json()["data"]["accessToken"]),
    )
    assert posted.status_code == 201, posted.text


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


async def test_a_redis_outage_degrades_realtime_only_and_fan_out_resumes_by_itself(two_replicas):
    """Redis stops under two replicas: REST (money included) keeps answering, each replica still
    serves its own sockets, nothing is buffered for the others, the outage is one ERROR line and a
    metric; Redis comes back on the same port and fan-out resumes without a restart."""
    cluster = two_replicas
    url_a, url_b = cluster.urls
    async with (
        httpx.AsyncClient(base_url=url_a, timeout=10, verify=SHARED_TLS) as a,
        httpx.AsyncClient(base_url=url_b, timeout=10, verify=SHARED_TLS) as b,
    ):
        made = (await a.post("/api/v1/dev/users", json={"username": f"u{uuid.uuid4().hex[:8]}"})).json()
        creator = made["data"]["accessToken"]
        fan = (
            await a.post("/api/v1/dev/users", json={"username": f"f{uuid.uuid4().hex[:8]}", "credits": 100})
        ).json()["data"]
        stream = await create_stream(a, creator)
        started = await a.post(f"/api/v1/live-stream/{stream['id']}/start", headers=auth(creator))
        assert started.status_code == 200, started.text
        await copy_documents(a, b)
        on_a, got_a = await chat_socket(url_a, creator, stream["id"])
        on_b, got_b = await chat_socket(url_b, creator, stream["id"])
        try:
            await post_chat(a, stream["id"], "before")
            assert (await got_b.wait_for("chatMessage"))[-1]["content"] == "before"

            cluster.stop_redis()
            for n in range(3):
                await post_chat(a, stream["id"], f"during {n}")
            superlike = await a.post(
                f"/api/v1/live-stream/{stream['id']}/chat/superlike",
                headers={**auth(fan["accessToken"]), "Idempotency-Key": "outage-1"},
            )
            assert superlike.status_code == 200, superlike.text
            me = await a.get("/api/v1/users/me/transactions", headers=auth(fan["accessToken"]))
            assert me.status_code == 200, me.text
            assert (await a.get("/ready")).status_code == 200
            during = await got_a.wait_for("chatMessage", 4)  # A's own sockets are still served
            assert [m["content"] for m in during[1:]] == ["during 0", "during 1", "during 2"]
            await asyncio.sleep(1)
            assert [m["content"] for m in got_b.of("chatMessage")] == ["before"]
            for replica in (a, b):
                metrics = (await replica.get("/metrics")).text
                assert metric(metrics, "realtime_redis_up") == 0
                assert metric(metrics, "realtime_redis_errors_total") >= 1
            assert all(proc.poll() is None for proc in cluster.replicas)  # no crash

            cluster.start_redis()
            deadline = time.monotonic() + 20
            resumed = False
            while time.monotonic() < deadline and not resumed:
                await post_chat(a, stream["id"], "after")
                await asyncio.sleep(0.5)
                resumed = any(m["content"] == "after" for m in got_b.of("chatMessage"))
            assert resumed, "fan-out did not resume after Redis came back"
            contents = [m["content"] for m in got_b.of("chatMessage")]
            assert not any(c.startswith("during") for c in contents)  # nothing was buffered
            assert on_a.connected and on_b.connected
            assert metric((await a.get("/metrics")).text, "realtime_redis_up") == 1
        finally:
            await on_a.disconnect()
            await on_b.disconnect()
    for index in (0, 1):
        log = cluster.log(index)
        assert log.count("realtime_redis_unavailable") == 1, log[-3000:]
        assert log.count("realtime_redis_recovered") == 1, log[-3000:]
        assert "Traceback" not in log and "Cannot publish" not in log, log[-3000:]
