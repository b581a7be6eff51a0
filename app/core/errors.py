"""One exception hierarchy for the whole app; `app.core.envelope` renders it into the Allmine envelope.

Driver errors that mean "the database is unavailable" join the hierarchy here (`database_unavailable`),
so every path (request handlers, the last-resort middleware) maps them the same way: 503.

Services raise these, never `HTTPException`. `errors[0]` is always the documented generic text of the
status; an optional `detail` (e.g. which field, which rule) follows it as `errors[1]`. Every error also
carries a stable machine-readable `code` (`ErrorCode`) that clients branch on instead of parsing the
texts: each class has a default code, a raise site may name a more specific one.
"""

from enum import StrEnum
from typing import ClassVar

from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    ExecutionTimeout,
    NetworkTimeout,
    PyMongoError,
    ServerSelectionTimeoutError,
    WTimeoutError,
)

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


class ErrorCode(StrEnum):
    """The error envelope's `code`: stable, machine-readable, one per thing a client can react to.

    Listed in the OpenAPI document (`ErrorCode` schema) and in docs/contract.md ("Error codes"); a new
    code is an addition to the contract, a renamed one a breaking change.
    """

    VALIDATION_FAILED = "VALIDATION_FAILED"  # 400: a parameter or the body is invalid
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"  # 400: the caller's balance does not cover the price
    TOKEN_MISSING = "TOKEN_MISSING"  # 401: no bearer token where one is required
    TOKEN_INVALID = "TOKEN_INVALID"  # 401: malformed, wrongly signed, or naming an unknown user
    TOKEN_EXPIRED = "TOKEN_EXPIRED"  # 401: the token's `exp` has passed: refresh it
    FORBIDDEN = "FORBIDDEN"  # 403: not the owner, creator or an invited guest
    BANNED = "BANNED"  # 403: the caller is banned from this stream (or its chat)
    NOT_FOUND = "NOT_FOUND"  # 404: unknown or deleted resource, or no such path
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"  # 405
    CONFLICT = "CONFLICT"  # 409: already exists, or cannot be changed in its current state
    STREAM_NOT_OPEN_FOR_FUNDING = "STREAM_NOT_OPEN_FOR_FUNDING"  # 409: funding closed (stream or mini pot)
    INVALID_STREAM_STATE = "INVALID_STREAM_STATE"  # 409: the stream's status does not allow this
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"  # 409: same Idempotency-Key, different request
    REQUEST_IN_PROGRESS = "REQUEST_IN_PROGRESS"  # 409: the same request is still running: retry
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"  # 413
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"  # 415: e.g. JSON sent where multipart is expected
    RATE_LIMITED = "RATE_LIMITED"  # 429: slow down; `Retry-After` says when to retry
    INTERNAL_ERROR = "INTERNAL_ERROR"  # 500
    UPSTREAM_ERROR = "UPSTREAM_ERROR"  # 502: the video service refused
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"  # 503: the video service is down or slow: retry
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"  # 503: the database is unreachable or slow: retry
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"  # 503: not ready (readiness probe)
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"  # 504


# The code of an error that names none (framework errors: an unknown path, a wrong method...).
STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.VALIDATION_FAILED,
    401: ErrorCode.TOKEN_INVALID,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    429: ErrorCode.RATE_LIMITED,
    500: ErrorCode.INTERNAL_ERROR,
    502: ErrorCode.UPSTREAM_ERROR,
    503: ErrorCode.SERVICE_UNAVAILABLE,
    504: ErrorCode.UPSTREAM_TIMEOUT,
}


def status_code_of(status_code: int) -> ErrorCode:
    return STATUS_CODES.get(
        status_code, ErrorCode.VALIDATION_FAILED if status_code < 500 else ErrorCode.INTERNAL_ERROR
    )


class AppError(Exception):
    status_code: ClassVar[int] = 500
    code: ErrorCode = ErrorCode.INTERNAL_ERROR  # the class's default; an instance may name another

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        code: ErrorCode | None = None,
    ) -> None:
        super().__init__(detail or generic_message(self.status_code))
        self.detail = detail
        self.headers = headers
        if code is not None:
            self.code = code

    @property
    def messages(self) -> list[str]:
        first = generic_message(self.status_code)
        return [first] if not self.detail or self.detail == first else [first, self.detail]


class ValidationFailed(AppError):
    status_code = 400
    code = ErrorCode.VALIDATION_FAILED


class InsufficientCredits(ValidationFailed):
    """The caller's balance does not cover the price (400, as Allmine answers it)."""

    code = ErrorCode.INSUFFICIENT_CREDITS

    def __init__(self) -> None:
        super().__init__("Insufficient credits")


TOKEN_PROBLEMS: dict[ErrorCode, str] = {
    ErrorCode.TOKEN_MISSING: "a bearer token is required",
    ErrorCode.TOKEN_INVALID: "the access token is malformed, wrongly signed or names an unknown user",
    ErrorCode.TOKEN_EXPIRED: "the access token expired",
}


class NotAuthenticated(AppError):
    """401 with RFC 6750's `WWW-Authenticate` challenge; the code tells a missing token (no error
    attribute, RFC 6750 §3.1) from an invalid or expired one (`error="invalid_token"`)."""

    status_code = 401
    code = ErrorCode.TOKEN_INVALID

    def __init__(self, detail: str | None = None, *, code: ErrorCode = ErrorCode.TOKEN_INVALID) -> None:
        if code is ErrorCode.TOKEN_MISSING:
            challenge = "Bearer"
        else:
            problem = TOKEN_PROBLEMS.get(code, TOKEN_PROBLEMS[ErrorCode.TOKEN_INVALID])
            challenge = f'Bearer error="invalid_token", error_description="{problem}"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge}, code=code)


class Forbidden(AppError):
    status_code = 403
    code = ErrorCode.FORBIDDEN


class NotFound(AppError):
    status_code = 404
    code = ErrorCode.NOT_FOUND


class Conflict(AppError):
    status_code = 409
    code = ErrorCode.CONFLICT


class PayloadTooLarge(AppError):
    status_code = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


class UnsupportedMediaType(AppError):
    status_code = 415
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class RateLimited(AppError):
    """429; `Retry-After` (seconds) where the wait is known."""

    status_code = 429
    code = ErrorCode.RATE_LIMITED


class UpstreamError(AppError):
    """An upstream (AIOZ, Agora) answered with an error we cannot hide from the caller."""

    status_code = 502
    code = ErrorCode.UPSTREAM_ERROR


class UpstreamUnavailable(AppError):
    """An upstream is down, rate-limiting us or timing out; the caller may retry later."""

    status_code = 503
    code = ErrorCode.UPSTREAM_UNAVAILABLE


class DatabaseUnavailable(AppError):
    """The database is unreachable, has no primary or did not answer within `MONGODB_TIMEOUT_MS`."""

    status_code = 503
    code = ErrorCode.DATABASE_UNAVAILABLE

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


RETRY_AFTER_SECONDS = 5
# Server error codes that mean "no usable primary / interrupted / too slow", not "your request is wrong":
# HostUnreachable, HostNotFound, MaxTimeMSExpired, WriteConcernFailed, NetworkTimeout, ShutdownInProgress,
# FailedToSatisfyReadPreference, PrimarySteppedDown, NetworkInterfaceExceededTimeLimit, ExceededTimeLimit,
# SocketException, NotWritablePrimary, InterruptedAtShutdown, InterruptedDueToReplStateChange,
# NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary.
UNAVAILABLE_CODES = frozenset(
    {6, 7, 50, 64, 89, 91, 133, 189, 202, 262, 9001, 10107, 11600, 11602, 13435, 13436}
)
UNREACHABLE = "the database is unreachable; retry later"
TOO_SLOW = "the database did not answer in time; retry later"
# A read inside a causally consistent session (app.core.sessions) that does not show the sequence's own
# acknowledged write: only a server that lost track across an election can answer so. Nothing is lost
# (every step is idempotent and resumable), so the caller retries rather than getting a 500 or a 409.
STALE_READ = (
    "the database answered with data older than this request's own writes (failover in progress?): "
    "retry later (a repeated request with the same Idempotency-Key is applied once)"
)
WRITE_UNCONFIRMED = (
    "the database did not confirm the write in time; it may still be applied: retry later "
    "(a repeated request with the same Idempotency-Key is applied once)"
)


def database_unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The 503 a PyMongo error stands for, or None when it is not an availability problem.

    The driver errors a request can meet while the database is down or slow: `ConnectionFailure`
    (`AutoReconnect`, `NetworkTimeout`, `NotPrimaryError`, `ServerSelectionTimeoutError`,
    `WaitQueueTimeoutError`), `ExecutionTimeout`, `WTimeoutError`, any error flagged as a timeout by the
    driver (`timeoutMS` expired) and server errors with an availability code or the
    `RetryableWriteError` label. Everything else (a bad query, a duplicate key) is a bug or a conflict
    and keeps its own mapping.
    """
    if isinstance(exc, DatabaseUnavailable):
        return exc
    if not isinstance(exc, PyMongoError):
        return None
    code = getattr(exc, "code", None)
    if isinstance(exc, WTimeoutError) or code == 64 or _write_concern_timed_out(exc):
        return DatabaseUnavailable(WRITE_UNCONFIRMED)
    if isinstance(exc, ServerSelectionTimeoutError | AutoReconnect) and not isinstance(exc, NetworkTimeout):
        return DatabaseUnavailable(UNREACHABLE)
    if exc.timeout or isinstance(exc, ExecutionTimeout):
        return DatabaseUnavailable(TOO_SLOW)
    if isinstance(exc, ConnectionFailure) or code in UNAVAILABLE_CODES:
        return DatabaseUnavailable(UNREACHABLE)
    if exc.has_error_label("RetryableWriteError") or exc.has_error_label("TransientTransactionError"):
        return DatabaseUnavailable(UNREACHABLE)
    return None


def _write_concern_timed_out(exc: PyMongoError) -> bool:
    """A bulk write whose writes were applied but whose write concern was not satisfied in time."""
    details = getattr(exc, "details", None)
    if not isinstance(exc, BulkWriteError) or not isinstance(details, dict):
        return False
    return any(error.get("code") in {64, 50} for error in details.get("writeConcernErrors", []))
