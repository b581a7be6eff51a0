"""`/api/v1/participant`: statistics from a stream's participation records."""

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from app.core.clock import Now
from app.core.db import Db
from app.core.envelope import Envelope, error_responses, ok
from app.core.types import ObjectIdStr
from app.participants.schemas import ParticipantStatistics
from app.participants.service import ParticipantStatisticsService
from app.users.auth import CurrentUser

router = APIRouter(prefix="/api/v1/participant", tags=["Participants"])


@router.get(
    "/stream/{streamId}/statistics",
    response_model=Envelope[ParticipantStatistics],
    responses=error_responses(400, 401, 403, 404),
    summary="Audience statistics of a stream (creator and guests)",
)
async def get_participant_statistics(
    streamId: Annotated[ObjectIdStr, Path(description="`id` of your stream (as creator or guest).")],
    user: CurrentUser,
    db: Db,
    now: Now,
) -> Response:
    """Unique audience viewers, their total and average watch time in minutes (from join to leave; a
    viewer still present counts up to now, or up to the end of an ended stream) and the most viewers
    present at once. The stream's creator and invited guests only (403 otherwise).
    """
    return ok(await ParticipantStatisticsService(db, clock=lambda: now).statistics(streamId, user))
