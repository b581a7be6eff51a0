"""Liveness and readiness probes."""

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from app.core.db import Db, ping
from app.core.envelope import Envelope, error_responses, failure, ok
from app.core.required_indexes import RequiredIndexes, unavailable_detail

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
    summary="Readiness: the database answers and its indexes are in place",
)
async def ready(request: Request, db: Db) -> Response:
    """Readiness: 200 when the database answers a ping within a second, start-up's index migration
    has run and the unique indexes money rests on are ready; 503 otherwise (naming missing indexes).
    No token needed."""
    if not await ping(db):
        return failure(503, ["Service unavailable", "database is not reachable"])
    preparation = getattr(request.app.state, "database_preparation", None)
    if preparation is not None and not preparation.ready:
        return failure(503, ["Service unavailable", "database indexes are being prepared"])
    required: RequiredIndexes | None = getattr(request.app.state, "required_indexes", None)
    if required is not None and await required.current():
        return failure(503, ["Service unavailable", unavailable_detail(required.missing)])
    return ok({"status": "ready"})
