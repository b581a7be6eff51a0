"""`POST /api/v1/live-stream/{streamId}/chat/superlike` (Live Stream Chat group)."""

from fastapi import APIRouter
from fastapi.responses import Response

from app.core.envelope import Envelope, error_responses, ok
from app.core.required_indexes import MONEY_WRITE
from app.core.types import IdempotencyKey, ObjectIdStr
from app.superlikes.dependencies import Superlikes
from app.superlikes.schemas import Superlike
from app.users.auth import CurrentUser

router = APIRouter(prefix="/api/v1/live-stream", tags=["Chat"])


@router.post(
    "/{streamId}/chat/superlike",
    response_model=Envelope[Superlike],
    responses=error_responses(400, 401, 403, 404, 409),
    summary="Send a superlike (10 credits) to an active stream's creator (supports Idempotency-Key)",
    dependencies=[MONEY_WRITE],
)
async def send_superlike(
    streamId: ObjectIdStr, user: CurrentUser, superlikes: Superlikes, idempotency_key: IdempotencyKey = None
) -> Response:
    """Send a superlike to an `active` stream: 10 credits leave the caller and go to the creator (80 %;
    on duo streams 40 % each to the creator and the guest; the platform keeps the rest). No body.
    400 with too few credits, 403 on your own stream or when banned from the stream, 409 when the
    stream is not active. With an `Idempotency-Key` header a retry gets the first answer and pays once.
    """
    return ok(await superlikes.send(streamId, user.id, idempotency_key))
