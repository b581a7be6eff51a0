"""OpenAPI tweaks: document what the API really answers.

FastAPI adds a 422 `HTTPValidationError` response to every operation with parameters; this API answers
validation failures with 400 in the envelope, so those entries are replaced by the 400 envelope.
Operations taking a body also document the 413 envelope of the request-size limit.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.errors import generic_message


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        error_ref = {"$ref": "#/components/schemas/ErrorEnvelope"}

        def error_response(status: int) -> dict[str, Any]:
            return {
                "description": generic_message(status),
                "content": {"application/json": {"schema": error_ref}},
            }

        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None and "400" not in responses:
                    responses["400"] = error_response(400)
                if "requestBody" in operation:  # BodySizeLimitMiddleware, MAX_REQUEST_BYTES
                    responses.setdefault("413", error_response(413))
        components = schema.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
