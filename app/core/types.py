"""Reusable annotated types for request parsing."""

import re
from typing import Annotated, Any

from bson import ObjectId
from fastapi import Header
from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

_OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")


def _to_object_id(value: Any) -> ObjectId:
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and _OBJECT_ID.match(value):
        return ObjectId(value)
    raise ValueError("must be a 24-character hex ObjectId")


# A path/query/body value that must be a MongoDB ObjectId; anything else is a 400 `Validation failed`.
ObjectIdStr = Annotated[
    ObjectId,
    PlainValidator(_to_object_id),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _OBJECT_ID.pattern, "example": "64d15f9e2e6c8f4d5a123456"}),
]

# Optional `Idempotency-Key` header of money-moving POSTs: same key + same request → same answer, once.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]
