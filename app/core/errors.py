"""One exception hierarchy for the whole app; `app.core.envelope` renders it into the Allmine envelope.

Services raise these, never `HTTPException`. `errors[0]` is always the documented generic text of the
status; an optional `detail` (e.g. which field, which rule) follows it as `errors[1]`.
"""

from typing import ClassVar

GENERIC_MESSAGES: dict[int, str] = {
    400: "Validation failed",
    401: "Authentication required",
    403: "Insufficient permissions",
    404: "Resource not found",
    405: "Method not allowed",
    409: "Resource already exists or cannot be changed in its current state",
    413: "Payload too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
    502: "Upstream service error",
    503: "Service unavailable",
    504: "Upstream service timeout",
}


def generic_message(status_code: int) -> str:
    return GENERIC_MESSAGES.get(status_code, "Request failed")


class AppError(Exception):
    status_code: ClassVar[int] = 500

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or generic_message(self.status_code))
        self.detail = detail
        self.headers = headers

    @property
    def messages(self) -> list[str]:
        first = generic_message(self.status_code)
        return [first] if not self.detail or self.detail == first else [first, self.detail]


class ValidationFailed(AppError):
    status_code = 400


class NotAuthenticated(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class UpstreamError(AppError):
    """An upstream (AIOZ, Agora) answered with an error we cannot hide from the caller."""

    status_code = 502


class UpstreamUnavailable(AppError):
    """An upstream is down, rate-limiting us or timing out; the caller may retry later."""

    status_code = 503
