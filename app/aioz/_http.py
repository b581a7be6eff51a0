"""The HTTP engine under `AiozClient`: auth, one attempt, retries, the per-call deadline and logging."""

import asyncio
import functools
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import structlog

from app.aioz._retry import Retry, not_processed, retry_delay
from app.aioz.config import AiozConfig
from app.aioz.errors import AiozError, AiozTimeout, error_from_response, error_from_transport

LOGGER = "app.aioz"

USER_AGENT = "allmine-live-aioz/0.1"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verified context (certifi's CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR), built
    once per process: httpx loads the bundle for every client it builds (~35 ms of CPU), and a process
    that builds several clients (tests, one app per test) shares one context."""
    return httpx.create_ssl_context()


Recover = Callable[[], Awaitable[Any]]
Sleep = Callable[[float], Awaitable[Any]]


class AiozHttp:
    """One shared `httpx.AsyncClient`. Logs one line per HTTP attempt, never headers, ids or bodies.

    `sleep` (the pauses between attempts) and `monotonic` (the retry budget) are injectable so tests
    can drive retries by hand; the deadline's hard cut (`asyncio.timeout`) always runs on real time.
    """

    def __init__(
        self,
        config: AiozConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._sleep, self._monotonic = sleep, monotonic
        self._client = httpx.AsyncClient(
            base_url=config.base_url,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT, **config.auth_headers()},
            timeout=httpx.Timeout(
                connect=config.connect_timeout,
                read=config.read_timeout,
                write=config.write_timeout,
                pool=config.pool_timeout,
            ),
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_keepalive_connections,
            ),
            transport=transport,
            verify=tls_context(),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        template: str,
        *,
        path_params: Mapping[str, str] | None = None,
        retry: Retry = Retry.SAFE,
        recover: Recover | None = None,
        **kwargs: Any,
    ) -> Any:
        """Send with retries and return the envelope's `data` (None for message-only answers).

        `template` is the path with `{placeholders}`; only the template is logged. `recover` makes an
        UNSAFE call retryable after an ambiguous failure: it runs before each re-send and, when it finds
        what the failed attempt already created, its result is returned instead of sending again.
        `kwargs` go to `httpx.AsyncClient.request` (`params`, `json`, `files`).
        """
        url = template.format_map(path_params or {})
        deadline = self._monotonic() + self._config.deadline_seconds
        send = functools.partial(self._attempt, method, url, template, kwargs)
        try:
            async with asyncio.timeout(self._config.deadline_seconds):
                return await self._send_with_retries(send, deadline, retry, recover)
        except TimeoutError:
            raise AiozTimeout(
                f"AIOZ call {method} {template} exceeded its {self._config.deadline_seconds:g}s deadline"
            ) from None

    async def _send_with_retries(
        self, send: Callable[[int], Awaitable[Any]], deadline: float, retry: Retry, recover: Recover | None
    ) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await send(attempt)
            except AiozError as exc:
                may_resend = retry is Retry.SAFE or recover is not None or not_processed(exc)
                delay = retry_delay(exc, attempt, self._config, may_resend=may_resend)
                if delay is None or self._monotonic() + delay >= deadline:
                    raise
                await self._sleep(delay)
                if recover is not None and not not_processed(exc):
                    found = await recover()
                    if found is not None:
                        return found

    async def _attempt(
        self, method: str, url: str, template: str, kwargs: dict[str, Any], attempt: int
    ) -> Any:
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            response = await self._client.request(method, url, **kwargs)
            status = response.status_code
            if response.is_success:
                return _data(response)
            raise error_from_response(response)
        except httpx.TransportError as exc:
            error = type(exc).__name__
            raise error_from_transport(exc) from exc
        except asyncio.CancelledError:
            error = "cancelled"
            raise
        finally:
            fields: dict[str, Any] = {
                "method": method,
                "path": template,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "attempt": attempt,
            }
            if error:
                fields["error"] = error
            healthy = status is not None and status < 500 and status != 429
            # Looked up per call so a reconfigured structlog (e.g. `capture_logs` in tests) always applies.
            log = structlog.get_logger(LOGGER)
            (log.info if healthy else log.warning)("aioz.request", **fields)


def _data(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        raise AiozError(
            "AIOZ answered with a body that is not JSON", status_code=response.status_code
        ) from None
    return body.get("data") if isinstance(body, dict) else None
