"""The AsyncAPI 3.0 document of the Socket.IO API, generated from `contract.NAMESPACES`.

Seen from the server (AsyncAPI's "application"): a client event is an operation the server
*receives*, its ack the operation's reply on the same channel; a server event is one it *sends*.
Each namespace is a channel whose address is the namespace. Schemas are the pydantic models' JSON
Schemas (client payloads as validated, everything else as serialized), under `components.schemas`.
"""

from functools import cache
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.realtime.contract import COMMON_ERRORS, NAMESPACES, AckError, ClientEvent, Namespace

ASYNCAPI_URL = "/asyncapi.json"
ASYNCAPI_VIEWER_URL = "/asyncapi"
REF = "#/components/schemas/{model}"
Refs = dict[tuple[type[Any], str], dict[str, Any]]  # (model, "validation"/"serialization") → its $ref

DESCRIPTION = """\
Socket.IO (protocol v5) on the API's own port at the path `/socket.io`: the official clients
(`socket.io-client` 4.x, Swift, Kotlin) connect unchanged. Each channel below is a **namespace**;
connect to `<server>/<namespace>`, e.g. `io("https://host/stream-chat", {auth: {token}})`.

**Auth:** the REST JWT in the handshake's `auth: {token}` (or an `Authorization: Bearer` header),
checked like REST at connect; a bad token refuses the connection (`connect_error` with
`data: {statusCode: 401, message: "Authentication required", code: "TOKEN_INVALID"}`). No token = anonymous: may listen,
never records a participation, cannot chat.

**Acks:** every client event takes an ack and answers exactly one of `{ok: true, data}` or
`{ok: false, statusCode, message, errors, code}` with REST's status, texts and error code. Event payloads are not wrapped
in the REST envelope: they carry what REST's `data` would (ids as strings, times as
`2026-01-15T10:30:00.000Z`). The REST reference is at `/docs`.
"""


def _channel_id(namespace: Namespace) -> str:
    """`/live-stream-status` → `liveStreamStatus` (AsyncAPI ids allow letters, digits, `-` and `_`)."""
    head, *rest = namespace.path.strip("/").split("-")
    return head + "".join(part.title() for part in rest)


def _schemas() -> tuple[Refs, dict[str, Any]]:
    """Every model's schema (a `$ref` into components) and the components' schemas."""
    models: set[tuple[type[BaseModel], str]] = {(AckError, "serialization")}
    for namespace in NAMESPACES.values():
        for client_event in namespace.client_events:
            models.add((client_event.payload, "validation"))
            models.update((ack, "serialization") for ack in client_event.ack)
        models.update((server_event.payload, "serialization") for server_event in namespace.server_events)
    ordered = sorted(models, key=lambda item: (item[0].__name__, item[1]))
    refs, definitions = models_json_schema(ordered, ref_template=REF)  # type: ignore[arg-type]
    by_model: Refs = {(model, str(mode)): schema for (model, mode), schema in refs.items()}
    return by_model, dict(definitions.get("$defs", {}))


def _ack_schema(event: ClientEvent, refs: Refs) -> dict[str, Any]:
    data = [refs[(ack, "serialization")] for ack in event.ack]
    success = {
        "type": "object",
        "title": f"{event.name} ok",
        "required": ["ok", "data"],
        "properties": {
            "ok": {"const": True},
            "data": data[0] if len(data) == 1 else {"anyOf": data},  # a JoinAck is a ListenAck too
        },
    }
    return {"oneOf": [success, refs[(AckError, "serialization")]]}


def _errors_text(event: ClientEvent) -> str:
    errors: dict[int, list[str]] = {}
    for status, when in [*event.errors.items(), *COMMON_ERRORS.items()]:
        errors.setdefault(status, []).append(when)
    lines = [f"- `{status}`: {'; '.join(whens)}" for status, whens in sorted(errors.items())]
    return "Refusals (`ok: false`, `statusCode`):\n" + "\n".join(lines)


def _servers(public_base_url: str) -> dict[str, Any]:
    url = urlsplit(public_base_url)
    return {
        "api": {
            "host": url.netloc,
            "protocol": "wss" if url.scheme == "https" else "ws",
            "pathname": f"{url.path.rstrip('/')}/socket.io",
            "title": "This API",
            "description": "Socket.IO v5 (Engine.IO 4): WebSocket, or HTTP long-polling upgraded to it.",
        }
    }


@cache
def asyncapi_document(public_base_url: str, version: str = "1.0.0") -> dict[str, Any]:
    refs, component_schemas = _schemas()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for namespace in NAMESPACES.values():
        channel_id = _channel_id(namespace)
        channel_ref = {"$ref": f"#/channels/{channel_id}"}
        channel_messages: dict[str, Any] = {}
        for client_event in namespace.client_events:
            request_id, ack_id = client_event.name, f"{client_event.name}Ack"
            messages[f"{channel_id}_{request_id}"] = {
                "name": client_event.name,
                "title": client_event.name,
                "summary": client_event.summary,
                "payload": refs[(client_event.payload, "validation")],
            }
            messages[f"{channel_id}_{ack_id}"] = {
                "name": f"{client_event.name} ack",
                "title": f"{client_event.name} ack",
                "summary": f"The ack of `{client_event.name}`.",
                "description": _errors_text(client_event),
                "payload": _ack_schema(client_event, refs),
            }
            for message_id in (request_id, ack_id):
                channel_messages[message_id] = {"$ref": f"#/components/messages/{channel_id}_{message_id}"}
            operation: dict[str, Any] = {
                "action": "receive",
                "title": f"{namespace.path} {client_event.name}",
                "summary": client_event.summary,
                "channel": channel_ref,
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{request_id}"}],
                "reply": {
                    "channel": channel_ref,
                    "messages": [{"$ref": f"#/channels/{channel_id}/messages/{ack_id}"}],
                },
            }
            if client_event.name == "sendMessage":
                operation["security"] = [{"$ref": "#/components/securitySchemes/bearer"}]
            operations[f"{channel_id}_{client_event.name}"] = operation
        for server_event in namespace.server_events:
            messages[f"{channel_id}_{server_event.name}"] = {
                "name": server_event.name,
                "title": server_event.name,
                "summary": server_event.summary,
                "payload": refs[(server_event.payload, "serialization")],
            }
            channel_messages[server_event.name] = {
                "$ref": f"#/components/messages/{channel_id}_{server_event.name}"
            }
            operations[f"{channel_id}_{server_event.name}"] = {
                "action": "send",
                "title": f"{namespace.path} {server_event.name}",
                "summary": server_event.summary,
                "channel": channel_ref,
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{server_event.name}"}],
            }
        channels[channel_id] = {
            "address": namespace.path,
            "title": namespace.path,
            "description": namespace.description,
            "servers": [{"$ref": "#/servers/api"}],
            "messages": channel_messages,
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Allmine Live Streams realtime API",
            "version": version,
            "description": DESCRIPTION,
        },
        "defaultContentType": "application/json",
        "servers": _servers(public_base_url),
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": component_schemas,
            "messages": messages,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The REST access token, sent in the handshake's `auth: {token}` (or an "
                    "`Authorization: Bearer` header). Optional at connect: anonymous sockets may listen.",
                }
            },
        },
    }


VIEWER_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Allmine Live Streams realtime API (AsyncAPI)</title>
  <link rel="stylesheet" href="{root}/static/asyncapi/default.min.css">
</head>
<body>
  <div id="asyncapi"></div>
  <script src="{root}/static/asyncapi/asyncapi-standalone.js"></script>
  <script>
    AsyncApiStandalone.render({{
      schema: {{ url: "{root}{document}", options: {{ method: "GET", mode: "same-origin" }} }},
      config: {{ show: {{ sidebar: true }}, sidebar: {{ showOperations: "byDefault" }} }},
    }}, document.getElementById("asyncapi"));
  </script>
</body>
</html>
"""


def viewer_html(root: str = "") -> str:
    """The self-hosted AsyncAPI viewer (`@asyncapi/react-component`'s standalone bundle, vendored in
    app/static/asyncapi; no CDN)."""
    return VIEWER_HTML.format(root=root, document=ASYNCAPI_URL)


def install_asyncapi(app: FastAPI, public_base_url: str) -> None:
    """`/asyncapi.json` (the document, like `/openapi.json` not wrapped in the envelope) and `/asyncapi`
    (its viewer); mounted with the other docs (DOCS_ENABLED)."""

    @app.get(ASYNCAPI_URL, include_in_schema=False)
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(asyncapi_document(public_base_url, app.version))

    @app.get(ASYNCAPI_VIEWER_URL, include_in_schema=False)
    async def asyncapi_viewer(request: Request) -> HTMLResponse:
        return HTMLResponse(viewer_html(request.scope.get("root_path", "")))
