"""A clock tests drive by hand: `sleep` advances time instantly instead of waiting.

Pass its bound methods where the code takes a clock (`now=`, `monotonic=`, `sleep=`), e.g.
`run_leased_forever(..., now=clock.now, monotonic=clock.monotonic, sleep=clock.sleep)` or
`AiozClient(config, sleep=clock.sleep, monotonic=clock.monotonic)`.
"""

import asyncio
from datetime import datetime, timedelta

from app.core.timeutils import utcnow


class ManualClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.start = start or utcnow()
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        moment = self.start + timedelta(seconds=self.elapsed)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # BSON dates are ms

    def monotonic(self) -> float:
        return self.elapsed

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds

    async def sleep(self, seconds: float) -> None:
        """Time moves on by `seconds` at once; other tasks get to run before this returns."""
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)
