"""The baseline: a bare Starlette app answering every benchmarked endpoint with the same work.

Same process, same database handle and dataset as the real app, same services and repository calls,
same JWT verification and user lookup, same request-body models and the same orjson envelope: only the
framework around them differs (no FastAPI dependencies or validation of parameters, no middleware,
services built once instead of per request). The ratio app / baseline therefore measures what the
app's framework layer costs, for reads and for the hot writes (fund, join) alike.

The same app also serves the *transport floor* (`TRANSPORT_PATH/{size}`): constant bytes of a given
size, no service call. Driven with each scenario's method, headers, body and answer size, its loop CPU
is what the HTTP server, the sockets, Starlette's routing and the response cost on their own; the
baseline's loop CPU minus it is the services' own share (issue 25 item 3).
"""

import asyncio
from typing import Any

from bson import ObjectId
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import flows
from app.core.envelope import ok
from app.core.pagination import PageParams, SortOrder
from app.core.security import AuthenticatedUser
from app.creators.service import RankingService
from app.feeds.schemas import ForYouSection
from app.feeds.service import FeedService, ParticipantViewerCounts
from app.live_streams.audience import AudienceService
from app.live_streams.funding import FundingService
from app.live_streams.schemas import FundIn, GuestStreamSort, JoinIn
from app.live_streams.service import LiveStreamService
from app.users.auth import caller_of

PREFIX = "/api/v1/live-stream"
TRANSPORT_PATH = "/__transport"
NO_STORE = {"Cache-Control": "no-store"}


class Services:
    """The services every benchmarked endpoint calls, built once on the started app's database."""

    def __init__(self, app: FastAPI) -> None:
        state = app.state
        db = state.db
        self.settings, self.db = state.settings, db
        presenter = flows.stream_presenter(db, state.settings)
        self.service = LiveStreamService(db, presenter, flows.follow_up_runner(db))
        self.audience = AudienceService(
            db, state.agora, presenter, flows.viewer_log(db), flows.join_hooks(db)
        )
        self.rankings = RankingService(db, state.settings.ranking_max_age_seconds, asyncio.Lock())
        self.feeds = FeedService(
            db,
            presenter,
            ParticipantViewerCounts(db),
            max_age_seconds=state.settings.ranking_max_age_seconds,
            refresh_lock=asyncio.Lock(),
        )
        self.funding = FundingService(db)


class _Handlers(Services):
    async def caller(self, request: Request) -> AuthenticatedUser | None:
        header = request.headers.get("authorization")
        if not header:
            return None
        return await caller_of(self.db, self.settings, header.removeprefix("Bearer "))

    async def user(self, request: Request) -> AuthenticatedUser:
        user = await self.caller(request)
        assert user is not None
        return user

    async def list_all(self, request: Request) -> Response:
        user = await self.user(request)
        return ok(await self.service.list_all(user, int(request.query_params.get("limit", 100))))

    async def funded(self, request: Request) -> Response:
        user = await self.user(request)
        return ok(await self.service.funded(user, int(request.query_params.get("limit", 50))))

    async def guest_streams(self, request: Request) -> Response:
        user = await self.user(request)
        return ok(await self.service.guest_streams(user, None, GuestStreamSort.createdAt, SortOrder.desc))

    async def for_you_scheduled(self, request: Request) -> Response:
        user = await self.user(request)
        page = _page(request, limit=10)
        return ok(await self.feeds.for_you(user, ForYouSection.scheduled, page))

    async def featured(self, request: Request) -> Response:
        return ok(await self.feeds.featured())

    async def most_watched(self, request: Request) -> Response:
        limit = int(request.query_params.get("limit", 20))
        user = await self.caller(request)
        return ok(await self.rankings.most_watched_creators(user, limit))

    async def detail(self, request: Request) -> Response:
        user = await self.caller(request)
        stream = await self.service.get(_object_id(request))
        return ok(await self.service.presenter.one(stream, user))

    async def viewers(self, request: Request) -> Response:
        user = await self.user(request)
        return ok(await self.audience.viewers(_object_id(request), user, _page(request, limit=20), None))

    async def viewer_count(self, request: Request) -> Response:
        await self.user(request)
        return ok(await self.audience.viewer_count(_object_id(request)))

    async def fund(self, request: Request) -> Response:
        user = await self.user(request)
        body = FundIn.model_validate_json(await request.body())

        async def present(stream: dict[str, Any]) -> dict[str, Any]:
            return await self.service.presenter.one(stream, user)

        key = request.headers.get("idempotency-key")
        return ok(await self.funding.fund(_object_id(request), user.id, body.amount, key, present))

    async def join(self, request: Request) -> Response:
        user = await self.user(request)
        body = JoinIn.model_validate_json(await request.body())
        return ok(await self.audience.join(body, user), headers=NO_STORE)


class _Transport:
    """Constant JSON bodies by size, built once: the transport floor's answers."""

    def __init__(self) -> None:
        self.bodies: dict[int, bytes] = {}

    async def answer(self, request: Request) -> Response:
        if request.method == "POST":
            await request.body()  # the write scenarios' bodies are received as the baseline does
        size = int(request.path_params["size"])
        body = self.bodies.get(size)
        if body is None:
            body = self.bodies[size] = b'{"data":"' + b"x" * max(size - 11, 0) + b'"}'
        return Response(body, media_type="application/json")


def _object_id(request: Request) -> ObjectId:
    return ObjectId(request.path_params["id"])


def _page(request: Request, *, limit: int) -> PageParams:
    return PageParams(int(request.query_params.get("page", 1)), int(request.query_params.get("limit", limit)))


def create_baseline_app(app: FastAPI) -> Starlette:
    """Routes using the started `app`'s database, settings and token issuer (call after its start-up)."""
    h = _Handlers(app)
    return Starlette(
        routes=[
            # First: its routing is the least of any route's, so the floor is a lower bound.
            Route(f"{TRANSPORT_PATH}/{{size:int}}", _Transport().answer, methods=["GET", "POST"]),
            Route(PREFIX, h.list_all),
            Route(f"{PREFIX}/funded", h.funded),
            Route(f"{PREFIX}/guest-streams", h.guest_streams),
            Route(f"{PREFIX}/for-you/scheduled", h.for_you_scheduled),
            Route(f"{PREFIX}/featured", h.featured),
            Route(f"{PREFIX}/most-watched-creators", h.most_watched),
            Route(f"{PREFIX}/join", h.join, methods=["POST"]),
            Route(f"{PREFIX}/{{id}}", h.detail),
            Route(f"{PREFIX}/{{id}}/viewers", h.viewers),
            Route(f"{PREFIX}/{{id}}/viewer-count", h.viewer_count),
            Route(f"{PREFIX}/{{id}}/fund", h.fund, methods=["POST"]),
        ]
    )
