"""The app's own request handling around the router, as one pure ASGI middleware.

Outermost first, each step as it would be as a middleware of its own:

1. CORS (`app.core.cors`, when a policy is set): a preflight is answered here (nothing below runs);
   other answers get the policy's headers.
2. Request metrics (`app.core.metrics`), recorded once the answer is sent, per route template.
3. The request id (`X-Request-ID`, asgi-correlation-id's rules and context variable, which every log
   line carries): kept when the client sent a valid one, generated otherwise, on every answer.
4. Unhandled errors: any unexpected exception becomes the 500 envelope (the 503 one for a database
   outage), which still carries the request id.
5. Query parameters sent twice: 400.
6. Bodies over `MAX_REQUEST_BYTES`: 413.

They were six middleware classes; each added a coroutine frame, a `send` wrapper and its own checks
to every request (~240 µs of the framework's event-loop CPU per request in a profiled run,
docs/benchmarks.md, issue 25). Folded, a request pays one frame and one `send` wrapper. A
`@app.middleware("http")` would cost ~200 µs a request on its own (docs/decisions.md).
"""

import logging
import os
from time import perf_counter
from urllib.parse import parse_qsl

import structlog
from asgi_correlation_id import correlation_id
from asgi_correlation_id.extensions.sentry import get_sentry_extension
from asgi_correlation_id.middleware import FAILED_VALIDATION_MESSAGE, is_valid_uuid4
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.cors import Cors
from app.core.envelope import failure, unavailable_failure
from app.core.errors import generic_message
from app.core.metrics import RequestMetrics

log = structlog.get_logger("app.errors")
request_id_log = logging.getLogger("asgi_correlation_id")  # where its middleware logged a refused id

REQUEST_ID_HEADER = b"x-request-id"


class RequestTooLarge(StarletteHTTPException):
    """Raised from `receive` when a streamed body crosses the limit; rendered as the 413 envelope."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=f"request body must be at most {max_bytes} bytes")


class EdgeMiddleware:
    """CORS, metrics, request id, unhandled errors, single-valued query and body size (module doc).

    `cors`: None without a CORS policy. `metrics`: None records nothing. `max_bytes`: None sets no
    body limit. WebSocket connections get the request id only; lifespan messages pass through.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        cors: Cors | None = None,
        metrics: RequestMetrics | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.cors = cors
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.sentry_extension = get_sentry_extension()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                self._take_request_id(scope)
            await self.app(scope, receive, send)
            return
        cors_headers: list[tuple[bytes, bytes]] = []
        if self.cors is not None and not scope["path"].startswith(self.cors.own_cors):
            origin = _header(scope, b"origin")
            if origin is not None and scope["method"] == "OPTIONS":
                request_headers = Headers(scope=scope)
                if "access-control-request-method" in request_headers:  # a preflight: answered here
                    await self.cors.preflight_response(request_headers)(scope, receive, send)
                    return
                send = self.cors.options_send(send, request_headers)  # a plain OPTIONS: as Starlette does
            else:
                cors_headers = self.cors.response_headers(origin)

        started_at = perf_counter()
        root_path = scope.get("root_path", "")
        status, response_size, started = 500, 0, False

        async def edge_send(message: Message) -> None:
            nonlocal status, response_size, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", ()))
                for name, value in headers:
                    if name == b"content-length":
                        response_size = int(value)
                        break
                if request_id := correlation_id.get():
                    headers.append((REQUEST_ID_HEADER, request_id.encode("latin-1")))
                message["headers"] = headers + cors_headers if cors_headers else headers
            await send(message)

        try:
            self._take_request_id(scope)
            try:
                refusal = self._refusal(scope)
                if refusal is not None:
                    await refusal(scope, receive, edge_send)
                    return
                try:
                    await self.app(scope, self._counting(receive), edge_send)
                except RequestTooLarge:
                    if started:
                        raise
                    await self._too_large()(scope, receive, edge_send)
            except Exception as exc:
                unavailable = unavailable_failure(exc, f"{scope.get('method')} {scope.get('path')}")
                if unavailable is None:
                    log.exception("unhandled_error", path=scope.get("path"), method=scope.get("method"))
                if started:
                    raise
                await (unavailable or failure(500, [generic_message(500)]))(scope, receive, edge_send)
        finally:
            if self.metrics is not None:
                self.metrics.record(scope, root_path, status, response_size, started_at)

    def _take_request_id(self, scope: Scope) -> None:
        """The client's `X-Request-ID` when it is a UUID (32 hex digits, dashes optional), a new one
        otherwise; written into the request's headers and the context variable the logs read."""
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        scope["headers"] = headers
        sent = _header(scope, REQUEST_ID_HEADER)
        if sent is None:  # the usual case: a new id, added
            request_id = new_request_id()
            headers.append((REQUEST_ID_HEADER, request_id.encode("latin-1")))
        else:
            value = sent.decode("latin-1")
            if not value:
                request_id = new_request_id()
            elif not is_valid_uuid4(value):
                request_id = new_request_id()
                request_id_log.warning(FAILED_VALIDATION_MESSAGE, request_id)
            else:
                request_id = value
            if request_id != value:
                _set_header(headers, REQUEST_ID_HEADER, request_id.encode("latin-1"))
        correlation_id.set(request_id)
        self.sentry_extension(request_id)

    def _refusal(self, scope: Scope) -> Response | None:
        """The answer to a request refused before the app runs: a query parameter given twice (400),
        unless its name ends with `[]`, then a declared `Content-Length` over the limit (413).

        Starlette silently keeps the last value of a repeated parameter, so `?limit=5&limit=500`
        means whatever the parser picks, and a proxy or WAF in front of us may have checked another
        one (HTTP parameter pollution). Parameters that take several values follow the API's `name[]`
        convention (`types[]`, `statuses[]`).
        """
        query: bytes = scope.get("query_string", b"")
        if b"&" in query:
            seen: set[str] = set()
            for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if name in seen and not name.endswith("[]"):
                    detail = f"query parameter {name!r} must be given at most once"
                    return failure(400, [generic_message(400), detail])
                seen.add(name)
        if self.max_bytes is not None:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_bytes:
                return self._too_large()
        return None

    def _counting(self, receive: Receive) -> Receive:
        """`receive` counting the body while it streams (chunked, or longer than it claimed): crossing
        the limit stops the read with `RequestTooLarge`, which the app's HTTP error handler (or, outside
        it, this middleware) turns into the same 413. Nothing is buffered here."""
        max_bytes = self.max_bytes
        if max_bytes is None:
            return receive
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise RequestTooLarge(max_bytes)
            return message

        return counting_receive

    def _too_large(self) -> Response:
        assert self.max_bytes is not None
        detail = RequestTooLarge(self.max_bytes).detail
        return failure(413, [generic_message(413), detail])


_ID_BLOCK = 256  # ids drawn from one `os.urandom` call
_fresh_ids: list[str] = []
os.register_at_fork(after_in_child=_fresh_ids.clear)  # a forked worker never reuses its parent's ids


def new_request_id() -> str:
    """What `uuid.uuid4().hex` answers (16 random bytes from `os.urandom`, version 4, RFC 4122 variant),
    drawn 256 at a time: `uuid4()` costs a system call and a validating `UUID` object per request.
    `list.pop` is atomic, so threads never share an id; a thread finding the list empty refills it."""
    try:
        return _fresh_ids.pop()
    except IndexError:
        pass
    block = bytearray(os.urandom(16 * _ID_BLOCK))
    ids = []
    for start in range(0, len(block), 16):
        block[start + 6] = (block[start + 6] & 0x0F) | 0x40  # version 4
        block[start + 8] = (block[start + 8] & 0x3F) | 0x80  # variant RFC 4122
        ids.append(block[start : start + 16].hex())
    _fresh_ids.extend(ids[1:])
    return ids[0]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _set_header(headers: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    """Starlette's `MutableHeaders.__setitem__`: the first `name` header replaced, the others removed."""
    found = [i for i, (key, _) in enumerate(headers) if key == name]
    if not found:
        headers.append((name, value))
        return
    for i in reversed(found[1:]):
        del headers[i]
    headers[found[0]] = (name, value)


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
