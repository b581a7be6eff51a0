"""`/api/v1/live-stream/{id}/mini-crowd-fundings`: small goals during an active stream."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.datastructures import State

from app.core.dependencies import shared
from app.core.envelope import Envelope, error_responses, ok
from app.core.required_indexes import MONEY_WRITE
from app.core.types import IdempotencyKey, ObjectIdStr
from app.live_streams.mini_crowd_fundings import MiniCrowdFundingService
from app.live_streams.schemas import FundIn, MiniCrowdFunding, MiniCrowdFundingIn
from app.users.auth import CurrentUser

router = APIRouter(prefix="/api/v1/live-stream", tags=["Funding"])


def _minis(state: State) -> MiniCrowdFundingService:
    return MiniCrowdFundingService(state.db)


Minis = Annotated[MiniCrowdFundingService, Depends(shared(_minis))]


@router.post(
    "/{id}/mini-crowd-fundings",
    status_code=201,
    response_model=Envelope[MiniCrowdFunding],
    responses=error_responses(400, 401, 403, 404, 409),
    summary="Open a mini crowd-funding during your active stream (creator only)",
)
async def create_mini_crowd_funding(
    id: ObjectIdStr, body: MiniCrowdFundingIn, user: CurrentUser, minis: Minis
) -> Response:
    """Open a small goal (`title`, `goal` in credits) for `durationMinutes` (1–240, default 30) during
    your `active` stream. At most 3 are open at once. It closes at its deadline or when the stream ends:
    goal reached → paid out to you (80 %; duo streams 40 % each to you and the guest), otherwise every
    funder is refunded.
    """
    return ok(await minis.create(id, user.id, body.title, body.goal, body.durationMinutes), status_code=201)


@router.get(
    "/{id}/mini-crowd-fundings",
    response_model=Envelope[list[MiniCrowdFunding]],
    responses=error_responses(400, 401, 404),
    summary="A stream's mini crowd-fundings, newest first",
)
async def list_mini_crowd_fundings(
    id: ObjectIdStr,
    user: CurrentUser,
    minis: Minis,
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many, newest first.")] = 20,
) -> Response:
    """The stream's mini crowd-fundings (`limit`, default 20), newest first, in every status."""
    return ok(await minis.list_of(id, limit))


@router.post(
    "/{id}/mini-crowd-fundings/{miniCrowdFundingId}/fund",
    response_model=Envelope[MiniCrowdFunding],
    responses=error_responses(400, 401, 403, 404, 409),
    summary="Fund an open mini crowd-funding with credits (supports Idempotency-Key)",
    dependencies=[MONEY_WRITE],
)
async def fund_mini_crowd_funding(
    id: ObjectIdStr,
    miniCrowdFundingId: ObjectIdStr,
    body: FundIn,
    user: CurrentUser,
    minis: Minis,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Fund an `open` mini crowd-funding of a stream (not your own) with `amount` credits. 400 with too
    few credits, 409 once it closed. With an `Idempotency-Key` header a retry gets the first answer
    and pays once.
    """
    return ok(await minis.fund(id, miniCrowdFundingId, user.id, body.amount, idempotency_key))
