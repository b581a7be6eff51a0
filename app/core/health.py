"""Liveness and readiness probes, and the background jobs' health."""

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from app.core.background import LAST_SUCCESS, STALE_AFTER_INTERVALS, LeasedJob
from app.core.db import Db, ping
from app.core.envelope import Envelope, error_responses, failure, ok
from app.core.leases import JobRunRepository
from app.core.required_indexes import RequiredIndexes, unavailable_detail
from app.core.timeutils import iso_ms, utcnow

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


class JobHealth(BaseModel):
    job: str
    intervalSeconds: float
    lastSuccessAt: str | None
    stale: bool


class JobsHealth(BaseModel):
    jobs: list[JobHealth]


@router.get(
    "/health/jobs",
    operation_id="getJobsHealth",
    response_model=Envelope[JobsHealth],
    responses=error_responses(503),
    summary="Background jobs: when each last completed a pass",
)
async def jobs_health(request: Request, db: Db) -> Response:
    """Each background job with its last completed pass (by any replica, on the database's clock).
    503 naming the jobs that have not completed a pass for 5 intervals (counted from the process's
    start when a job never did); 200 otherwise. Not part of `/ready`: a dead job is a cluster
    problem, and taking every replica out of service would not fix it. No token needed."""
    jobs: list[LeasedJob] = getattr(request.app.state, "background_jobs", [])
    started: datetime = getattr(request.app.state, "started_at", utcnow())
    now = utcnow()
    successes = await JobRunRepository(db).last_successes([job.name for job in jobs]) if jobs else {}
    report, stale = [], []
    for job in jobs:
        last = successes.get(job.name)
        if last is not None:
            LAST_SUCCESS.labels(job.name).set(max(last.timestamp(), _gauge(job.name)))
        since = last or started
        dead = (now - since).total_seconds() > STALE_AFTER_INTERVALS * job.interval
        report.append(
            {
                "job": job.name,
                "intervalSeconds": job.interval,
                "lastSuccessAt": last and iso_ms(last),
                "stale": dead,
            }
        )
        if dead:
            stale.append(job.name)
    if stale:
        detail = f"background jobs without a completed pass for {STALE_AFTER_INTERVALS} intervals: "
        return failure(503, ["Service unavailable", detail + ", ".join(stale)])
    return ok({"jobs": report})


def _gauge(job: str) -> float:
    value: float = LAST_SUCCESS.labels(job)._value.get()
    return value
