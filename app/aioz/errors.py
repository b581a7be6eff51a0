"""One exception hierarchy for everything that can go wrong talking to AIOZ Stream.

AIOZ answers errors as `{"status": "fail"|"error", "message": "<text>"}` (docs/aioz.md, "Envelope") with the codes of
"Status codes" there; the class is chosen from the status code, and from the message where the code is ambiguous
(AIOZ reports state conflicts such as `Live stream already created` as plain 400s).
"""

from typing import Any, ClassVar

import httpx

# 400 messages that mean "the resource is in the wrong state", not "your input is malformed".
CONFLICT_MESSAGES = frozenset({"Live stream already created", "This livestream was ended."})


class AiozError(Exception):
    """Base class. `status_code` is None when no HTTP response was received."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code

    def __str__(self) -> str:
        return self.message if self.status_code is None else f"{self.message} (HTTP {self.status_code})"


class AiozValidationError(AiozError):
    """Input rejected: by AIOZ (400) or by this client before sending (`status_code` None)."""


class AiozNotFound(AiozError):
    """The key, streaming or media does not exist (404)."""


class AiozEndpointNotFound(AiozNotFound):
    """404/405 without the AIOZ envelope: the route itself is missing (wrong base URL or API change)."""


class AiozConflict(AiozError):
    """The resource is in the wrong state, e.g. the key already has an open streaming."""


class AiozAuthError(AiozError):
    """Credentials missing, unknown, expired or not allowed (401/403)."""


class AiozRateLimited(AiozError):
    """429. `retry_after` is the server's hint in seconds, when it sent one."""

    retryable = True

    def __init__(
        self, message: str, *, status_code: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class AiozUnavailable(AiozError):
    """AIOZ failed (5xx) or could not be reached (connection refused, reset or dropped)."""

    retryable = True


class AiozTimeout(AiozError):
    """A request timed out, or the whole call ran past its deadline."""

    retryable = True


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """Seconds to wait from `Retry-After` or AIOZ's `X-RateLimit-Retry-After` (docs/aioz.md, "Rate limits")."""
    for name in ("Retry-After", "X-RateLimit-Retry-After"):
        try:
            return max(0.0, float(headers[name]))
        except (KeyError, ValueError):
            continue
    return None


def error_from_response(response: httpx.Response) -> AiozError:
    status = response.status_code
    body = _json_or_none(response)
    enveloped = isinstance(body, dict) and "status" in body
    message = str(body.get("message") or "") if isinstance(body, dict) else ""
    message = message or response.reason_phrase or f"HTTP {status}"
    if status in (404, 405) and not enveloped:
        return AiozEndpointNotFound(message, status_code=status)
    if status == 404:
        return AiozNotFound(message, status_code=status)
    if status == 409 or (status == 400 and message in CONFLICT_MESSAGES):
        return AiozConflict(message, status_code=status)
    if status in (400, 422):
        return AiozValidationError(message, status_code=status)
    if status in (401, 403):
        return AiozAuthError(message, status_code=status)
    if status == 429:
        return AiozRateLimited(message, retry_after=retry_after_seconds(response.headers))
    if status >= 500:
        return AiozUnavailable(message, status_code=status)
    return AiozError(message, status_code=status)


def error_from_transport(exc: httpx.TransportError) -> AiozError:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return AiozTimeout(f"AIOZ request timed out: {detail}")
    return AiozUnavailable(f"AIOZ could not be reached: {detail}")


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
