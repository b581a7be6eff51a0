"""Acks: `{ok: true, data}` or `{ok: false, statusCode, message, errors, code}` with REST's status,
texts and error code.

Payloads are plain JSON (ObjectIds as strings, times as `…000Z`) produced by the REST encoder, so a
socket event carries exactly what the REST envelope's `data` would, unwrapped.
"""

from typing import Any

import orjson

from app.core.envelope import dumps
from app.core.errors import AppError, ErrorCode, NotAuthenticated

TOKEN_EXPIRED_MESSAGE = "the access token expired: reconnect with a fresh token"
# The `tokenExpired` server event, sent just before the server disconnects a socket whose token expired.
TOKEN_EXPIRED = {"reason": "tokenExpired", "message": TOKEN_EXPIRED_MESSAGE}


class TokenExpired(NotAuthenticated):
    """An event on a socket whose token expired: 401 ack, then `tokenExpired` and disconnect."""

    def __init__(self) -> None:
        super().__init__(TOKEN_EXPIRED_MESSAGE, code=ErrorCode.TOKEN_EXPIRED)


def wire(value: Any) -> Any:
    """The JSON value REST would send for `value` (ObjectId → str, datetime → ISO with ms and Z)."""
    return orjson.loads(dumps(value))


def ok(data: Any) -> dict[str, Any]:
    return {"ok": True, "data": wire(data)}


def failure(exc: AppError) -> dict[str, Any]:
    messages = exc.messages
    return {
        "ok": False,
        "statusCode": exc.status_code,
        "message": messages[0],
        "errors": messages,
        "code": exc.code.value,
    }
