"""Fixtures: one fake AIOZ served by uvicorn on a loopback port for the session, reset per test."""

import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import uvicorn

from app.aioz import AiozClient, AiozConfig, LiveStreamKey
from app.aioz.fake import FakeAioz
from tests.clock import ManualClock

# Fast backoff and short timeouts keep the retry tests quick.
FAST = {
    "backoff_initial": 0.01,
    "backoff_max": 0.05,
    "backoff_jitter": 0.01,
    "connect_timeout": 1.0,
    "read_timeout": 2.0,
    "deadline_seconds": 5.0,
}


@pytest.fixture(scope="session")
def fake_server() -> Iterator[tuple[FakeAioz, str]]:
    fake = FakeAioz()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(fake.app, lifespan="off", log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = time.monotonic()
    while not server.started:
        assert time.monotonic() - started < 10, "fake AIOZ server did not start"
        time.sleep(0.01)
    yield fake, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def fake(fake_server: tuple[FakeAioz, str]) -> Iterator[FakeAioz]:
    fake_server[0].reset()
    yield fake_server[0]
    fake_server[0].reset()


@pytest.fixture
def server_url(fake_server: tuple[FakeAioz, str]) -> str:
    """Root URL of the served fake; the API lives under `/api`, the control API under `/_fake`."""
    return fake_server[1]


@pytest.fixture
def make_config(fake: FakeAioz, server_url: str) -> Callable[..., AiozConfig]:
    def make(auth: str = "api_key", **overrides: Any) -> AiozConfig:
        return fake.config(f"{server_url}/api", auth=auth, **FAST | overrides)

    return make


@pytest.fixture
async def make_client(make_config: Callable[..., AiozConfig]) -> AsyncIterator[Callable[..., AiozClient]]:
    """`make(auth, clock=ManualClock(), **config)`: with a clock, retry pauses are taken on it, not waited."""
    clients: list[AiozClient] = []

    def make(auth: str = "api_key", clock: ManualClock | None = None, **overrides: Any) -> AiozClient:
        pacing = {} if clock is None else {"sleep": clock.sleep, "monotonic": clock.monotonic}
        clients.append(AiozClient(make_config(auth, **overrides), **pacing))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture(params=["api_key", "bearer"])
async def client(request: pytest.FixtureRequest, make_client: Callable[..., AiozClient]) -> AiozClient:
    """A client over real HTTP, once per auth mode."""
    return make_client(request.param)


@pytest.fixture
async def key(client: AiozClient) -> LiveStreamKey:
    return await client.create_live_stream_key("creator-1", save=True)
