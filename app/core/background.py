"""Periodic background jobs that run on one replica at a time, guarded by a MongoDB lease.

A pass runs while a heartbeat renews its lease every third of the TTL; when the lease is lost (another
replica took it, or renewals failed for so long that this process can no longer prove it holds it) the
pass is cancelled. The lease is released when the loop stops, so another replica takes over at once.
A database outage never ends a loop: it is logged once (`app.core.db.outages`) and the next pass retries.
"""

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pymongo
import structlog
from prometheus_client import Counter, Gauge

from app.core.db import Database, note_failure, outages
from app.core.leases import JobRunRepository, LeaseRepository
from app.core.timeutils import utcnow

log = structlog.get_logger("app.background")

Job = Callable[[datetime], Coroutine[Any, Any, Any]]  # a coroutine: a pass runs as a task
Sleep = Callable[[float], Awaitable[Any]]
RELEASE_TIMEOUT_SECONDS = 1.0
STALE_AFTER_INTERVALS = 5  # a job without a completed pass for this many intervals is reported dead

# Alert on these (README, "Production"): a dead job fails no request, so nothing else would show it.
LAST_SUCCESS = Gauge(
    "background_job_last_success_timestamp_seconds",
    "Unix time of the job's last completed pass (this replica's, or any replica's as read by /health/jobs).",
    ("job",),
)
FAILURES = Counter(
    "background_job_failures_total", "Passes of the job that failed (error or database outage).", ("job",)
)


@dataclass(frozen=True)
class LeasedJob:
    """A background job as the app runs it: the lease name, the pause between passes, one pass."""

    name: str
    interval: float
    run: Job


class HeldLease:
    """One holder's view of a lease: acquire/renew, how long it is surely still ours, release."""

    def __init__(
        self,
        leases: LeaseRepository,
        name: str,
        holder: str,
        ttl: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.leases, self.name, self.holder, self.ttl, self.monotonic = leases, name, holder, ttl, monotonic
        self.valid_until = float("-inf")  # local monotonic time until which the lease is surely ours

    @property
    def held(self) -> bool:
        return self.monotonic() < self.valid_until

    async def acquire(self) -> bool:
        """Take or renew; raises when the database does not answer (the lease may still be held)."""
        sent = self.monotonic()  # the server sets expiry after this instant: `sent + ttl` is a lower bound
        if await self.leases.acquire(self.name, self.holder, self.ttl):
            self.valid_until = sent + self.ttl
            return True
        self.valid_until = float("-inf")
        return False

    async def release(self) -> None:
        self.valid_until = float("-inf")
        with contextlib.suppress(Exception):  # best effort: an unreleased lease just expires
            async with asyncio.timeout(RELEASE_TIMEOUT_SECONDS + 0.5):
                with pymongo.timeout(RELEASE_TIMEOUT_SECONDS):
                    await self.leases.release(self.name, self.holder)


async def cancel_all(tasks: list[asyncio.Task[Any]], wait: float | None = None) -> None:
    """Cancel every task first, then wait for them (at most `wait` seconds).

    Not one by one: PyMongo's async client (4.20) deadlocks when a task waiting for a server is
    cancelled and awaited while another one waits too; cancelled together, they all end at once.
    """
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=wait)


async def run_pass(
    lease: HeldLease, job: Job, sleep: Sleep = asyncio.sleep, now: Callable[[], datetime] = utcnow
) -> bool:
    """Run one pass of `job` while a heartbeat renews `lease`; False when the lease was lost mid-pass.

    The heartbeat renews every `ttl / 3`. A renewal that finds another holder, or failing renewals
    until the lease can no longer be proven ours, cancels the pass: its steps are conditional updates,
    so the next holder completes whatever it left.
    """
    work = asyncio.create_task(job(now()))

    async def heartbeat() -> None:
        while True:
            await sleep(lease.ttl / 3)
            try:
                if not await lease.acquire():
                    break
            except Exception as exc:
                note_failure(exc, f"lease:{lease.name}")
                if lease.held:
                    continue
                break
        log.warning("lease_lost", lease=lease.name, holder=lease.holder, action="pass cancelled")
        work.cancel()

    beat = asyncio.create_task(heartbeat())
    try:
        await asyncio.wait({work})  # unlike `await work`, a cancelled pass does not raise here
    finally:  # also on shutdown: cancelling this coroutine stops the heartbeat and the pass
        await cancel_all([beat, work])
    if work.cancelled():  # only the heartbeat cancels it
        return False
    work.result()  # a failed pass raises here, for the loop to log
    return True


async def run_leased_forever(
    db: Database,
    name: str,
    interval: float,
    job: Job,
    *,
    ttl: float | None = None,
    sleep: Sleep = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = utcnow,
) -> None:
    """Call `job(now)` every `interval` seconds while this process holds the lease `name`.

    The lease's TTL (3 intervals by default) only has to cover the time between two heartbeats plus
    the database's latency, not a whole pass. The lease stays with its holder between passes (renewed
    by the next pass) and is released when the loop is cancelled (shutdown).
    """
    leases = LeaseRepository(db)  # expiry on the server's clock (the embedded engine's: its client's clock)
    runs = JobRunRepository(db)
    holder = f"{socket.gethostname()}:{os.getpid()}:{name}:{uuid.uuid4().hex[:8]}"
    lease = HeldLease(leases, name, holder, ttl or interval * 3, monotonic)
    FAILURES.labels(name)  # the series exists (at 0) before the first failure
    try:
        while True:
            try:
                acquired = await lease.acquire()
                outages.recovered()
                if acquired and await run_pass(lease, job, sleep, now):
                    await runs.record_success(name)
                    LAST_SUCCESS.labels(name).set(time.time())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must survive any single failure; the next pass retries
                FAILURES.labels(name).inc()
                if not note_failure(exc, f"background:{name}"):
                    log.exception("background_pass_failed", job=name)
            await sleep(interval)
    finally:
        await lease.release()
