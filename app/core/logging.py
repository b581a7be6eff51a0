"""structlog configuration: JSON lines in production, readable console output elsewhere.

Every line carries the request id set by asgi-correlation-id. Secrets never reach a log call: settings
hold them as `SecretStr`, and the redaction processor below masks well-known secret keys anyway.
"""

import logging
import sys
from typing import Any

import structlog
from asgi_correlation_id import correlation_id

_SECRET_KEYS = {"authorization", "token", "access_token", "accesstoken", "secret", "password", "stream_key"}


def _add_request_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    request_id = correlation_id.get()
    if request_id:
        event.setdefault("request_id", request_id)
    return event


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in event.keys() & _SECRET_KEYS:
        event[key] = "***"
    return event


def _uvicorn_fields(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """uvicorn's access lines as fields (`http_request`, method, path, status…) instead of a sentence."""
    args = event.pop("positional_args", ())
    record = event.get("_record")
    if record is not None and record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        client, method, path, http_version, status = args
        event.update(event="http_request", client=client, method=method, path=path, status=status)
        event["http_version"] = http_version
    return event


def configure_logging(level: str = "INFO", json: bool = False, access_log: bool = True) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _uvicorn_fields,
        _add_request_id,
        _redact,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            pass_foreign_args=True,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # uvicorn's loggers (start-up, errors, access) carry no handler of their own (the CLI runs uvicorn
    # with log_config=None): they reach the root handler above, in the same format as the app's lines.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # ACCESS_LOG=false: a logger without handlers anywhere up its chain is one uvicorn does not call.
    logging.getLogger("uvicorn.access").propagate = access_log
