"""Periodic background jobs that run on one replica at a time, guarded by a MongoDB lease."""

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog

from app.core.db import Database
from app.core.leases import LeaseRepository
from app.core.timeutils import utcnow

log = structlog.get_logger("app.background")

Job = Callable[[datetime], Awaitable[Any]]


async def run_leased_forever(db: Database, name: str, interval: float, job: Job) -> None:
    """Call `job(now)` every `interval` seconds while this process holds the lease `name`.

    The lease outlives a pass by two intervals, so a crashed holder is replaced quickly. Jobs must still
    be idempotent: a pass that overruns its lease may overlap with the next holder's.
    """
    leases = LeaseRepository(db)
    holder = f"{socket.gethostname()}:{os.getpid()}:{name}:{id(job)}"
    while True:
        try:
            if await leases.try_acquire(name, holder, ttl_seconds=interval * 3):
                await job(utcnow())
        except asyncio.CancelledError:
            raise
        except Exception:  # the loop must survive any single failure; the next pass retries
            log.exception("background_pass_failed", job=name)
        await asyncio.sleep(interval)
