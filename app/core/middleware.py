"""Pure ASGI middleware (a `@app.middleware("http")` costs ~200 µs per request, see docs/decisions.md)."""

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.envelope import failure
from app.core.errors import generic_message

log = structlog.get_logger("app.errors")


class UnhandledErrorMiddleware:
    """Turn any unexpected exception into the 500 envelope, inside the request-id middleware.

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
        except Exception:
            log.exception("unhandled_error", path=scope.get("path"), method=scope.get("method"))
            if started:
                raise
            await failure(500, [generic_message(500)])(scope, receive, send)
