"""What sits in front of the fake's API: the call log, rate limiting and injected faults."""

import asyncio
import fnmatch
import time
from dataclasses import dataclass
from enum import StrEnum

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.aioz.fake import wire
from app.aioz.fake.routes import error_response

RATE_WINDOW_SECONDS = 60


class FaultKind(StrEnum):
    LATENCY = "latency"
    """Wait `delay` seconds, then handle the request normally (even if the client gave up)."""
    TIMEOUT = "timeout"
    """Never handle it: hang until the client disconnects, or drop the connection after `delay`."""
    SERVER_ERROR = "5xx"
    """Answer `status` (default 503) with AIOZ's error envelope; the request is not handled."""
    RATE_LIMIT = "429"
    """Answer 429 with the X-RateLimit-* and Retry-After headers; the request is not handled."""
    DROP = "drop"
    """Handle the request, then drop the connection instead of answering (a lost response)."""


@dataclass
class Fault:
    path: str
    """`fnmatch` pattern on the API path without the `/api` prefix, e.g. `/live_streams/*/streamings`."""
    kind: FaultKind | str
    count: int = 1
    method: str | None = None
    status: int = 503
    delay: float | None = None
    retry_after: int = 1

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        self.method = self.method.upper() if self.method else None
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.kind is FaultKind.SERVER_ERROR and not 500 <= self.status <= 599:
            raise ValueError("a 5xx fault needs a status from 500 to 599")
        if self.delay is None:
            self.delay = 30.0 if self.kind is FaultKind.TIMEOUT else 0.5

    def matches(self, method: str, path: str) -> bool:
        return self.method in (None, method) and fnmatch.fnmatchcase(path, self.path)


class DroppedConnection(httpx.RemoteProtocolError):
    """Raised after the response has started: uvicorn then closes the socket, and an in-process
    `httpx.ASGITransport` hands this transport error straight to the client."""


class RateLimiter:
    """A fixed one-minute window with the `X-RateLimit-*` headers (docs/aioz.md, "Rate limits")."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reset()

    def reset(self) -> None:
        self._window_start = time.monotonic()
        self._used = 0

    def hit(self) -> tuple[bool, dict[str, str]]:
        now = time.monotonic()
        if now - self._window_start >= RATE_WINDOW_SECONDS:
            self.reset()
        self._used += 1
        allowed = self._used <= self.limit
        retry_after = max(1, round(RATE_WINDOW_SECONDS - (now - self._window_start)))
        return allowed, {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.limit - self._used, 0)),
            "X-RateLimit-Retry-After": str(retry_after),
        }


class FakeGate:
    """ASGI middleware around the API: logs each call, counts it against the limit, applies faults."""

    def __init__(
        self, app: ASGIApp, *, calls: list[tuple[str, str]], faults: list[Fault], limiter: RateLimiter
    ):
        self.app = app
        self.calls = calls
        self.faults = faults
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"].removeprefix(scope.get("root_path", ""))
        self.calls.append((method, path))
        allowed, headers = self.limiter.hit()
        fault = self._take_fault(method, path)
        if fault is not None and fault.kind is FaultKind.RATE_LIMIT:
            allowed, headers = False, headers | {"X-RateLimit-Remaining": "0"}
            headers["X-RateLimit-Retry-After"] = str(fault.retry_after)
        if not allowed:
            headers["Retry-After"] = headers["X-RateLimit-Retry-After"]
            await error_response(429, wire.TOO_MANY_REQUESTS, headers)(scope, receive, send)
            return
        send = _with_headers(send, headers)
        if fault is None:
            await self.app(scope, receive, send)
        else:
            await _apply(fault, self.app, scope, receive, send)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        fault = next((f for f in self.faults if f.matches(method, path)), None)
        if fault is not None:
            fault.count -= 1
            if fault.count == 0:
                self.faults.remove(fault)
        return fault


async def _apply(fault: Fault, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    assert fault.delay is not None
    if fault.kind is FaultKind.SERVER_ERROR:
        await error_response(fault.status, wire.INTERNAL_ERROR)(scope, receive, send)
    elif fault.kind is FaultKind.LATENCY:
        await asyncio.sleep(fault.delay)
        await app(scope, receive, send)
    elif fault.kind is FaultKind.TIMEOUT:
        try:
            await asyncio.wait_for(_until_disconnect(receive), fault.delay)
        except TimeoutError:
            await _drop(send)
    else:  # DROP

        async def discard(message: Message) -> None:
            pass

        await app(scope, receive, discard)
        await _drop(send)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _drop(send: Send) -> None:
    # Headers go out with a body length that never arrives, so the client sees a broken connection.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
    raise DroppedConnection("connection dropped by an injected fault")


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    extra = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped
