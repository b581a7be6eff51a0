"""When a failed AIOZ request may be sent again, and how long to wait first."""

import random
from enum import Enum, auto

import httpx

from app.aioz.config import AiozConfig
from app.aioz.errors import AiozError, AiozRateLimited

# Failures that happen before the request reaches AIOZ: re-sending them cannot duplicate anything.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Retry(Enum):
    SAFE = auto()
    """Idempotent (GET, PUT, DELETE, read-only POST): any retryable failure is retried."""
    UNSAFE = auto()
    """A create: retried only when AIOZ certainly did not act on it (429, connect failure)."""


def not_processed(exc: AiozError) -> bool:
    return isinstance(exc, AiozRateLimited) or isinstance(exc.__cause__, _NOT_SENT)


def backoff(attempt: int, config: AiozConfig) -> float:
    """Exponential backoff capped at `backoff_max`, plus up to `backoff_jitter` seconds of jitter."""
    exponential = min(config.backoff_max, config.backoff_initial * 2.0 ** (attempt - 1))
    return exponential + random.uniform(0, config.backoff_jitter)


def retry_delay(exc: AiozError, attempt: int, config: AiozConfig, *, may_resend: bool) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None when `exc` must be raised now."""
    if not (exc.retryable and may_resend) or attempt >= config.max_attempts:
        return None
    if isinstance(exc, AiozRateLimited) and exc.retry_after is not None:
        return exc.retry_after
    return backoff(attempt, config)
