"""App factory: `create_app(settings)` builds a fully wired FastAPI application."""

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_fastapi_instrumentator import Instrumentator

from app import flows
from app.agora.tokens import AgoraTokenIssuer
from app.aioz.factory import build_aioz
from app.bans import router as bans_router
from app.chat import router as chat_router
from app.core import health
from app.core.background import Job, LeasedJob, cancel_all, run_leased_forever
from app.core.config import Settings, load_settings
from app.core.cors import Cors
from app.core.db import create_client
from app.core.envelope import install_error_handlers
from app.core.logging import configure_logging
from app.core.metrics import RequestMetrics, metrics_guard
from app.core.middleware import EdgeMiddleware
from app.core.migrations import DatabasePreparation, cancel_builds_in_progress
from app.core.openapi import install_openapi
from app.core.required_indexes import RequiredIndexes, paused_while_missing
from app.core.routing import add_routes, index_routes
from app.core.storage import MEDIA_URL_PREFIX, LocalStorage, MediaFiles
from app.core.timeutils import utcnow
from app.creators import router as creators_router
from app.creators.service import publish_most_watched
from app.dev import router as dev_router
from app.dev.seed import seed_demo_if_wanted
from app.feeds import router as feeds_router
from app.feeds.service import publish_featured
from app.live_streams import mini_crowd_funding_router
from app.live_streams import router as live_stream_router
from app.live_streams.reconcile import LEASE as RECONCILE_LEASE
from app.live_streams.streaming import StreamingGateway
from app.openapi_docs import OPENAPI_TAGS, PARAMETER_DESCRIPTIONS
from app.participants import router as participants_router
from app.realtime.asyncapi import install_asyncapi
from app.realtime.server import Realtime
from app.reminders import router as reminders_router
from app.reminders.scheduler import LEASE as REMINDERS_LEASE
from app.reminders.scheduler import ReminderScheduler
from app.replays import router as replays_router
from app.replays.settlement import LEASE as SETTLEMENT_LEASE
from app.replays.settlement import RentalSettlement
from app.repositories import REPOSITORIES
from app.superlikes import router as superlikes_router
from app.users import router as users_router

STATIC_DIR = Path(__file__).parent / "static"

DESCRIPTION = """
Allmine-compatible live-stream API. Every answer is wrapped in
`{isSuccess, statusCode, data, errors, timestamp}`.

**Try it:** create a user with `POST /api/v1/dev/users` (development only) or use one of the demo
tokens printed at start-up, then press **Authorize** and paste the token.

**Realtime:** Socket.IO on this port at `/socket.io`, namespaces `/live-stream-status`, `/live-stream`
and `/stream-chat` (events, payloads, acks and errors): the AsyncAPI 3.0 document
[`/asyncapi.json`](/asyncapi.json), rendered at [`/asyncapi`](/asyncapi).
"""


SOCKETIO_PATH = "/socket.io"
UNMETERED = frozenset(
    {"/metrics", "/health", "/ready", "/health/jobs"}
)  # probes and scrapes: no request metrics
STARTUP_WAIT_SECONDS = 3.0  # longest wait for the first index migration attempt before serving
SHUTDOWN_WAIT_SECONDS = 5.0  # longest wait for the background loops to stop and release their leases


def background_jobs(app: FastAPI, settings: Settings) -> list[LeasedJob]:
    """Every background job, each guarded by its own lease (also run once each by bench/plans.py)."""
    db, interval = app.state.db, settings.reconcile_interval_seconds
    gateway = StreamingGateway(db, app.state.aioz, settings.aioz_qualities)
    required = getattr(app.state, "required_indexes", None)

    def moves_money(job: Job) -> Job:  # such passes wait for the unique indexes money rests on
        return job if required is None else paused_while_missing(required, job)

    jobs = [
        LeasedJob(RECONCILE_LEASE, interval, moves_money(flows.reconciler(db, gateway).run_once)),
        LeasedJob(REMINDERS_LEASE, interval, ReminderScheduler(db).run_once),
        LeasedJob(SETTLEMENT_LEASE, interval, moves_money(RentalSettlement(db).run_once)),
    ]
    if settings.ranking_max_age_seconds > 0:
        refresh_every = max(settings.ranking_max_age_seconds / 2, 1.0)
        jobs.append(
            LeasedJob(
                "rankings",
                refresh_every,
                partial(publish_most_watched, db, budget_seconds=settings.mongodb_timeout_ms / 1000),
            )
        )
        jobs.append(LeasedJob("featured", refresh_every, partial(publish_featured, db)))
    return jobs


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    settings.check_production_safety()
    configure_logging(settings.log_level, json=settings.json_logs, access_log=settings.access_log)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = create_client(settings)
        app.state.mongo_client = client
        app.state.db = db = client[settings.mongodb_db]
        app.state.aioz, app.state.aioz_fake = build_aioz(settings)
        # Indexes, then the demo seed, retried in the background while the database is unavailable:
        # the process serves /health (and /ready 503) instead of exiting (docs/decisions.md).
        # Money writes wait for the unique indexes their exactly-once rests on (docs/decisions.md).
        app.state.required_indexes = required = RequiredIndexes(db, REPOSITORIES)
        preparation = DatabasePreparation(
            db,
            REPOSITORIES,
            after=[required.check, partial(seed_demo_if_wanted, app, settings)],
            build_timeout_seconds=settings.mongodb_index_build_timeout_ms / 1000,
        )
        app.state.database_preparation = preparation
        tasks = [asyncio.create_task(preparation.run())]
        with contextlib.suppress(TimeoutError):
            wait = None if settings.uses_embedded_db else STARTUP_WAIT_SECONDS
            await asyncio.wait_for(preparation.first_attempt.wait(), wait)
        app.state.started_at = utcnow()
        if settings.background_tasks:
            app.state.background_jobs = jobs = background_jobs(app, settings)  # /health/jobs reports them
            tasks += [
                asyncio.create_task(run_leased_forever(db, job.name, job.interval, job.run)) for job in jobs
            ]
        app.state.background_tasks = tasks
        await app.state.realtime.start()
        if settings.app_env != "test":  # test processes build many apps: a full collection each
            # What start-up built (modules, routes, models, clients) lives as long as the process: out
            # of the collector's reach, so collections triggered by request and fan-out garbage stop
            # rescanning it (a third of the fan-out's CPU was the collector, docs/benchmarks.md).
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await cancel_all(tasks, wait=SHUTDOWN_WAIT_SECONDS)  # a cancelled loop releases its lease
            cancel_builds_in_progress()  # not reported as failed builds when the client closes
            await app.state.realtime.stop()
            await app.state.aioz.aclose()
            await client.close()

    app = FastAPI(
        title="Allmine Live Streams API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_openapi from local assets
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_docs_enabled else None,
        openapi_tags=OPENAPI_TAGS,
    )
    app.state.settings = settings
    app.state.shared_services = {}  # app.core.dependencies.shared: services by builder, per database
    # What other domains provide to live streams (app.flows), built through app.core.dependencies.shared.
    app.state.make_follow_ups = flows.follow_up_runner
    app.state.make_reconciler = flows.reconciler
    app.state.make_presenter = flows.stream_presenter
    app.state.make_viewer_log = flows.viewer_log
    app.state.make_join_hooks = flows.join_hooks
    app.state.realtime = realtime = Realtime(app, settings)  # Socket.IO at /socket.io (docs/realtime.md)
    app.state.on_chat_message = realtime.on_chat_message
    app.state.storage = LocalStorage(settings.media_dir, settings.public_base_url)
    app.state.agora = AgoraTokenIssuer(settings)
    app.state.ranking_lock = asyncio.Lock()
    app.state.featured_lock = asyncio.Lock()
    install_error_handlers(app)
    # One pure ASGI layer for CORS (outermost: preflights answered first, every answer carries CORS),
    # request metrics, the request id, the 500 catcher (its answer still gets the request id), repeated
    # query parameters and body size (app.core.middleware). Per-route-template metrics read the route
    # the router matched (app.core.metrics); the instrumentator only serves /metrics: its own
    # middleware re-matches every route per request.
    app.add_middleware(
        EdgeMiddleware,
        cors=Cors(settings.cors_policy, own_cors=(SOCKETIO_PATH,)) if settings.cors_policy.enabled else None,
        metrics=RequestMetrics(excluded_handlers=UNMETERED),
        max_bytes=settings.max_request_bytes,
    )
    if settings.metrics_served:  # docs/security.md, "Exposure"
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        Instrumentator().expose(app, include_in_schema=False, dependencies=[Depends(metrics_guard(token))])

    # One flat route list (app.core.routing), matched in this order; an index narrows each request to
    # the few routes its path could match. `item_router`'s `/{id}` would capture every one-segment
    # path under /api/v1/live-stream, so it follows the routers that have one (live_stream_router's
    # /funded, /join…, creators' /most-watched-creators, feeds' /featured…, /my-reminders,
    # /my-replay-rentals); the others' paths cannot collide with it.
    index_routes(app)
    add_routes(app, health.router)
    add_routes(app, live_stream_router.router)
    add_routes(app, creators_router.router)
    add_routes(app, feeds_router.router)
    add_routes(app, reminders_router.router)
    add_routes(app, replays_router.router)
    add_routes(app, live_stream_router.item_router)
    add_routes(app, feeds_router.v2_router)
    add_routes(app, users_router.router)
    add_routes(app, superlikes_router.router)
    add_routes(app, mini_crowd_funding_router.router)
    add_routes(app, chat_router.router)
    add_routes(app, bans_router.router)
    add_routes(app, participants_router.router)
    if settings.dev_endpoints_enabled:
        add_routes(app, dev_router.router)
    Path(settings.media_dir).mkdir(parents=True, exist_ok=True)
    app.mount(MEDIA_URL_PREFIX, MediaFiles(directory=settings.media_dir), name="media")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount(SOCKETIO_PATH, realtime.asgi, name="socket.io")
    install_openapi(app, parameter_descriptions=PARAMETER_DESCRIPTIONS, serve_docs=settings.api_docs_enabled)
    if settings.api_docs_enabled:
        install_asyncapi(app, settings.public_base_url)
    return app
