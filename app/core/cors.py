"""Cross-origin access for browser clients: one policy (`CORS_ALLOW_ORIGINS`) for REST and Socket.IO.

Tokens travel in the `Authorization` header (Socket.IO: the handshake's `auth.token`), never in
cookies, so credentials mode stays off and an allowed origin gains nothing a script on it could not
already do with the token it holds. Which origins are allowed is `app.core.origins`' `CorsPolicy`.
Same-origin pages (the `/docs` playground) never need CORS.
"""

import functools
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.core.envelope import failure
from app.core.errors import ErrorCode, generic_message
from app.core.origins import CorsPolicy

ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# What clients send beyond the CORS-safelisted headers.
ALLOWED_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID")
# What a script may read beyond the safelisted response headers.
EXPOSED_HEADERS = ("Retry-After", "X-Request-ID", "WWW-Authenticate")
PREFLIGHT_MAX_AGE_SECONDS = 600


async def _never_called(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
    raise RuntimeError("CORS rules are applied by app.core.middleware.EdgeMiddleware, not as an app")


class Cors:
    """The policy's CORS answers, applied by the app's one middleware (`app.core.middleware`): Starlette's
    (pure ASGI) CORS rules with the policy's origins; a preflight that passes answers 204 without a
    body, one that fails answers the 400 envelope saying what was refused. Paths under `own_cors`
    (Socket.IO) are left to their app, which applies the same policy."""

    def __init__(self, policy: CorsPolicy, *, own_cors: tuple[str, ...] = ()) -> None:
        self.starlette = CORSMiddleware(
            _never_called,
            allow_origins=["*"] if policy.any_origin else list(policy.origins),
            allow_origin_regex=policy.origin_regex,
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            allow_credentials=False,
            max_age=PREFLIGHT_MAX_AGE_SECONDS,
        )
        self.policy = policy
        # Path prefixes whose app answers CORS itself (Engine.IO, with the same policy): a second
        # Access-Control-Allow-Origin header would make browsers refuse the answer.
        self.own_cors = own_cors
        exposed = ", ".join(EXPOSED_HEADERS).encode()
        self.allowed = [(b"access-control-expose-headers", exposed), (b"vary", b"Origin")]
        self.allowed_any = [(b"access-control-allow-origin", b"*"), *self.allowed]
        self.not_allowed = [(b"vary", b"Origin")]

    def response_headers(self, origin: bytes | None) -> list[tuple[bytes, bytes]]:
        """What an answer to a request other than an `OPTIONS` with `Origin` gets: the headers
        Starlette's general path adds, as raw pairs (that path builds header objects per answer, ~30 µs
        a request; this costs ~1-2 µs). `Vary: Origin` always, so a cache never serves one origin's
        answer to another."""
        if origin is not None and self.policy.allows(origin.decode("latin-1")):
            if self.policy.any_origin:
                return self.allowed_any
            return [(b"access-control-allow-origin", origin), *self.allowed]
        return self.not_allowed

    def options_send(self, send: Send, request_headers: Headers) -> Send:
        """`send` for an `OPTIONS` request with `Origin` that is not a preflight: Starlette's own."""
        return functools.partial(self.starlette.send, send=send, request_headers=request_headers)

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = self.starlette.preflight_response(request_headers)
        headers = {
            name: value
            for name, value in answer.headers.items()
            if name not in ("content-length", "content-type")
        }
        if answer.status_code < 400:
            return Response(status_code=204, headers=headers)
        refused = bytes(answer.body).decode().removeprefix("Disallowed CORS ")
        detail = f"CORS preflight refused: {refused} not allowed"
        return failure(400, [generic_message(400), detail], headers, ErrorCode.VALIDATION_FAILED)


def socketio_origins(policy: CorsPolicy) -> Any:
    """python-socketio's `cors_allowed_origins` for the policy: the page's own origin is always allowed
    (Engine.IO's same-origin default), other origins as for REST; clients without `Origin` (mobile
    apps, servers) are not concerned."""

    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        if policy.allows(origin):
            return True
        hosts = {environ.get("HTTP_HOST"), environ.get("HTTP_X_FORWARDED_HOST", "").split(",")[0].strip()}
        return origin is not None and urlsplit(origin).netloc in hosts - {None, ""}

    return "*" if policy.any_origin else allowed
