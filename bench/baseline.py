"""The baseline: a bare Starlette app answering the benchmarked read endpoints with the same work.

Same process, same database handle and dataset as the real app, same services and repository calls,
same JWT verification and user lookup, same orjson envelope: only the framework around them differs
(no FastAPI dependencies or validation, no middleware, services built once instead of per request).
The ratio app / baseline therefore measures what the app's framework layer costs.
"""

import asyncio

from bson import ObjectId
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import flows
from app.core.envelope import ok
from app.core.pagination import PageParams
from app.core.security import AuthenticatedUser, decode_subject
from app.creators.service import RankingService
from app.live_streams.audience import AudienceService
from app.live_streams.service import LiveStreamService

PREFIX = "/api/v1/live-stream"


class _Handlers:
    def __init__(self, app: FastAPI) -> None:
        state = app.state
        self.settings, self.users = state.settings, state.db["users"]
        presenter = flows.stream_presenter(state.db, state.settings)
        self.service = LiveStreamService(state.db, presenter, flows.follow_up_runner(state.db))
        self.audience = AudienceService(state.db, state.agora, presenter, flows.viewer_log(state.db))
        self.rankings = RankingService(state.db, state.settings.ranking_max_age_seconds, asyncio.Lock())

    async def caller(self, request: Request) -> AuthenticatedUser | None:
        header = request.headers.get("authorization")
        if not header:
            return None
        user_id = decode_subject(self.settings, header.removeprefix("Bearer "))
        doc = await self.users.find_one({"_id": user_id, "deletedAt": None})
        return AuthenticatedUser(id=user_id, doc=doc) if doc else None

    async def funded(self, request: Request) -> Response:
        user = await self.caller(request)
        assert user is not None
        limit = int(request.query_params.get("limit", 50))
        return ok(await self.service.funded(user, limit))

    async def most_watched(self, request: Request) -> Response:
        limit = int(request.query_params.get("limit", 20))
        user = await self.caller(request)
        return ok(await self.rankings.most_watched_creators(user, limit))

    async def detail(self, request: Request) -> Response:
        user = await self.caller(request)
        stream = await self.service.get(_object_id(request))
        return ok(await self.service.presenter.one(stream, user))

    async def viewers(self, request: Request) -> Response:
        user = await self.caller(request)
        assert user is not None
        page = PageParams(
            int(request.query_params.get("page", 1)), int(request.query_params.get("limit", 20))
        )
        return ok(await self.audience.viewers(_object_id(request), user, page, None))


def _object_id(request: Request) -> ObjectId:
    return ObjectId(request.path_params["id"])


def create_baseline_app(app: FastAPI) -> Starlette:
    """Routes using the started `app`'s database, settings and token issuer (call after its start-up)."""
    handlers = _Handlers(app)
    return Starlette(
        routes=[
            Route(f"{PREFIX}/funded", handlers.funded),
            Route(f"{PREFIX}/most-watched-creators", handlers.most_watched),
            Route(f"{PREFIX}/{{id}}", handlers.detail),
            Route(f"{PREFIX}/{{id}}/viewers", handlers.viewers),
        ]
    )
