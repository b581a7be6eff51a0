"""A real server for Socket.IO tests: the app under uvicorn on a free loopback port, in this event loop.

python-socketio's client needs a real socket, so `ASGITransport` will not do; HTTP calls go to the same
server. `Live.connect` opens a client on a namespace and remembers every event it receives.
"""

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import socketio
import uvicorn
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app
from tests.conftest import make_settings
from tests.helpers import SHARED_TLS


@dataclass
class Received:
    """Events a client got, by name, with a way to wait for the next one."""

    events: dict[str, list[Any]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, name: str, payload: Any) -> None:
        self.events.setdefault(name, []).append(payload)
        self.arrived.set()

    def of(self, name: str) -> list[Any]:
        return self.events.get(name, [])

    async def wait_for(self, name: str, count: int = 1, within: float = 5.0) -> list[Any]:
        async def until() -> None:
            while len(self.of(name)) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(until(), within)
        return self.of(name)


EVENTS = ("liveStreamStatus", "recordingReady", "viewerCount", "chatMessage", "superlike", "banned")


@dataclass
class Live:
    app: FastAPI
    url: str
    http: httpx.AsyncClient
    clients: list[socketio.AsyncClient] = field(default_factory=list)

    async def connect(
        self, namespace: str, token: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[socketio.AsyncClient, Received]:
        client = socketio.AsyncClient(reconnection=False)
        received = Received()
        for name in EVENTS:
            client.on(name, _recorder(received, name), namespace=namespace)
        client.on("disconnect", _recorder(received, "disconnect"), namespace=namespace)
        client.on("connect_error", _recorder(received, "connect_error"), namespace=namespace)
        auth = {"token": token} if token else None
        try:
            await client.connect(
                self.url, namespaces=[namespace], auth=auth, headers=headers or {}, wait_timeout=5
            )
        except socketio.exceptions.ConnectionError as exc:
            exc.add_note(repr(received.of("connect_error")))  # the server's refusal, for the assertions
            raise
        self.clients.append(client)
        return client, received

    async def user(self, **fields: Any) -> tuple[dict[str, Any], str]:
        body = {"username": f"u{uuid.uuid4().hex[:10]}", **fields}
        response = await self.http.post("/api/v1/dev/users", json=body)
        assert response.status_code == 201, response.text
        data = response.json()["data"]
        return data["user"], data["accessToken"]


def _recorder(received: Received, name: str) -> Any:
    async def handler(*args: Any) -> None:
        received.add(name, args[0] if args else None)

    return handler


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def serve(app: FastAPI) -> AsyncIterator[str]:
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
def realtime_settings(tmp_path: Any) -> Settings:
    return make_settings(
        media_dir=str(tmp_path / "media"),
        realtime_presence_grace_seconds=0.3,
        realtime_viewer_count_interval_seconds=0.5,
    )


@pytest.fixture
async def live(realtime_settings: Settings) -> AsyncIterator[Live]:
    app = create_app(realtime_settings)
    async for url in serve(app):
        async with httpx.AsyncClient(base_url=url, timeout=10, verify=SHARED_TLS) as http:
            harness = Live(app, url, http)
            try:
                yield harness
            finally:
                for client in harness.clients:
                    if client.connected:
                        await client.disconnect()
