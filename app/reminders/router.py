"""Reminders on scheduled streams: set, remove, and watch them fire (`/api/v1/live-stream`)."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.core.envelope import Envelope, error_responses, ok
from app.core.types import ObjectIdStr
from app.reminders.dependencies import Reminders
from app.reminders.schemas import Reminder, ReminderIn, ReminderStatus
from app.users.auth import CurrentUser

router = APIRouter(prefix="/api/v1/live-stream", tags=["Schedule & reminders"])


@router.get(
    "/my-reminders",
    response_model=Envelope[list[Reminder]],
    responses=error_responses(400, 401),
    summary="The caller's reminders, most recently changed first (FIRED ones show when they fired)",
)
async def list_my_reminders(
    user: CurrentUser,
    reminders: Reminders,
    status: ReminderStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """The caller's reminders, most recently changed first, optionally only those in `status`, up to
    `limit`. Fired reminders show when they fired.
    """
    return ok(await reminders.list_mine(user, status, limit))


@router.post(
    "/{id}/reminder",
    response_model=Envelope[Reminder],
    responses=error_responses(400, 401, 404, 409),
    summary="Create or update the caller's reminder for a scheduled stream",
)
async def set_reminder(
    id: ObjectIdStr, body: ReminderIn, user: CurrentUser, reminders: Reminders
) -> Response:
    """Create or update the caller's reminder for a `scheduled` stream: `minute` minutes before the planned
    start, or `null`/0 for when the stream actually starts. 409 when the stream is not scheduled.
    """
    return ok(await reminders.arm(id, user, body.minute))


@router.delete(
    "/{id}/reminder",
    response_model=Envelope[Reminder],
    responses=error_responses(400, 401, 404),
    summary="Remove the caller's reminder for a stream (answers with the removed reminder)",
)
async def delete_reminder(id: ObjectIdStr, user: CurrentUser, reminders: Reminders) -> Response:
    """Remove the caller's reminder for a stream; answers with the removed reminder. 404 when there is
    none.
    """
    return ok(await reminders.disarm(id, user))
