"""One exception hierarchy for the whole app; `app.core.envelope` renders it into the Allmine envelope.

Driver errors that mean "the database is unavailable" join the hierarchy here (`database_unavailable`),
so every path (request handlers, the last-resort middleware) maps them the same way: 503.

Services raise these, never `HTTPException`. `errors[0]` is always the documented generic text of the
status; an optional `detail` (e.g. which field, which rule) follows it as `errors[1]`.
"""

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


class DatabaseUnavailable(AppError):
    """The database is unreachable, has no primary or did not answer within `MONGODB_TIMEOUT_MS`."""

    status_code = 503

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
