"""HTTP mirror of `FakeAioz`'s control methods, mounted at `/_fake` (see docs/aioz.md)."""

from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.aioz.fake.state import FakeControlError

if TYPE_CHECKING:
    from app.aioz.fake.app import FakeAioz


def build_control(fake: "FakeAioz") -> Starlette:
    async def go_live(request: Request) -> Response:
        return JSONResponse(fake.go_live(request.path_params["stream_id"]))

    async def end_stream(request: Request) -> Response:
        return JSONResponse(fake.end_stream(request.path_params["stream_id"]))

    async def produce_recording(request: Request) -> Response:
        body = await _optional_json(request)
        return JSONResponse(
            fake.produce_recording(request.path_params["stream_id"], failed=bool(body.get("failed")))
        )

    async def inject_fault(request: Request) -> Response:
        body = await _optional_json(request)
        try:
            fault = fake.inject_fault(**body)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"detail": str(exc)}, 400)
        return JSONResponse({"path": fault.path, "kind": fault.kind, "count": fault.count}, 201)

    async def clear_faults(request: Request) -> Response:
        fake.clear_faults()
        return Response(status_code=204)

    async def list_calls(request: Request) -> Response:
        return JSONResponse({"calls": [{"method": method, "path": path} for method, path in fake.calls]})

    async def reset(request: Request) -> Response:
        fake.reset()
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/streamings/{stream_id}/go-live", go_live, methods=["POST"]),
            Route("/streamings/{stream_id}/end", end_stream, methods=["POST"]),
            Route("/streamings/{stream_id}/recording", produce_recording, methods=["POST"]),
            Route("/faults", inject_fault, methods=["POST"]),
            Route("/faults", clear_faults, methods=["DELETE"]),
            Route("/calls", list_calls, methods=["GET"]),
            Route("/reset", reset, methods=["POST"]),
        ],
        exception_handlers={FakeControlError: _control_error},
    )


async def _optional_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    return await request.json() if body.strip() else {}


async def _control_error(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": str(exc)}, 409)
