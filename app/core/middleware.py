"""Pure ASGI middleware (a `@app.middleware("http")` costs ~200 µs per request, see docs/decisions.md)."""

from urllib.parse import parse_qsl

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.envelope import failure, unavailable_failure
from app.core.errors import generic_message

log = structlog.get_logger("app.errors")


class UnhandledErrorMiddleware:
    """Turn any unexpected exception into the 500 envelope, inside the request-id middleware.

    A database-unavailable error that escaped the exception handlers (raised outside a route) still
    answers the 503 envelope, like inside one.

    Starlette's own last-resort handler runs outside every user middleware, so its answer would miss the
    `X-Request-ID` header that lets a client quote the failing request. No exception text is sent.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            unavailable = unavailable_failure(exc, f"{scope.get('method')} {scope.get('path')}")
            if unavailable is None:
                log.exception("unhandled_error", path=scope.get("path"), method=scope.get("method"))
            if started:
                raise
            await (unavailable or failure(500, [generic_message(500)]))(scope, receive, send)


class RequestTooLarge(StarletteHTTPException):
    """Raised from `receive` when a streamed body crosses the limit; rendered as the 413 envelope."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=f"request body must be at most {max_bytes} bytes")


class BodySizeLimitMiddleware:
    """Refuse request bodies larger than `max_bytes` (`MAX_REQUEST_BYTES`) with the 413 envelope.

    A declared `Content-Length` over the limit is answered before the app runs, without reading a byte.
    A body without a length (chunked) or longer than it claimed is counted while it streams: crossing
    the limit stops the read with `RequestTooLarge`, which the app's HTTP error handler (or, outside
    it, this middleware) turns into the same 413. Nothing is buffered here.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except RequestTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = RequestTooLarge(self.max_bytes).detail
        await failure(413, [generic_message(413), detail])(scope, receive, send)


class SingleValuedQueryMiddleware:
    """Answer 400 when a query parameter is repeated, unless its name ends with `[]`.

    Starlette silently keeps the last value, so `?limit=5&limit=500` means whatever the parser picks, and
    a proxy or WAF in front of us may have checked another one (HTTP parameter pollution). Parameters
    that take several values follow the API's `name[]` convention (`types[]`, `statuses[]`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if b"&" in query:
            seen: set[str] = set()
            for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if name in seen and not name.endswith("[]"):
                    detail = f"query parameter {name!r} must be given at most once"
                    await failure(400, [generic_message(400), detail])(scope, receive, send)
                    return
                seen.add(name)
        await self.app(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
