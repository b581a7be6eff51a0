"""Wire-level constants and helpers shared by the fake's routes and state.

Messages are AIOZ's exact texts from the spec; the few marked [INF] are ours where the spec quotes none.
"""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

NIL_UUID = "00000000-0000-0000-0000-000000000000"

NOT_LOGGED_IN = "You are not logged in."
API_KEY_NOT_FOUND = "API key not found."
INVALID_BASIC_AUTH = "Invalid basic auth format."
RECORD_NOT_FOUND = "record not found"  # [INF] probably the ORM text (docs/aioz.md, "Status codes")
INVALID_ID = "Invalid id."  # [INF] spec: a non-UUID path id gives 400
INVALID_BODY = "Invalid request body."  # [INF]
NOT_OWNER = "You do not have permission to access this resource."  # [INF] spec: 400, not 403/404
TOO_MANY_REQUESTS = "Too many requests."  # [INF] AIOZ documents no 429 body
INTERNAL_ERROR = "Internal server error."

NAME_REQUIRED = "Name must be specified."
KEY_DELETED = "Delete live stream key success."
KEY_IS_LIVE = "Live stream is streaming, it cannot be deleted."  # [INF] 400 while live
KEY_SORT_NOT_ALLOWED = "Sorting by '{}' is not allowed. Allowed values: created_at, name."
UNKNOWN_ORDER = 'Unknown sorting order. Please use "asc" or "desc".'

TITLE_REQUIRED = "Title is required."
TITLE_TOO_LONG = "Title is too long."
STREAM_ALREADY_CREATED = "Live stream already created"
UPDATE_TITLE_REQUIRED = "Title must be specified."
UPDATE_TITLE_TOO_LONG = "Title length must be less than 255 characters."
STREAM_ENDED = "This livestream was ended."
STREAMING_UPDATED = "Update live stream media success."
STREAMING_DELETED = "Delete streaming success."

INVALID_QUALITY_TYPE = "Invalid quality type."
INVALID_CONTAINER = "Invalid container type."
EMPTY_RESOLUTION = "Resolution cannot be empty."
INVALID_RESOLUTION = "Invalid resolution."  # [INF]
BITRATE_TOO_HIGH = "Video bitrate exceeds maximum allowed for {} resolution: {}"

MEDIA_SORT_NOT_ALLOWED = (
    "Sorting by '{}' is not allowed. Allowed values: created_at, updated_at, title, size."
)
LIMIT_NOT_ALLOWED = "Limit only allowed values 1-100."
INVALID_STATUS = "Invalid status. Allow status: new, done, fail, deleted, transcoding"

MULTICAST_REQUIRED = "StreamKey and MulticastUrls must be specified."
MULTICAST_TOO_MANY = "Only 2 stream can forward."
MULTICAST_INVALID = "Multicast url is invalid."
THUMBNAIL_UPLOADED = "Uploaded thumbnail successfully."
THUMBNAIL_TOO_LARGE = "File size is too large. (max size: 8MB)"
INVALID_FILE = "Invalid file."
SUCCESS = "success"


class ApiError(Exception):
    """An AIOZ error answer: `{"status": "fail"|"error", "message": ...}` with `status_code`."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """Go's `time.Time` JSON form: RFC 3339, fractional seconds, UTC `Z`."""
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


def path_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ApiError(400, INVALID_ID) from None


def json_field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """A typed JSON field; a value of the wrong JSON type is a bind error (400), as in Echo."""
    value = body.get(name, default)
    if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is int)):
        raise ApiError(400, INVALID_BODY)
    return value


def query_int(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, INVALID_BODY) from None


def page(items: list[Any], offset: int, limit: int) -> list[Any]:
    offset = max(offset, 0)
    return items[offset : offset + limit]
