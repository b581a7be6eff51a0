"""The OpenAPI document as clients and generators need it, and the self-hosted `/docs` playground.

Everything here is derived from route metadata, so domains only declare what is theirs (tags,
`operation_id=` where the function name reads badly, docstrings, schemas with examples):

- **Playground**: Swagger UI's JS/CSS are served by the app (`/docs-assets`, from the pinned
  `fastapi-offline` wheel, FastAPI's self-hosting recipe), so `/docs` works offline; `/redoc` (ReDoc,
  read-only reference) likewise, from the same wheel, without Google Fonts.
- **operationId**: the endpoint function's name in camelCase (`fund_live_stream` → `fundLiveStream`)
  unless the route sets `operation_id=`; `Body_*` form schemas are named after it (`CreateLiveStreamForm`).
- **Security**: `[{"JWT-auth": []}]` for a required token, `[{}, {"JWT-auth": []}]` where an
  authentication dependency may resolve to `None` (anonymous allowed), `[]` for public operations.
- **Errors**: FastAPI's 422 is replaced by 400 (validation answers 400 in the envelope). Every
  operation documents 400 (a repeated query parameter is refused on every path), operations with a
  token 401, operations with a body 413; each error response carries the real envelope as example.
- **Generators**: an optional parameter is omitted rather than sent as `null` (no `null` branch, so a
  generated client never sends an empty `Idempotency-Key`); uploads are `format: binary`.
- **Examples**: every JSON response gets an example built from its schema (field `examples` first)
  with the envelope's real `isSuccess`/`statusCode`; media types use `examples` (OpenAPI 3.1 style).
  Request examples must work when tried unchanged against the demo data: the ids they need (and who
  to authorize as) come from `register_request_examples` (`app.openapi_docs`), by operationId; every
  other JSON body gets an example built from its schema.
"""

import copy
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from fastapi.staticfiles import StaticFiles

from app.core.errors import ErrorCode, generic_message, status_code_of

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
DOCS_ASSETS_URL = "/docs-assets"
SWAGGER_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
EXAMPLE_TIMESTAMP = "2026-01-15T18:00:00.000Z"
ERROR_REF = "#/components/schemas/ErrorEnvelope"
# Why an operation may answer the status although its route does not declare it.
IMPLICIT_ERRORS = {
    400: "Validation failed: a parameter or the body is invalid, or a query parameter is repeated.",
    401: "Authentication required: the token sent is missing (where required, `TOKEN_MISSING`), "
    "malformed or names an unknown user (`TOKEN_INVALID`), or expired (`TOKEN_EXPIRED`).",
    413: "Payload too large: the request body exceeds `MAX_REQUEST_BYTES`.",
    415: "Unsupported media type: this operation takes `multipart/form-data`.",
    500: "Internal server error: unexpected; quote the `X-Request-ID` response header.",
    503: "Service unavailable: the database or the video service is unavailable or too slow; retry "
    "after `Retry-After` seconds.",
}
ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'RFC 6750 challenge: `Bearer` when no token was sent, else `Bearer error="invalid_token", '
            'error_description="..."`.',
            "schema": {"type": "string"},
        }
    },
    429: {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}},
    503: {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}},
}
# The code each documented error example shows (the status's default otherwise).
EXAMPLE_CODES = {401: ErrorCode.TOKEN_MISSING, 503: ErrorCode.DATABASE_UNAVAILABLE}


# Request examples by operationId (see `register_request_examples`).
_REQUEST_EXAMPLES: dict[str, dict[str, dict[str, Any]]] = {}
REQUEST_BODY = "requestBody"


def register_request_examples(examples: Mapping[str, Mapping[str, dict[str, Any]]]) -> None:
    """Request examples by operationId: per parameter name, and `requestBody` for the JSON body, an
    Example Object (`{"summary": ..., "value": ...}`) that replaces what the schemas would suggest.

    The app's documentation module registers them on import, as repositories register themselves.
    """
    for operation_id, examples_of in examples.items():
        _REQUEST_EXAMPLES.setdefault(operation_id, {}).update(examples_of)


def install_openapi(
    app: FastAPI,
    *,
    parameter_descriptions: Mapping[str, str] | None = None,
    request_examples: Mapping[str, Mapping[str, dict[str, Any]]] | None = None,
    servers: list[dict[str, str]] | None = None,
    serve_docs: bool = True,
) -> None:
    """Serve `/docs` from local assets and replace `app.openapi` by the post-processed document.

    `parameter_descriptions` describe parameters (by name) that their route leaves undescribed;
    `request_examples` (default: the registered ones) are applied by operationId; tag descriptions
    come from `FastAPI(openapi_tags=...)`.
    """
    if serve_docs:  # DOCS_ENABLED (docs/security.md, "Exposure"); the document is built either way
        _install_docs(app)
    fallback = dict(parameter_descriptions or {})
    servers = servers or [{"url": "/", "description": "This server"}]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
            servers=servers,
            license_info={"name": "Proprietary", "url": "https://allmine.com/terms"},
        )
        # Examples of operations this app does not mount (e.g. the dev endpoints) are not used.
        examples = _REQUEST_EXAMPLES if request_examples is None else request_examples
        for route in _api_routes(app):
            for method in route.methods - {"HEAD"}:
                operation = schema["paths"][route.path_format][method.lower()]
                operation["operationId"] = route.operation_id or camel_case(route.name)
                _finish_operation(operation, _auth_mode(route.dependant), fallback, schema)
                _request_examples(operation, examples.get(operation["operationId"], {}), schema)
        _rename_form_bodies(schema)
        _optional_form_fields_without_null(schema)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        _walk_schemas(schema, _binary_uploads)
        _walk_schemas(schema, _examples_not_example)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Every documented API route, also inside routers FastAPI includes lazily (≥ 0.13x)."""
    contexts = getattr(routing, "iter_route_contexts", None)
    routes: Iterable[Any] = contexts(app.routes) if contexts else app.routes  # route contexts or routes
    for route in routes:
        original = getattr(route, "original_route", route)
        if isinstance(original, APIRoute) and route.include_in_schema:
            yield route


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# --- playground ------------------------------------------------------------------------------------------


def _install_docs(app: FastAPI) -> None:
    """FastAPI's "self-hosting JavaScript and CSS for docs" recipe, with the assets of a pinned wheel."""
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=SWAGGER_ASSETS_DIR), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            swagger_ui_parameters={
                "validatorUrl": None,  # no call to the public validator service
                "persistAuthorization": True,
                "displayRequestDuration": True,
                "tryItOutEnabled": True,
            },
        )

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )


# --- operations ------------------------------------------------------------------------------------------


def _auth_mode(dependant: Dependant) -> str | None:
    """`required`, `optional` (a security dependency that lets anonymous callers through) or `None`."""
    modes = set(_auth_modes(dependant))
    return "required" if "required" in modes else ("optional" if modes else None)


def _auth_modes(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        if isinstance(sub.call, SecurityBase):
            # FastAPI's convention for its own schemes: `auto_error=False` lets a request without
            # credentials through (the dependency answers None), so the operation is optional-auth.
            yield "required" if getattr(sub.call, "auto_error", True) else "optional"
        yield from _auth_modes(sub)


def _finish_operation(
    operation: dict[str, Any], auth: str | None, fallback: Mapping[str, str], schema: dict[str, Any]
) -> None:
    scheme = next(iter(schema.get("components", {}).get("securitySchemes", {})), "JWT-auth")
    if auth == "required":
        operation["security"] = [{scheme: []}]
    elif auth == "optional":
        operation["security"] = [{}, {scheme: []}]
    else:
        operation["security"] = []
    for parameter in operation.get("parameters", []):
        if not parameter.get("description") and parameter["name"] in fallback:
            parameter["description"] = fallback[parameter["name"]]
        if not parameter.get("required"):
            parameter["schema"] = _without_null(parameter["schema"])
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    body_types = operation.get("requestBody", {}).get("content", {})
    implicit = (
        [400]
        + ([401] if auth else [])
        + ([413] if body_types else [])
        + ([415] if "multipart/form-data" in body_types else [])
        + [500, 503]  # every operation: generated clients keep the envelope instead of raising blind
    )
    for status in implicit:
        responses.setdefault(str(status), {"description": IMPLICIT_ERRORS[status]})
    for code, response in responses.items():
        status = int(code) if code.isdigit() else 0
        if status >= 400:
            response["content"] = {
                "application/json": {
                    "schema": {"$ref": ERROR_REF},
                    "examples": {
                        "error": {"summary": generic_message(status), "value": error_example(status)}
                    },
                }
            }
            if response.get("description") in (None, "", "Successful Response"):
                response["description"] = generic_message(status)
            if status in ERROR_HEADERS:
                response["headers"] = ERROR_HEADERS[status]
        elif 200 <= status < 300:
            media = response.get("content", {}).get("application/json")
            if media and "schema" in media and "example" not in media and "examples" not in media:
                value = sample(media["schema"], schema)
                if isinstance(value, dict) and {"isSuccess", "statusCode"} <= value.keys():
                    value.update(isSuccess=True, statusCode=status, errors=[], timestamp=EXAMPLE_TIMESTAMP)
                media["examples"] = {"success": {"summary": response["description"], "value": value}}


def _request_examples(
    operation: dict[str, Any], given: Mapping[str, dict[str, Any]], schema: dict[str, Any]
) -> None:
    """The given examples on their parameters and JSON body; other JSON bodies sampled from their schema."""
    unused = dict(given)
    for parameter in operation.get("parameters", []):
        if parameter["name"] in unused:
            parameter["examples"] = {"demo": unused.pop(parameter["name"])}
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if media is not None:
        given_body = unused.pop(REQUEST_BODY, None)
        media["examples"] = {"demo": given_body or {"value": sample(media["schema"], schema)}}
    if unused:
        raise ValueError(f"{operation['operationId']}: examples for unknown parameters {sorted(unused)}")


def error_example(status: int) -> dict[str, Any]:
    return {
        "isSuccess": False,
        "statusCode": status,
        "data": None,
        "errors": [generic_message(status)],
        "timestamp": EXAMPLE_TIMESTAMP,
        "code": EXAMPLE_CODES.get(status, status_code_of(status)).value,
    }


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, null]` → X: an absent optional parameter means "none"; `null` only confuses clients."""
    branches = schema.get("anyOf")
    if not branches:
        return schema
    kept = [branch for branch in branches if branch.get("type") != "null"]
    if len(kept) != 1 or len(kept) == len(branches):
        return schema
    outer = {key: value for key, value in schema.items() if key != "anyOf"}
    if outer.get("default", 0) is None:
        outer.pop("default")
    return {**kept[0], **outer}


def _rename_form_bodies(schema: dict[str, Any]) -> None:
    """`Body_create_live_stream_api_v1_…_post` → `CreateLiveStreamForm` (generated model names)."""
    components = schema.get("components", {}).get("schemas", {})
    renames: dict[str, str] = {}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                old = ref.rsplit("/", 1)[-1]
                if old.startswith("Body_") and old in components:
                    op_id = operation["operationId"]
                    renames[old] = op_id[:1].upper() + op_id[1:] + "Form"
    for old, new in renames.items():
        components[new] = components.pop(old)
        components[new]["title"] = new

    def rename(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in renames:
                node["$ref"] = "#/components/schemas/" + renames[ref.rsplit("/", 1)[-1]]
            for value in node.values():
                rename(value)
        elif isinstance(node, list):
            for value in node:
                rename(value)

    rename(schema)


def _optional_form_fields_without_null(schema: dict[str, Any]) -> None:
    """A form field left out means "none"; a `null` branch makes generated clients send "None"."""
    components = schema.get("components", {}).get("schemas", {})
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
                if media_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
                    continue
                form = components.get(media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1], {})
                required = set(form.get("required", []))
                for name, prop in form.get("properties", {}).items():
                    if name not in required:
                        form["properties"][name] = _without_null(prop)


# --- schema walks ----------------------------------------------------------------------------------------


def _walk_schemas(node: Any, fix: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(node, dict):
        fix(node)
        for value in node.values():
            _walk_schemas(value, fix)
    elif isinstance(node, list):
        for value in node:
            _walk_schemas(value, fix)


def _binary_uploads(node: dict[str, Any]) -> None:
    """pydantic's `contentMediaType` makes generators type a file as `str`; `format: binary` is a file."""
    if node.get("type") == "string" and node.get("contentMediaType") == "application/octet-stream":
        del node["contentMediaType"]
        node["format"] = "binary"


def _examples_not_example(node: dict[str, Any]) -> None:
    """OpenAPI 3.1 schemas use the JSON Schema `examples` list; `example` is deprecated there."""
    if "example" in node and isinstance(node.get("type"), str) and "examples" not in node:
        node["examples"] = [node.pop("example")]


_DATE_TIME = re.compile(r"date-?time", re.IGNORECASE)


EXAMPLE_ID = "64d15f9e2e6c8f4d5a123456"
EXAMPLE_BASE_URL = "http://127.0.0.1:8000"
# Plausible values by property name, so sampled examples never show a bare "string" placeholder.
EXAMPLE_STRINGS = {
    "username": "ayse",
    "name": "Ayşe",
    "surname": "Yılmaz",
    "title": "Launch day Q&A",
    "content": "Hello from the chat!",
    "message": "Resource not found",
    "reason": "Spamming the chat",
    "type": "image",
    "channelName": "launch-day-q-a-3f9c",
    "interest": "music",
    "motivation": "Questions welcome",
    "availabilityStatus": "available",
    "interests": "music",
    "expertise": "music",
    "status": "active",
    "kind": "image",
    "accessToken": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI2NGQxNWY5ZTJlNmM4ZjRkNWExMjM0NTYifQ.c2lnbmF0dXJl",
}


def _sample_string(name: str) -> str:
    """An example string for a property called `name` (`_id`, `…Id`, `…Url`/`url`, known names)."""
    if name in EXAMPLE_STRINGS:
        return EXAMPLE_STRINGS[name]
    if name in ("_id", "id", "user") or name.endswith(("Id", "By")):
        return EXAMPLE_ID
    if name.endswith("At"):
        return EXAMPLE_TIMESTAMP
    if name.lower().endswith("url") or name == "profilePhoto":
        return f"{EXAMPLE_BASE_URL}/media/example.png"
    if name.lower().endswith("token") or name.lower().endswith("key"):
        return "4b1f0c6e2a9d4c8f"
    return f"example {name}" if name else "example"


def sample(node: dict[str, Any], document: dict[str, Any], depth: int = 0, name: str = "") -> Any:
    """A value valid against `node`: its first example or default, else built from its type (strings
    from the property's `name`)."""
    if depth > 12:
        return None
    if "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{key: value for key, value in node.items() if key != "$ref"}}
    if node.get("examples"):
        return copy.deepcopy(node["examples"][0])
    if "example" in node:
        return copy.deepcopy(node["example"])
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return node["enum"][0]
    if "default" in node and node["default"] is not None:
        return copy.deepcopy(node["default"])
    for key in ("anyOf", "oneOf"):
        if key in node:
            branches = [branch for branch in node[key] if branch.get("type") != "null"]
            return sample(branches[0], document, depth + 1, name) if branches else None
    if "allOf" in node:
        return sample(node["allOf"][0], document, depth + 1, name)
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return {
            key: sample(prop, document, depth + 1, key) for key, prop in node.get("properties", {}).items()
        }
    if kind == "array":
        return [sample(node.get("items", {}), document, depth + 1, name)]
    if kind == "string":
        if _DATE_TIME.fullmatch(node.get("format", "")):
            return EXAMPLE_TIMESTAMP
        return _sample_string(name)
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum", -1) + 1)
        value = max(low, 0) if "maximum" not in node else min(max(low, 0), node["maximum"])
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    return None
