"""Realtime fan-out: one chat message every 100 ms to N sockets in one stream's room, app vs bare emit.

    python -m bench --realtime [--sockets 200] [--realtime-seconds 4] [--realtime-interval 0.1]

Each side is a uvicorn subprocess on loopback (its CPU read from /proc/<pid>/stat); the driver (this
process) holds the N `socketio.AsyncClient`s on `/stream-chat`:

- app: the real app (embedded engine unless `MONGODB_URL` is set); N dev users, one started stream,
  every socket `joinStream`s it; messages go through `POST /api/v1/live-stream/{id}/chat/messages`
  (round-robin senders, so the chat rate limit of 5 per 10 s per user is never hit), and reach the
  sockets through the app's own path (event hub → pump → `sio.emit` to the stream room).
- bare: a minimal `socketio.AsyncServer` whose `joinStream` enters a room and whose `POST /emit` emits
  the body (the same payload the app sent) to that room — python-socketio's own cost, nothing else.

Latency is from just before the POST to the client's `chatMessage` handler (same clock, this process);
CPU per delivered message is the server's user+system CPU over the send window plus the drain, divided
by the deliveries that arrived. Server modes (internal): `python -m bench.realtime app|bare PORT`.
"""

import asyncio
import contextlib
import gc
import json
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import socketio
import uvicorn

CHAT_NS = "/stream-chat"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class FanoutResult:
    target: str
    sockets: int
    messages: int
    delivered: int
    expected: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_seconds: float
    cpu_us_per_delivery: float
    gc_seconds: float = 0.0  # the server's time in the garbage collector over the same window
    gc_collections: str = ""  # collections per generation over the window, "gen0/gen1/gen2"
    heap_objects: int = 0  # objects the collector tracks in the server after the setup


TARGET = 1.5  # app / bare CPU per delivered message (issue 16)


# --- server processes -----------------------------------------------------------------------------


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def app_server() -> Any:
    from app.core.config import Settings
    from app.main import create_app

    return create_app(
        Settings(
            app_env="development",
            mongodb_db=f"bench_rt_{uuid.uuid4().hex[:8]}",
            seed_demo=False,
            background_tasks=False,
            log_level="WARNING",
            log_json=False,
            media_dir=tempfile.mkdtemp(prefix="allmine-bench-rt-"),
        )
    )


def bare_server() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    sio = socketio.AsyncServer(async_mode="asgi")

    @sio.on("joinStream", namespace=CHAT_NS)  # type: ignore[misc]
    async def join(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        await sio.enter_room(sid, data["streamId"], namespace=CHAT_NS)
        return {"ok": True}

    async def emit(request: Request) -> JSONResponse:
        body = await request.json()
        await sio.emit("chatMessage", body, to=body["streamId"], namespace=CHAT_NS)
        return JSONResponse({"ok": True}, status_code=201)

    return socketio.ASGIApp(sio, Starlette(routes=[Route("/emit", emit, methods=["POST"])]))


class _GcClock:
    """Time spent in the garbage collector, per generation (gc.callbacks), for the driver to read."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started
            self.collections[info["generation"]] += 1

    def wrap(self, app: Any) -> Any:
        """`app` plus `GET /__gc`: the collector's totals so far and the objects it tracks."""

        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/__gc":
                body = json.dumps(
                    {
                        "seconds": self.seconds,
                        "collections": self.collections,
                        "objects": len(gc.get_objects()),
                    }
                ).encode()
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": body})
                return
            await app(scope, receive, send)

        return asgi


def serve(kind: str, port: int) -> None:
    _raise_nofile()
    app = _GcClock().wrap(app_server() if kind == "app" else bare_server())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")


# --- driver ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15 of stat)


@contextlib.asynccontextmanager
async def subprocess_server(kind: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.realtime", kind, str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                if process.returncode is not None:
                    raise RuntimeError(f"{kind} server exited with {process.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    await http.get(f"{url}/socket.io/?EIO=4&transport=polling")
                    break
                await asyncio.sleep(0.1)
        yield process, url
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:  # a slow graceful shutdown (many sockets) does not matter here
            process.kill()
            await process.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Collector:
    """Latencies of `chatMessage` deliveries; `all_in` is set once `expected` of them arrived."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.expected = -1
        self.all_in = asyncio.Event()

    async def on_message(self, data: dict[str, Any]) -> None:
        started = self.sent.get(data.get("content", ""))
        if started is not None:
            self.latencies.append(time.perf_counter() - started)
            if len(self.latencies) == self.expected:
                self.all_in.set()


async def _connect_all(
    url: str, tokens: list[str | None], stream_id: str, on_message: Any
) -> list[socketio.AsyncClient]:
    clients: list[socketio.AsyncClient] = []

    async def one(token: str | None) -> None:
        client = socketio.AsyncClient(reconnection=False)
        client.on("chatMessage", on_message, namespace=CHAT_NS)
        auth = {"token": token} if token else None
        await client.connect(url, namespaces=[CHAT_NS], auth=auth, transports=["websocket"], wait_timeout=30)
        ack = await client.call("joinStream", {"streamId": stream_id}, namespace=CHAT_NS, timeout=30)
        if ack.get("ok") is not True:
            raise RuntimeError(f"joinStream refused: {ack}")
        clients.append(client)

    for start in range(0, len(tokens), 50):
        await asyncio.gather(*(one(t) for t in tokens[start : start + 50]))
    return clients


async def _setup_app(http: httpx.AsyncClient, sockets: int) -> tuple[list[str], str]:
    async def user() -> str:
        response = await http.post("/api/v1/dev/users", json={"username": f"rt{uuid.uuid4().hex[:10]}"})
        response.raise_for_status()
        return str(response.json()["data"]["accessToken"])

    creator = await user()
    tokens: list[str] = []
    for start in range(0, sockets, 50):
        tokens += await asyncio.gather(*(user() for _ in range(min(50, sockets - start))))
    headers = {"Authorization": f"Bearer {creator}"}
    created = await http.post(
        "/api/v1/live-stream/create", data={"title": "Fan-out"}, files={"_": (None, "")}, headers=headers
    )
    created.raise_for_status()
    stream_id = created.json()["data"]["id"]
    (await http.post(f"/api/v1/live-stream/{stream_id}/start", headers=headers)).raise_for_status()
    return tokens, stream_id


async def fanout(
    kind: str, sockets: int, seconds: float, interval: float, payload: dict[str, Any] | None
) -> tuple[FanoutResult, dict[str, Any] | None]:
    async with subprocess_server(kind) as (process, url), httpx.AsyncClient(base_url=url, timeout=30) as http:
        if kind == "app":
            tokens, stream_id = await _setup_app(http, sockets)
            socket_tokens: list[str | None] = list(tokens)
        else:
            stream_id, tokens, socket_tokens = "bench-room", [], [None] * sockets
        got = Collector()
        clients = await _connect_all(url, socket_tokens, stream_id, got.on_message)
        messages = max(1, round(seconds / interval))
        got.expected = expected = messages * sockets
        first: dict[str, Any] | None = None
        await asyncio.sleep(0.5)  # joins settle (viewer counts, presence) before the clock starts
        gc0 = (await http.get("/__gc")).json()
        cpu0 = cpu_seconds(process.pid)
        tick = time.perf_counter()
        posts = []

        async def send(seq: int) -> None:
            nonlocal first
            content = f"bench {seq}"
            got.sent[content] = time.perf_counter()
            if kind == "app":
                token = tokens[seq % len(tokens)]
                response = await http.post(
                    f"/api/v1/live-stream/{stream_id}/chat/messages",
                    json={"content": content},
                    headers={"Authorization": f"Bearer {token}"},
                )
                response.raise_for_status()
                if first is None:
                    first = response.json()["data"]
            else:
                body = {**(payload or {}), "streamId": stream_id, "content": content}
                (await http.post("/emit", json=body)).raise_for_status()

        for seq in range(messages):
            posts.append(asyncio.create_task(send(seq)))
            tick += interval
            await asyncio.sleep(max(0.0, tick - time.perf_counter()))
        await asyncio.gather(*posts)
        with contextlib.suppress(TimeoutError):  # a short count shows in `delivered`
            await asyncio.wait_for(got.all_in.wait(), 10)
        cpu = cpu_seconds(process.pid) - cpu0
        gc1 = (await http.get("/__gc")).json()
        await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
    ms = [x * 1000 for x in got.latencies]
    result = FanoutResult(
        target=kind,
        sockets=sockets,
        messages=messages,
        delivered=len(got.latencies),
        expected=expected,
        p50_ms=round(statistics.median(ms), 2) if ms else float("nan"),
        p99_ms=round(percentile(ms, 0.99), 2),
        max_ms=round(max(ms), 2) if ms else float("nan"),
        cpu_seconds=round(cpu, 3),
        cpu_us_per_delivery=round(cpu / max(1, len(got.latencies)) * 1e6, 2),
        gc_seconds=round(gc1["seconds"] - gc0["seconds"], 3),
        gc_collections="/".join(
            str(b - a) for a, b in zip(gc0["collections"], gc1["collections"], strict=True)
        ),
        heap_objects=gc0["objects"],
    )
    return result, first


def render(results: list[FanoutResult], ratio: float) -> str:
    lines = [
        "| target | sockets | messages | delivered | p50 ms | p99 ms | max ms | server CPU s | CPU µs/delivery "
        "| GC s | GC runs gen0/1/2 | heap objects |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.target} | {r.sockets} | {r.messages} | {r.delivered}/{r.expected} | {r.p50_ms} | "
            f"{r.p99_ms} | {r.max_ms} | {r.cpu_seconds} | {r.cpu_us_per_delivery} | {r.gc_seconds} | "
            f"{r.gc_collections} | {r.heap_objects:,} |"
        )
    lines.append(f"\nCPU per delivered message, app / bare: **{ratio:.2f}** (target ≤ {TARGET})")
    return "\n".join(lines)


async def run(sockets: int, seconds: float, interval: float) -> tuple[list[FanoutResult], float]:
    _raise_nofile()
    app, payload = await fanout("app", sockets, seconds, interval, None)
    print(f"app:  {asdict(app)}", flush=True)
    bare, _ = await fanout("bare", sockets, seconds, interval, payload)
    print(f"bare: {asdict(bare)}", flush=True)
    ratio = app.cpu_us_per_delivery / bare.cpu_us_per_delivery if bare.cpu_us_per_delivery else float("nan")
    return [app, bare], ratio


def target_line(sockets: int, ratio: float, results: list[FanoutResult] | None = None) -> str:
    """The fan-out target's verdict; with the run's results, the figures it came from (and, on a miss,
    where the app's extra CPU per delivery shows: its share in the garbage collector, lost deliveries)."""
    verdict = "✅ met" if ratio <= TARGET else "❌ missed"
    line = f"{verdict}: realtime fan-out to {sockets} sockets, app / bare CPU per delivery {ratio:.2f} (target ≤ {TARGET})"
    by_target = {r.target: r for r in results or []}
    app, bare = by_target.get("app"), by_target.get("bare")
    if app is None or bare is None:
        return line
    figures = (
        f"app {app.cpu_us_per_delivery:,.1f} µs vs bare {bare.cpu_us_per_delivery:,.1f} µs server CPU per "
        f"delivery, p50 {app.p50_ms} vs {bare.p50_ms} ms"
    )
    if ratio <= TARGET:
        return f"{line[:-1]}; {figures})"
    gc_app = app.gc_seconds * 1e6 / max(1, app.delivered)
    gc_bare = bare.gc_seconds * 1e6 / max(1, bare.delivered)
    cause = (
        f"{figures}; app +{app.cpu_us_per_delivery - bare.cpu_us_per_delivery:,.1f} µs per delivery, of which "
        f"garbage collection {gc_app - gc_bare:+,.1f} µs (collections {app.gc_collections} vs {bare.gc_collections}); "
        f"delivered {app.delivered:,}/{app.expected:,} vs {bare.delivered:,}/{bare.expected:,}"
    )
    return f"{line} — cause: {cause}"


def measure(sockets: int, seconds: float, interval: float) -> tuple[list[FanoutResult], float]:
    """Run app and bare, print and save the results; (the results, the app / bare ratio)."""
    results, ratio = asyncio.run(run(sockets, seconds, interval))
    print(render(results, ratio))
    out = os.path.join(os.path.dirname(__file__), "results")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"realtime-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump({"results": [asdict(r) for r in results], "ratio": ratio}, f, indent=2)
    print(f"wrote {path}")
    print(target_line(sockets, ratio, results))
    return results, ratio


def main(sockets: int, seconds: float, interval: float) -> float:
    """`python -m bench --realtime`: the fan-out run alone; the app / bare ratio."""
    return measure(sockets, seconds, interval)[1]


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
