"""The FastAPI floor (issue 25): the least a FastAPI app can do for every benchmarked endpoint.

One route per scenario, added with `@app.get`/`@app.post` as FastAPI documents; the caller comes from
the app's own security dependency (`CurrentUser` / `OptionalUser`, i.e. `BearerUser`), parameters are
plain typed path/query parameters (every query parameter the app's route accepts, without its
constraints: FastAPI parses each declared parameter on every request, sent or not, so a route without
them would be a floor for a smaller API), write bodies the same pydantic models, and each handler calls the
same service instances as the Starlette baseline (built once) and returns the same orjson `Response`
(`app.core.envelope.ok`). No middleware and no other dependency: the app ÷ floor loop CPU is what the
app adds over FastAPI itself, the floor ÷ Starlette ratio what FastAPI itself costs.
"""

from typing import Annotated, Any

from bson import ObjectId
from fastapi import FastAPI, Header
from fastapi.responses import Response

from app.core.envelope import install_error_handlers, ok
from app.core.pagination import PageParams, SortOrder
from app.feeds.schemas import ForYouSection
from app.live_streams.schemas import FundIn, GuestStreamSort, JoinIn, LiveStreamStatus
from app.users.auth import CurrentUser, OptionalUser
from bench.baseline import NO_STORE, PREFIX, Services


def create_floor_app(app: FastAPI) -> FastAPI:
    """Routes using the started `app`'s database, settings and token issuer (call after its start-up)."""
    s = Services(app)
    floor = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    floor.state.db, floor.state.settings = app.state.db, app.state.settings  # what BearerUser reads
    install_error_handlers(floor)  # the same envelope on a 401/404 (never on the measured path)

    @floor.get(PREFIX)
    async def list_all(user: CurrentUser, limit: int = 100) -> Response:
        return ok(await s.service.list_all(user, limit))

    @floor.get(f"{PREFIX}/funded")
    async def funded(user: CurrentUser, limit: int = 50) -> Response:
        return ok(await s.service.funded(user, limit))

    @floor.get(f"{PREFIX}/guest-streams")
    async def guest_streams(
        user: CurrentUser,
        status: LiveStreamStatus | None = None,
        sortBy: GuestStreamSort = GuestStreamSort.createdAt,
        sortOrder: SortOrder = SortOrder.desc,
        limit: int = 100,
    ) -> Response:
        return ok(await s.service.guest_streams(user, status, sortBy, sortOrder, limit))

    @floor.get(f"{PREFIX}/for-you/scheduled")
    async def for_you_scheduled(user: CurrentUser, page: int = 1, limit: int = 10) -> Response:
        return ok(await s.feeds.for_you(user, ForYouSection.scheduled, PageParams(page, limit)))

    @floor.get(f"{PREFIX}/featured")
    async def featured() -> Response:
        return ok(await s.feeds.featured())

    @floor.get(f"{PREFIX}/most-watched-creators")
    async def most_watched(user: OptionalUser, limit: int = 20) -> Response:
        return ok(await s.rankings.most_watched_creators(user, limit))

    @floor.post(f"{PREFIX}/join")
    async def join(body: JoinIn, user: CurrentUser) -> Response:
        return ok(await s.audience.join(body, user), headers=NO_STORE)

    @floor.get(f"{PREFIX}/{{id}}")
    async def detail(id: str, user: OptionalUser) -> Response:
        return ok(await s.service.presenter.one(await s.service.get(ObjectId(id)), user))

    @floor.get(f"{PREFIX}/{{id}}/viewers")
    async def viewers(
        id: str, user: CurrentUser, page: int = 1, limit: int = 20, search: str | None = None
    ) -> Response:
        return ok(await s.audience.viewers(ObjectId(id), user, PageParams(page, limit), search))

    @floor.get(f"{PREFIX}/{{id}}/viewer-count")
    async def viewer_count(id: str, _: CurrentUser) -> Response:
        return ok(await s.audience.viewer_count(ObjectId(id)))

    @floor.post(f"{PREFIX}/{{id}}/fund")
    async def fund(
        id: str,
        body: FundIn,
        user: CurrentUser,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> Response:
        async def present(stream: dict[str, Any]) -> dict[str, Any]:
            return await s.service.presenter.one(stream, user)

        return ok(await s.funding.fund(ObjectId(id), user.id, body.amount, idempotency_key, present))

    return floor
