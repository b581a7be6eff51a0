"""`FakeAioz`: a local AIOZ Stream for tests, demos and development without credentials."""

from typing import Any, Literal

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from app.aioz.client import AiozClient
from app.aioz.config import AiozConfig
from app.aioz.fake.auth import Accounts, FakeAccount
from app.aioz.fake.control import build_control
from app.aioz.fake.faults import FakeGate, Fault, FaultKind, RateLimiter
from app.aioz.fake.routes import build_api
from app.aioz.fake.state import DEFAULT_RTMP_URL, FakeStore

IN_PROCESS_BASE_URL = "http://aioz-fake/api"


class FakeAioz:
    """In-memory AIOZ Stream. `.app` serves the API under `/api` and the control API under `/_fake`.

    Control methods stand in for what an encoder and AIOZ's ingest would cause; `calls` lists every API
    request as `(method, path)` with the path relative to `/api`.
    """

    def __init__(
        self, *accounts: FakeAccount, rate_limit: int = 600, rtmp_url: str = DEFAULT_RTMP_URL
    ) -> None:
        self.accounts = accounts or (FakeAccount(),)
        self.store = FakeStore(rtmp_url=rtmp_url)
        self.calls: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.limiter = RateLimiter(rate_limit)
        api = FakeGate(
            build_api(self.store, Accounts(self.accounts)),
            calls=self.calls,
            faults=self.faults,
            limiter=self.limiter,
        )
        self.app = Starlette(routes=[Mount("/api", app=api), Mount("/_fake", app=build_control(self))])

    @property
    def account(self) -> FakeAccount:
        return self.accounts[0]

    def config(
        self,
        base_url: str = IN_PROCESS_BASE_URL,
        *,
        auth: Literal["api_key", "bearer"] = "api_key",
        **overrides: Any,
    ) -> AiozConfig:
        """Client settings carrying the first account's credentials in the chosen auth mode."""
        if auth == "bearer":
            credentials = {"api_token": self.account.api_token}
        else:
            credentials = {"public_key": self.account.public_key, "secret_key": self.account.secret_key}
        return AiozConfig(base_url=base_url, **credentials | overrides)

    def client(self, **overrides: Any) -> AiozClient:
        """An `AiozClient` talking to this fake in-process (no socket)."""
        return AiozClient(self.config(**overrides), transport=httpx.ASGITransport(app=self.app))

    def go_live(self, stream_id: str) -> dict[str, Any]:
        """An encoder starts publishing: `created` → `streaming`."""
        return self.store.go_live(stream_id)

    def end_stream(self, stream_id: str) -> dict[str, Any]:
        """The encoder disconnects: → `end`; without `save` the streaming is deleted."""
        return self.store.end_stream(stream_id)

    def produce_recording(self, stream_id: str, *, failed: bool = False) -> dict[str, Any]:
        """Finish a saved recording: media `done` with `assets.hls_url`/`mp4_url` (or `fail`)."""
        return self.store.produce_recording(stream_id, failed=failed)

    def inject_fault(
        self,
        path: str,
        kind: FaultKind | str,
        count: int = 1,
        *,
        method: str | None = None,
        status: int = 503,
        delay: float | None = None,
        retry_after: int = 1,
    ) -> Fault:
        """Make the next `count` API calls matching `path` (fnmatch, relative to `/api`) fail as `kind`."""
        fault = Fault(path, kind, count, method=method, status=status, delay=delay, retry_after=retry_after)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset(self) -> None:
        """Forget all keys, streamings, faults, calls and rate-limit usage (accounts stay)."""
        self.store.clear()
        self.calls.clear()
        self.faults.clear()
        self.limiter.reset()
