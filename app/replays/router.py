"""Replays and rentals (`/api/v1/live-stream`; contract: docs/contract.md)."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from app.core.clock import Now
from app.core.envelope import Envelope, error_responses, ok
from app.core.pagination import Page, PageParams, strict_page_params
from app.core.required_indexes import MONEY_WRITE
from app.core.types import IdempotencyKey, ObjectIdStr
from app.live_streams.schemas import LiveStream, ReplayAccess
from app.replays.dependencies import Replays
from app.replays.schemas import ReplayRental, ReplaySettingsIn
from app.users.auth import CurrentUser

router = APIRouter(prefix="/api/v1/live-stream", tags=["Replays"])

RentalPage = Annotated[PageParams, Depends(strict_page_params(default_limit=10))]


@router.get(
    "/my-replay-rentals",
    response_model=Envelope[Page[ReplayRental]],
    responses=error_responses(400, 401),
    summary="The caller's replay rentals, most recently rented first",
)
async def list_my_replay_rentals(user: CurrentUser, replays: Replays, page: RentalPage, now: Now) -> Response:
    """The caller's replay rentals, most recently rented first, paginated with `page`/`limit` (at most
    100).
    """
    return ok(await replays.list_mine(user, page, now))


@router.patch(
    "/{id}/replay-settings",
    response_model=Envelope[LiveStream],
    responses=error_responses(400, 401, 403, 404),
    summary="Change a stream's replay visibility and rental price (creator only)",
)
async def update_replay_settings(
    id: ObjectIdStr, body: ReplaySettingsIn, user: CurrentUser, replays: Replays
) -> Response:
    """Change a stream's replay visibility (`isActiveReplayOnCreatorProfile`) and rental price
    (`replayCreditPrice`). Creator only; only the fields sent are changed.
    """
    return ok(await replays.update_settings(id, user, body.model_dump(exclude_unset=True)))


@router.get(
    "/{id}/replay-status",
    response_model=Envelope[ReplayAccess],
    responses=error_responses(400, 401, 404),
    summary="The caller's access to a stream's replay",
)
async def get_replay_status(id: ObjectIdStr, user: CurrentUser, replays: Replays, now: Now) -> Response:
    """The caller's access to a stream's replay: owner, rented (with time left), available for rent,
    expired or unavailable.
    """
    return ok(await replays.access(id, user, now))


@router.post(
    "/{id}/replay-rentals",
    response_model=Envelope[ReplayRental],
    responses=error_responses(400, 401, 403, 404, 409),
    summary="Rent a replay for 24 hours with credits (supports Idempotency-Key)",
    dependencies=[MONEY_WRITE],
)
async def rent_replay(
    id: ObjectIdStr,
    user: CurrentUser,
    replays: Replays,
    now: Now,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Rent a stream's replay for 24 hours, paying `replayCreditPrice` credits. The creator, guests and
    broadcasters watch for free (403). With an `Idempotency-Key` header a retry does not charge
    again. 409 when already rented or not rentable.
    """
    return ok(await replays.rent(id, user, idempotency_key, now))
