"""The fake's AIOZ API routes (docs/aioz.md) with the `{"status": ..., "data"|"message": ...}` envelope."""

import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.aioz.fake import wire
from app.aioz.fake.auth import Accounts
from app.aioz.fake.state import FakeStore
from app.aioz.fake.wire import ApiError

Source = Literal["none", "query", "json"]

# (method, path, store operation, what the operation reads besides path ids). Order matters where
# literal segments (statistic, player, multicast) would otherwise be taken as ids.
ROUTES: tuple[tuple[str, str, str, Source], ...] = (
    ("POST", "/live_streams", "create_key", "json"),
    ("GET", "/live_streams", "list_keys", "query"),
    ("GET", "/live_streams/statistic/{stream_id}", "get_statistic", "none"),
    ("POST", "/live_streams/multicast/{stream_key}", "set_multicast", "json"),
    ("GET", "/live_streams/multicast/{stream_key}", "get_multicast", "none"),
    ("DELETE", "/live_streams/multicast/{stream_key}", "delete_multicast", "none"),
    ("GET", "/live_streams/{key_id}", "get_key", "none"),
    ("PUT", "/live_streams/{key_id}", "update_key", "json"),
    ("DELETE", "/live_streams/{key_id}", "delete_key", "none"),
    ("POST", "/live_streams/{key_id}/streamings", "create_streaming", "json"),
    ("GET", "/live_streams/{key_id}/streamings", "list_streamings", "query"),
    ("PUT", "/live_streams/{key_id}/streamings", "update_streaming", "json"),
    ("GET", "/live_streams/{key_id}/streamings/{stream_id}", "get_streaming", "none"),
    ("DELETE", "/live_streams/{first_id}/streamings/{second_id}", "delete_streaming", "none"),
    ("POST", "/live_streams/{key_id}/media", "list_media", "json"),
    ("GET", "/live_streams/{media_id}/media", "get_media", "none"),  # documented path
    ("GET", "/live_streams/{media_id}/video", "get_media", "none"),  # backend route
    ("DELETE", "/live_streams/{media_id}/thumbnail", "delete_thumbnail", "none"),
)


def build_api(store: FakeStore, accounts: Accounts) -> Starlette:
    async def player_media(request: Request) -> Response:  # the one route without authentication
        return envelope(store.get_player_media(request.path_params["media_id"]))

    async def upload_thumbnail(request: Request) -> Response:
        user_id = accounts.authenticate(request.headers)
        upload = (await request.form()).get("file")
        size = len(await upload.read()) if isinstance(upload, UploadFile) else None
        return envelope(store.set_thumbnail(user_id, request.path_params["media_id"], size), 201)

    routes = [
        Route("/live_streams/player/{media_id}/media", player_media, methods=["GET"]),
        Route("/live_streams/{media_id}/thumbnail", upload_thumbnail, methods=["POST"]),
    ]
    routes += [
        Route(path, _endpoint(getattr(store, operation), source, accounts), methods=[method])
        for method, path, operation, source in ROUTES
    ]
    return Starlette(routes=routes, exception_handlers={ApiError: _api_error, HTTPException: _route_error})


def envelope(result: dict[str, Any] | str, status_code: int = 200) -> JSONResponse:
    key = "message" if isinstance(result, str) else "data"
    return JSONResponse({"status": "success", key: result}, status_code)


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    status = "error" if status_code >= 500 else "fail"
    return JSONResponse({"status": status, "message": message}, status_code, headers=headers)


def _endpoint(
    operation: Callable[..., dict[str, Any] | str], source: Source, accounts: Accounts
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        args: list[Any] = [accounts.authenticate(request.headers), *request.path_params.values()]
        if source == "json":
            args.append(await _json_body(request))
        elif source == "query":
            args.append(request.query_params)
        return envelope(operation(*args))

    return endpoint


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ApiError(400, wire.INVALID_BODY) from None
    if not isinstance(body, dict):
        raise ApiError(400, wire.INVALID_BODY)
    return body


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.message)


async def _route_error(request: Request, exc: Exception) -> Response:
    # Echo's own 404/405 for unknown routes carry no AIOZ envelope.
    assert isinstance(exc, HTTPException)
    return JSONResponse({"message": exc.detail}, exc.status_code, headers=exc.headers)
