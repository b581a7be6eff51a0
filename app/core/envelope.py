"""The Allmine response envelope `{isSuccess, statusCode, data, errors, timestamp}`.

Handlers build their JSON with orjson straight from documents into a `Response` (see
docs/decisions.md, "serialization"); the pydantic `Envelope[T]` models exist for the OpenAPI document
and for tests that validate real answers against it.
"""

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any, Generic, TypeVar

import orjson
from bson import ObjectId
from bson.tz_util import utc as BSON_UTC
from fastapi import FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.db import outages
from app.core.errors import AppError, ErrorCode, database_unavailable, generic_message, status_code_of
from app.core.timeutils import iso_ms, utcnow

T = TypeVar("T")


# Stored times repeat from answer to answer (a stream's createdAt on every page that lists it), and
# formatting one costs several times a dict look-up: their text is remembered, for UTC (or naive,
# read as UTC) values only, where equal values always have equal text. Bounded: emptied when full.
_ISO_TEXT: dict[datetime, str] = {}
_ISO_TEXT_MAX = 16_384


def _iso_text(value: datetime) -> str:
    zone = value.tzinfo
    if zone is not None and zone is not UTC and zone is not BSON_UTC:
        return iso_ms(value)
    text = _ISO_TEXT.get(value)
    if text is None:
        if len(_ISO_TEXT) >= _ISO_TEXT_MAX:
            _ISO_TEXT.clear()
        text = _ISO_TEXT[value] = iso_ms(value)
    return text


# orjson calls `_default` for every ObjectId and datetime of an answer (hundreds on a list page): the
# exact types are looked up first, the isinstance chain serves subclasses and models.
_ENCODERS: dict[type, Any] = {ObjectId: ObjectId.__str__, datetime: _iso_text}


def as_json_text(value: Any) -> Any:
    """An ObjectId or a datetime as the text `dumps` writes for it (same bytes), any other value as is.

    For values an answer repeats (a user summary on every stream of a page): converted once where they
    are built, orjson then copies a string instead of calling `_default` at each place."""
    encode = _ENCODERS.get(type(value))
    return value if encode is None else encode(value)


def _default(value: Any) -> Any:
    encode = _ENCODERS.get(type(value))
    if encode is not None:
        return encode(value)
    if isinstance(value, datetime):
        return iso_ms(value)
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def envelope_bytes(status_code: int, data: Any, errors: list[str], code: ErrorCode | None = None) -> bytes:
    body = {
        "isSuccess": status_code < 400,
        "statusCode": status_code,
        "data": data,
        "errors": errors,
        "timestamp": iso_ms(utcnow()),
    }
    if status_code >= 400:  # errors only: success answers keep Allmine's five fields
        body["code"] = code or status_code_of(status_code)
    return dumps(body)


def ok(data: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        envelope_bytes(status_code, data, []),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def failure(
    status_code: int,
    messages: list[str],
    headers: dict[str, str] | None = None,
    code: ErrorCode | None = None,
) -> Response:
    """The error envelope; `code` defaults to the status's (`app.core.errors.STATUS_CODES`)."""
    return Response(
        envelope_bytes(status_code, None, messages, code),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


Timestamp = Annotated[
    str,
    Field(
        json_schema_extra={"format": "date-time"},
        description="When the answer was made: ISO-8601 UTC with milliseconds.",
        examples=["2026-01-15T18:00:00.000Z"],
    ),
]


class Envelope(BaseModel, Generic[T]):
    isSuccess: bool
    statusCode: int
    data: T
    errors: list[str]
    timestamp: Timestamp


class ErrorEnvelope(BaseModel):
    isSuccess: bool
    statusCode: int
    data: None
    errors: list[str] = Field(
        description="`errors[0]` is the status's generic text, an optional `errors[1]` the detail."
    )
    timestamp: Timestamp
    code: ErrorCode = Field(
        description='Stable machine-readable error code to branch on (docs/contract.md, "Error codes"); '
        "the texts in `errors` may be reworded, the codes are not."
    )


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the error envelope for each status code."""
    return {code: {"model": ErrorEnvelope, "description": generic_message(code)} for code in codes}


def _field_messages(exc: RequestValidationError) -> list[str]:
    messages = []
    for error in exc.errors()[:10]:
        if error.get("type") == "json_invalid":
            messages.append(f"body: invalid JSON ({error.get('ctx', {}).get('error', 'decode error')})")
            continue
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        messages.append(f"{location}: {error.get('msg', 'invalid value')}")
    return messages


async def _app_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return failure(exc.status_code, exc.messages, exc.headers, exc.code)


def unavailable_failure(exc: BaseException, where: str) -> Response | None:
    """The 503 envelope for a driver error meaning "database unavailable" (logged once per outage)."""
    error = database_unavailable(exc)
    if error is None:
        return None
    outages.failed(exc, where)
    return failure(error.status_code, error.messages, error.headers, error.code)


async def _driver_error(request: Request, exc: Exception) -> Response:
    response = unavailable_failure(exc, f"{request.method} {request.url.path}")
    if response is None:
        raise exc  # a bug or an unmapped server error: the 500 catcher logs it with the request id
    return response


FORM_MEDIA_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _form_expected(request: Request) -> bool:
    """The route reads a form (`Form`/`File` parameters) but the request does not send one."""
    route = request.scope.get("route")
    body = getattr(route, "body_field", None)
    if body is None or not isinstance(body.field_info, params.Form):  # File is a Form
        return False
    return not request.headers.get("content-type", "").lower().startswith(FORM_MEDIA_TYPES)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _form_expected(request):  # e.g. JSON sent to POST /create: say so instead of "title: Field required"
        detail = "multipart/form-data expected"
        return failure(415, [generic_message(415), detail], code=ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    return failure(400, [generic_message(400), *_field_messages(exc)])


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = 400 if exc.status_code == 422 else exc.status_code
    messages = [generic_message(status)]
    if isinstance(exc.detail, str) and exc.detail not in (HTTPStatus(exc.status_code).phrase, messages[0]):
        messages.append(exc.detail)  # a specific reason, e.g. the body limit, not just the status phrase
    return failure(status, messages, getattr(exc, "headers", None))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(PyMongoError, _driver_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
