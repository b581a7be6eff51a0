"""The app's one middleware (`app.core.middleware.EdgeMiddleware`): its steps keep the order they had as
six middleware classes (CORS outermost, then metrics, request id, 500 catcher, repeated query, body size)."""

import re
import uuid

from asgi_correlation_id import correlation_id
from asgi_correlation_id.middleware import is_valid_uuid4
from prometheus_client import REGISTRY
from starlette.types import Message, Receive, Scope, Send

from app.core.middleware import EdgeMiddleware, new_request_id
from tests.streams import API

ORIGIN = {"Origin": "http://localhost:5173"}


def _count(method: str, status: str, handler: str) -> float:
    labels = {"method": method, "status": status, "handler": handler}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def _names(raw: list[tuple[bytes, bytes]]) -> list[bytes]:
    return [name.lower() for name, _ in raw]


async def test_the_request_id_follows_the_apps_headers_and_cors_comes_last(client):
    answer = await client.get(f"{API}/featured", headers=ORIGIN)
    names = _names(answer.headers.raw)
    assert names[-4:] == [
        b"x-request-id",
        b"access-control-allow-origin",
        b"access-control-expose-headers",
        b"vary",
    ]
    assert names.index(b"content-type") < names.index(b"x-request-id")


async def test_a_preflight_is_answered_before_the_request_id_and_metrics(client):
    before = _count("OPTIONS", "2xx", f"{API}/join"), _count("OPTIONS", "2xx", "none")
    preflight = {**ORIGIN, "Access-Control-Request-Method": "POST"}
    answer = await client.options(f"{API}/join", headers=preflight)
    assert answer.status_code == 204 and "x-request-id" not in answer.headers
    assert (_count("OPTIONS", "2xx", f"{API}/join"), _count("OPTIONS", "2xx", "none")) == before


async def test_a_plain_options_with_origin_reaches_the_app_with_starlettes_cors_headers(client):
    before = _count("OPTIONS", "4xx", f"{API}/join")
    answer = await client.options(f"{API}/join", headers=ORIGIN)
    assert answer.status_code == 405
    assert answer.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
    assert _count("OPTIONS", "4xx", f"{API}/join") == before + 1


async def test_refusals_before_the_app_carry_the_request_id_and_cors_and_are_counted(client):
    before = _count("GET", "4xx", "none"), _count("POST", "4xx", "none")
    repeated = await client.get(
        f"{API}/featured?limit=1&limit=2", headers={**ORIGIN, "X-Request-ID": "a" * 32}
    )
    assert repeated.status_code == 400 and repeated.headers["x-request-id"] == "a" * 32
    assert repeated.headers["access-control-allow-origin"] == "http://localhost:5173"
    too_large = await client.post(
        f"{API}/join", content=b"{}", headers={**ORIGIN, "Content-Length": str(64 * 1024 * 1024)}
    )
    assert too_large.status_code == 413 and too_large.headers["vary"] == "Origin"
    assert re.fullmatch(r"[0-9a-f]{32}", too_large.headers["x-request-id"])
    assert (_count("GET", "4xx", "none"), _count("POST", "4xx", "none")) == (before[0] + 1, before[1] + 1)


async def test_a_websocket_gets_the_request_id_only():
    seen: dict[str, object] = {}

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen["headers"], seen["request_id"] = scope["headers"], correlation_id.get()

    async def no_send(message: Message) -> None:
        raise AssertionError("nothing is sent")

    scope = {"type": "websocket", "path": "/socket.io/", "headers": [(b"x-request-id", b"not an id")]}
    await EdgeMiddleware(inner, max_bytes=1)(scope, no_send, no_send)  # type: ignore[arg-type]
    assert isinstance(seen["request_id"], str) and re.fullmatch(r"[0-9a-f]{32}", seen["request_id"])
    assert seen["headers"] == [(b"x-request-id", seen["request_id"].encode())]


def test_new_request_ids_are_random_version_4_uuids_never_repeated():
    ids = [new_request_id() for _ in range(3 * 256 + 7)]  # several blocks of the pool
    assert len(set(ids)) == len(ids)
    for request_id in ids:
        parsed = uuid.UUID(hex=request_id)
        assert parsed.hex == request_id and parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert is_valid_uuid4(request_id)  # what a client may send back
    # version and variant bits are all that is fixed: the other 122 bits vary across ids
    varying = 0
    for request_id in ids[1:]:
        varying |= int(request_id, 16) ^ int(ids[0], 16)
    assert bin(varying).count("1") == 122
