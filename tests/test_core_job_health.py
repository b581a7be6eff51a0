"""Dead background jobs must be visible (issue 22): each job exports when it last completed a pass and how
often it failed; `/health/jobs` names a job without a completed pass for 5 intervals."""

import asyncio
from datetime import timedelta

from prometheus_client import REGISTRY

from app.core.background import LeasedJob, run_leased_forever
from app.core.leases import JobRunRepository
from app.core.timeutils import utcnow
from tests.clock import ManualClock
from tests.helpers import use_manual_server_clock


def sample(name: str, job: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"job": job})


async def run_passes(db, name: str, job, passes: int) -> None:
    clock = ManualClock()
    use_manual_server_clock(db, clock.now)
    calls = []

    async def counted(now):
        calls.append(now)
        await job(now)

    loop = asyncio.create_task(
        run_leased_forever(db, name, 10, counted, now=clock.now, monotonic=clock.monotonic, sleep=clock.sleep)
    )
    while len(calls) < passes:  # noqa: ASYNC110 - the loop sleeps on the manual clock
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)
    loop.cancel()
    await asyncio.wait({loop})
    return clock


async def test_a_completed_pass_is_exported_and_recorded_for_every_replica_to_see(db):
    async def fine(now):
        pass

    clock = await run_passes(db, "job-ok", fine, passes=2)
    assert sample("background_job_last_success_timestamp_seconds", "job-ok") > 0
    assert sample("background_job_failures_total", "job-ok") == 0
    recorded = await JobRunRepository(db).last_successes(["job-ok", "never"])
    assert set(recorded) == {"job-ok"} and recorded["job-ok"] <= clock.now()


async def test_a_failing_pass_is_counted_and_not_a_success(db):
    async def broken(now):
        raise RuntimeError("bug")

    before = sample("background_job_failures_total", "job-broken") or 0
    await run_passes(db, "job-broken", broken, passes=3)
    assert sample("background_job_failures_total", "job-broken") >= before + 3
    assert not sample("background_job_last_success_timestamp_seconds", "job-broken")
    assert await JobRunRepository(db).last_successes(["job-broken"]) == {}


async def test_health_jobs_names_a_job_without_a_pass_for_5_intervals(app, client, db):
    async def noop(now):
        pass

    app.state.background_jobs = [LeasedJob("settle", 10, noop), LeasedJob("rank", 60, noop)]
    app.state.started_at = utcnow() - timedelta(seconds=100)  # 10 intervals of `settle`, < 2 of `rank`
    response = await client.get("/health/jobs")
    assert response.status_code == 503
    assert response.json()["errors"] == [
        "Service unavailable",
        "background jobs without a completed pass for 5 intervals: settle",
    ]

    await JobRunRepository(db).record_success("settle")  # any replica completed a pass
    response = await client.get("/health/jobs")
    assert response.status_code == 200, response.text
    jobs = {job["job"]: job for job in response.json()["data"]["jobs"]}
    assert jobs["settle"]["stale"] is False and jobs["settle"]["lastSuccessAt"].endswith("Z")
    assert jobs["rank"] == {"job": "rank", "intervalSeconds": 60, "lastSuccessAt": None, "stale": False}
    assert (
        sample("background_job_last_success_timestamp_seconds", "settle") > 0
    )  # read back from the database


async def test_health_jobs_without_background_jobs_is_200(client):
    response = await client.get("/health/jobs")
    assert response.status_code == 200 and response.json()["data"] == {"jobs": []}
