"""Typed dependencies wiring the live-stream services to the app's shared clients.

What other domains provide (follow-up handlers, replay access, the viewer log) is composed in
`app.flows` and handed over through `app.state`, so this package imports none of them.
"""

from typing import Annotated

from fastapi import Depends, Request

from app.core.db import Db
from app.core.dependencies import SettingsDep
from app.core.types import ObjectIdStr
from app.live_streams.audience import AudienceService
from app.live_streams.documents import LiveStreamDocument
from app.live_streams.follow_ups import FollowUpRunner
from app.live_streams.funding import FundingService
from app.live_streams.lifecycle import StreamLifecycle
from app.live_streams.presenter import LiveStreamPresenter
from app.live_streams.reconcile import Reconciler
from app.live_streams.service import LiveStreamService
from app.live_streams.streaming import StreamingGateway
from app.users.auth import CurrentUser


async def get_follow_ups(request: Request, db: Db) -> FollowUpRunner:
    runner: FollowUpRunner = request.app.state.make_follow_ups(db)
    return runner


FollowUps = Annotated[FollowUpRunner, Depends(get_follow_ups)]


async def get_presenter(request: Request, db: Db, settings: SettingsDep) -> LiveStreamPresenter:
    presenter: LiveStreamPresenter = request.app.state.make_presenter(db, settings)
    return presenter


Presenter = Annotated[LiveStreamPresenter, Depends(get_presenter)]


async def get_stream_service(db: Db, presenter: Presenter, follow_ups: FollowUps) -> LiveStreamService:
    return LiveStreamService(db, presenter, follow_ups)


StreamService = Annotated[LiveStreamService, Depends(get_stream_service)]


async def get_owned_stream(id: ObjectIdStr, user: CurrentUser, service: StreamService) -> LiveStreamDocument:
    """The `{id}` stream, loaded once: 404 when it does not exist, 403 unless the caller created it."""
    return await service.get_owned(id, user)


OwnedStream = Annotated[LiveStreamDocument, Depends(get_owned_stream)]


async def get_gateway(request: Request, db: Db, settings: SettingsDep) -> StreamingGateway:
    return StreamingGateway(db, request.app.state.aioz, settings.aioz_qualities)


Gateway = Annotated[StreamingGateway, Depends(get_gateway)]


async def get_lifecycle(
    db: Db, gateway: Gateway, presenter: Presenter, follow_ups: FollowUps
) -> StreamLifecycle:
    return StreamLifecycle(db, gateway, presenter, follow_ups)


Lifecycle = Annotated[StreamLifecycle, Depends(get_lifecycle)]


async def get_reconciler(request: Request, db: Db, gateway: Gateway) -> Reconciler:
    reconciler: Reconciler = request.app.state.make_reconciler(db, gateway)
    return reconciler


ReconcilerDep = Annotated[Reconciler, Depends(get_reconciler)]


async def get_audience(request: Request, db: Db, presenter: Presenter) -> AudienceService:
    state = request.app.state
    return AudienceService(db, state.agora, presenter, state.make_viewer_log(db), state.make_join_hooks(db))


Audience = Annotated[AudienceService, Depends(get_audience)]


async def get_funding(db: Db) -> FundingService:
    return FundingService(db)


Funding = Annotated[FundingService, Depends(get_funding)]
