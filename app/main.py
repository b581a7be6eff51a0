"""App factory: `create_app(settings)` builds a fully wired FastAPI application."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from prometheus_fastapi_instrumentator import Instrumentator

from app.core import health
from app.core.config import Settings
from app.core.db import create_client, ensure_indexes
from app.core.envelope import install_error_handlers
from app.core.logging import configure_logging
from app.dev import router as dev_router
from app.dev.seed import seed_demo_if_wanted
from app.users import router as users_router

log = structlog.get_logger("app")

DESCRIPTION = """
Allmine-compatible live-stream API. Every answer is wrapped in
`{isSuccess, statusCode, data, errors, timestamp}`.

**Try it:** create a user with `POST /api/v1/dev/users` (development only) or use one of the demo
tokens printed at start-up, then press **Authorize** and paste the token.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.check_production_safety()
    json_logs = settings.is_production if settings.log_json is None else settings.log_json
    configure_logging(settings.log_level, json=json_logs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = create_client(settings)
        app.state.mongo_client = client
        app.state.db = client[settings.mongodb_db]
        await ensure_indexes(app.state.db)
        await seed_demo_if_wanted(app, settings)
        try:
            yield
        finally:
            await client.close()

    app = FastAPI(
        title="Allmine Live Streams API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")
    Instrumentator(excluded_handlers=["/metrics", "/health", "/ready"]).instrument(app).expose(
        app, include_in_schema=False
    )

    app.include_router(health.router)
    app.include_router(users_router.router)
    if settings.dev_endpoints_enabled:
        app.include_router(dev_router.router)
    return app
