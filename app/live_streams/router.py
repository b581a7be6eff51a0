"""`/api/v1/live-stream`: thin handlers — parse, authorise, delegate, pick the status code.

`router` holds the fixed paths and is included before `item_router` (`/{id}` paths), so a fixed
path such as `/featured` is never parsed as an id.
"""

import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import StringConstraints

from app.core.dependencies import SettingsDep
from app.core.envelope import Envelope, error_responses, ok
from app.core.errors import ValidationFailed
from app.core.pagination import PageParams, SortOrder
from app.core.required_indexes import MONEY_WRITE
from app.core.types import IdempotencyKey, ObjectIdStr
from app.live_streams.dependencies import (
    Audience,
    Funding,
    Lifecycle,
    OwnedStream,
    ReconcilerDep,
    StreamService,
)
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.schemas import (
    FundIn,
    GuestStreamSort,
    Interest,
    JoinAsIn,
    JoinIn,
    JoinResult,
    LeaveResult,
    LiveStream,
    LiveStreamStatus,
    LiveStreamType,
    Motivation,
    StreamTitle,
    ViewerCount,
    ViewersPage,
    example_start_date,
)
from app.live_streams.service import NewLiveStream
from app.live_streams.thumbnails import store_thumbnail
from app.users.auth import CurrentUser, OptionalUser

router = APIRouter(prefix="/api/v1/live-stream")
item_router = APIRouter(prefix="/api/v1/live-stream")

STREAM = Envelope[LiveStream]
# Join answers carry credentials (Agora tokens, the creator's RTMP stream key): no cache may keep them.
NO_STORE = {"Cache-Control": "no-store"}
STREAMS = Envelope[list[LiveStream]]
MAX_GUEST_FIELDS = 10  # a duo stream takes one guest; a few more fields only get a clear 400


@router.get(
    "",
    tags=["Streams"],
    response_model=STREAMS,
    responses=error_responses(400, 401),
    summary="List all live streams",
)
async def list_live_streams(
    user: CurrentUser,
    service: StreamService,
    limit: Annotated[int, Query(ge=1, le=1000, description="Newest first; at most this many.")] = 100,
) -> Response:
    """Every live stream in any state, newest first, up to `limit`. Any signed-in user."""
    return ok(await service.list_all(user, limit))


@router.post(
    "/create",
    tags=["Streams"],
    status_code=201,
    response_model=STREAM,
    responses=error_responses(400, 401),
    summary="Create a live stream (multipart form)",
)
async def create_live_stream(
    request: Request,
    user: CurrentUser,
    service: StreamService,
    settings: SettingsDep,
    title: Annotated[StreamTitle, Form(examples=["Launch day Q&A"])],
    guests: Annotated[
        list[Annotated[str, StringConstraints(max_length=2000)]] | None,
        Form(
            max_length=MAX_GUEST_FIELDS,
            description="The invited guests' user ids (24 hex characters), one form field per id "
            "(`guests=64d1…`): none for `solo`, exactly one for `duocrowd`/`duoself`. Allmine's form, "
            'one field holding a JSON array (`guests=["64d1…"]`, `[]` for none), is accepted too.',
            examples=[[]],  # the playground starts with no guest, not a placeholder id
        ),
    ] = None,
    thumbnail: Annotated[UploadFile | None, File(description="JPEG, PNG, WebP or GIF")] = None,
    price: Annotated[
        float | None,
        Form(
            ge=0,
            le=1_000_000,
            allow_inf_nan=False,
            description="Entry price in credits, at most two decimals (Allmine's example is `9.99`); "
            "stored and answered as sent, charged once per viewer on the first join rounded up to whole "
            "credits (`9.99` charges 10). Absent or 0 = free.",
            examples=[0],
        ),
    ] = None,
    liveStreamType: Annotated[LiveStreamType, Form()] = LiveStreamType.solo,
    interest: Annotated[Interest | None, Form(examples=["music"])] = None,
    durationGoal: Annotated[int | None, Form(ge=1, le=1440, description="Minutes.", examples=[60])] = None,
    motivation: Annotated[Motivation | None, Form(examples=["Questions welcome"])] = None,
    plannedStartDate: Annotated[
        datetime | None,
        Form(
            description="ISO-8601 with a timezone, in the future (at most two years); absent = start now.",
            examples=[example_start_date()],
        ),
    ] = None,
    fundingGoal: Annotated[
        int | None, Form(ge=1, le=1_000_000_000, description="Credits to crowd-fund.", examples=[1000])
    ] = None,
    recording: Annotated[bool, Form(description="Record on AIOZ for replays.", examples=[False])] = False,
) -> Response:
    """Create a live stream from a multipart form; the caller becomes its creator (host). Without
    `plannedStartDate` the stream is `preparing` and can be started at once; with a future date (at
    most two years ahead) it is `scheduled` and can be crowd-funded up to `fundingGoal` and have
    reminders. `price` > 0 makes a paid stream. `guests` are user ids, one form field each: none for
    `solo`, exactly one for `duocrowd`/`duoself` (Allmine's JSON-array string is accepted too). The optional `thumbnail` (JPEG, PNG, WebP or GIF,
    at most `MAX_THUMBNAIL_BYTES`) is stored only once the stream is accepted; without one the
    default thumbnail is used.
    """
    title = title.strip()
    if not title:
        raise ValidationFailed("title must not be blank")
    if price is not None and not math.isclose(price * 100, round(price * 100), abs_tol=1e-6):
        raise ValidationFailed("price must have at most two decimals")
    if plannedStartDate is not None and plannedStartDate.tzinfo is None:
        raise ValidationFailed("plannedStartDate must include a timezone, e.g. 2026-01-15T18:00:00.000Z")
    thumbnail_url = None
    if thumbnail is not None and thumbnail.filename:
        thumbnail_url = await store_thumbnail(
            thumbnail, request.app.state.storage, settings.max_thumbnail_bytes
        )
    new = NewLiveStream(
        title=title,
        guests=guests or [],
        price=int(price) if price is not None and price.is_integer() else price,
        liveStreamType=liveStreamType,
        interest=interest.strip() if interest else None,
        durationGoal=durationGoal,
        motivation=motivation,
        plannedStartDate=plannedStartDate,
        fundingGoal=fundingGoal,
        recording=recording,
        thumbnailUrl=thumbnail_url,
    )
    try:
        created = await service.create(user, new)
    except BaseException:
        if thumbnail_url is not None:  # refused: keep no file of a stream that does not exist
            await request.app.state.storage.delete(thumbnail_url)
        raise
    return ok(created, status_code=201)


@router.get(
    "/funded",
    tags=["Funding"],
    response_model=STREAMS,
    responses=error_responses(400, 401, 403),
    summary="Scheduled streams the caller has crowd-funded, newest funding first",
)
async def list_funded_streams(
    user: CurrentUser,
    service: StreamService,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """Scheduled streams the caller has crowd-funded, each once, the most recent funding first, up to
    `limit`.
    """
    return ok(await service.funded(user, limit))


@router.get(
    "/guest-streams",
    tags=["Streams"],
    response_model=STREAMS,
    responses=error_responses(400, 401, 403),
    summary="Streams the caller is invited to as a guest",
)
async def list_guest_streams(
    user: CurrentUser,
    service: StreamService,
    status: LiveStreamStatus | None = None,
    sortBy: GuestStreamSort = GuestStreamSort.createdAt,
    sortOrder: SortOrder = SortOrder.desc,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many.")] = 100,
) -> Response:
    """Streams the caller is invited to as a guest, optionally filtered by `status`, sorted by
    `sortBy`/`sortOrder`, up to `limit`.
    """
    return ok(await service.guest_streams(user, status, sortBy, sortOrder, limit))


@router.get(
    "/my-active-stream",
    tags=["Streams"],
    response_model=STREAM,
    responses=error_responses(401, 404),
    summary="The caller's active live stream",
)
async def get_my_active_stream(user: CurrentUser, service: StreamService) -> Response:
    """The caller's stream that is currently `active`; 404 when there is none."""
    return ok(await service.active_stream_of(user.id, user))


@router.get(
    "/user/{userId}/active-stream",
    tags=["Streams"],
    response_model=STREAM,
    responses=error_responses(400, 401, 404),
    summary="A user's active live stream (optional auth)",
)
async def get_user_active_stream(userId: ObjectIdStr, user: OptionalUser, service: StreamService) -> Response:
    """The given user's stream that is currently `active`; 404 when there is none. Anonymous callers are
    allowed.
    """
    return ok(await service.active_stream_of(userId, user))


@router.post(
    "/join",
    tags=["Audience"],
    response_model=Envelope[JoinResult],
    responses=error_responses(400, 401, 403, 404, 409),
    summary="Watch an active stream: Agora subscriber token + participation record",
    dependencies=[MONEY_WRITE],
)
async def join_live_stream(body: JoinIn, user: CurrentUser, audience: Audience) -> Response:
    """Join an `active` stream as audience and get an Agora subscriber token. Any signed-in user except the
    creator (who uses `join-as-creator`); invited guests use `join-as-guest`. `role` may be omitted
    or `audience`. Joining again refreshes the token. Take `liveStreamId` from the `id` of an active
    stream, e.g. from `GET /api/v1/live-stream/featured`. Answers carry credentials and are sent
    with `Cache-Control: no-store`.
    """
    return ok(await audience.join(body, user), headers=NO_STORE)


@router.post(
    "/join-as-guest",
    tags=["Audience"],
    response_model=Envelope[JoinResult],
    responses=error_responses(400, 401, 403, 404, 409),
    summary="Join as an invited guest: Agora publisher token",
)
async def join_live_stream_as_guest(body: JoinAsIn, user: CurrentUser, audience: Audience) -> Response:
    """Join a stream you are invited to as guest and get an Agora publisher token. Only the invited guest
    may call this.
    """
    return ok(await audience.join_as_guest(body.liveStreamId, user), headers=NO_STORE)


@router.post(
    "/join-as-creator",
    tags=["Audience"],
    response_model=Envelope[JoinResult],
    responses=error_responses(400, 401, 403, 404, 409),
    summary="Join as the creator: Agora publisher token and, once started, the RTMP ingest",
)
async def join_live_stream_as_creator(body: JoinAsIn, user: CurrentUser, audience: Audience) -> Response:
    """Join your own stream as creator and get an Agora publisher token and, once the stream was started,
    the RTMP ingest (`ingest.rtmpUrl` and `ingest.streamKey` for OBS). Only the creator may call
    this.
    """
    return ok(await audience.join_as_creator(body.liveStreamId, user), headers=NO_STORE)


# --- /{id} paths -----------------------------------------------------------------------------------------


@item_router.get(
    "/{id}",
    tags=["Streams"],
    response_model=STREAM,
    responses=error_responses(400, 401, 404),
    summary="Live stream detail",
)
async def get_live_stream(id: ObjectIdStr, user: CurrentUser, service: StreamService) -> Response:
    """One live stream by id, as seen by the caller (`role`, `replayAccess`). Deleted streams answer 404."""
    return ok(await service.presenter.one(await service.get(id), user))


@item_router.delete(
    "/{id}",
    tags=["Streams"],
    response_model=STREAM,
    responses=error_responses(400, 401, 403, 404, 409),
    summary="Soft delete your own stream (not while active)",
    dependencies=[MONEY_WRITE],
)
async def delete_live_stream(id: ObjectIdStr, user: CurrentUser, service: StreamService) -> Response:
    """Soft-delete your own stream; answers with the deleted stream. Only the creator; an `active` stream
    must be ended first (409).
    """
    return ok(await service.delete(id, user))


@item_router.post(
    "/{id}/cancel",
    tags=["Streams"],
    response_model=STREAM,
    responses=error_responses(400, 401, 403, 404, 409),
    summary="Cancel before start (creator or invited guest); funders are refunded",
    dependencies=[MONEY_WRITE],
)
async def cancel_live_stream(id: ObjectIdStr, user: CurrentUser, service: StreamService) -> Response:
    """Cancel a stream before it starts (`scheduled` or `preparing`): the creator (→ `cancelled_by_host`)
    or an invited guest (→ `cancelled_by_guest`). Funders are refunded.
    """
    return ok(await service.cancel(id, user))


@item_router.post(
    "/{id}/start",
    tags=["Lifecycle"],
    response_model=STREAM,
    responses=error_responses(400, 401, 403, 404, 409, 502, 503),
    summary="Go live: opens the AIOZ session (creator only)",
)
async def start_live_stream(stream: OwnedStream, user: CurrentUser, lifecycle: Lifecycle) -> Response:
    """Go live: open the AIOZ streaming session and mark the stream `active`. Only the creator; the stream
    must be `scheduled` or `preparing`, and the creator may have only one active stream. 502/503
    when AIOZ fails or is unavailable (nothing changes; retry).
    """
    return ok(await lifecycle.presenter.one(await lifecycle.start(stream, user), user))


@item_router.post(
    "/{id}/end",
    tags=["Lifecycle"],
    response_model=STREAM,
    responses=error_responses(400, 401, 403, 404, 409),
    summary="End the broadcast (creator only); the recording is collected in the background",
    dependencies=[MONEY_WRITE],
)
async def end_live_stream(
    stream: OwnedStream, user: CurrentUser, lifecycle: Lifecycle, reconciler: ReconcilerDep
) -> Response:
    """End the broadcast of an `active` stream (creator only): the stream becomes `ended`; the recording
    (when `recording` is on) is collected in the background.
    """
    return ok(await lifecycle.end_and_present(stream, user, reconciler))


@item_router.post(
    "/{id}/fund",
    tags=["Funding"],
    response_model=STREAM,
    responses=error_responses(400, 401, 403, 404, 409),
    summary="Crowd-fund a scheduled stream with credits (supports Idempotency-Key)",
    dependencies=[MONEY_WRITE],
)
async def fund_live_stream(
    id: ObjectIdStr,
    body: FundIn,
    user: CurrentUser,
    funding: Funding,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Crowd-fund a `scheduled` stream with `amount` credits from the caller's balance. Any signed-in user
    except the creator. With an `Idempotency-Key` header, retrying the same request returns the
    first answer unchanged and charges once. Funders are refunded when the stream is cancelled or
    expires.
    """

    async def present(stream: LiveStreamDocument) -> dict[str, Any]:
        return await funding.presenter.one(stream, user)

    return ok(await funding.service.fund(id, user.id, body.amount, idempotency_key, present))


@item_router.post(
    "/{id}/leave",
    tags=["Audience"],
    response_model=Envelope[LeaveResult],
    responses=error_responses(400, 401, 404, 409),
    summary="End the caller's participation (watch time is recorded)",
)
async def leave_live_stream(id: ObjectIdStr, user: CurrentUser, audience: Audience) -> Response:
    """End the caller's participation in a stream; answers with the watch time recorded. 409 when the
    caller is not in the stream.
    """
    return ok(await audience.leave(id, user))


@item_router.get(
    "/{id}/viewers",
    tags=["Audience"],
    response_model=Envelope[ViewersPage],
    responses=error_responses(400, 401, 403, 404, 409),
    summary="Audience currently watching an active stream",
)
async def list_viewers(
    id: ObjectIdStr,
    user: CurrentUser,
    audience: Audience,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    search: Annotated[str | None, Query(max_length=100, description="name, surname or username")] = None,
) -> Response:
    """The audience currently watching an `active` stream, paginated with `page`/`limit` (at most 100),
    optionally filtered by `search` on name, surname or username. 409 when the stream is not active.
    """
    return ok(await audience.viewers(id, user, PageParams(page=page, limit=limit), search))


@item_router.get(
    "/{id}/viewer-count",
    tags=["Audience"],
    response_model=Envelope[ViewerCount],
    responses=error_responses(400, 401, 403, 404, 500),
    summary="Current viewer count",
)
async def get_viewer_count(id: ObjectIdStr, _: CurrentUser, audience: Audience) -> Response:
    """How many viewers currently watch the stream. Any signed-in user."""
    return ok(await audience.viewer_count(id))
