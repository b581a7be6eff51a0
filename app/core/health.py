"""Liveness and readiness probes."""

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from app.core.db import Db, ping
from app.core.envelope import Envelope, error_responses, failure, ok

router = APIRouter(tags=["Operations"])


class Health(BaseModel):
    status: str


@router.get(
    "/health",
    operation_id="getHealth",
    response_model=Envelope[Health],
    summary="Liveness: the process answers",
)
async def health() -> Response:
    """Liveness: answers 200 while the process serves requests. No token needed."""
    return ok({"status": "ok"})


@router.get(
    "/ready",
    operation_id="getReadiness",
    response_model=Envelope[Health],
    responses=error_responses(503),
    summary="Readiness: the database answers a ping",
)
async def ready(db: Db) -> Response:
    """Readiness: 200 when the database answers a ping, 503 otherwise. No token needed."""
    if await ping(db):
        return ok({"status": "ready"})
    return failure(503, ["Service unavailable", "database is not reachable"])
