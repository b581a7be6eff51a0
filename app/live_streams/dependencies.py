"""Typed dependencies wiring the live-stream services to the app's shared clients."""

from typing import Annotated

from fastapi import Depends, Request

from app.core.db import Db
from app.live_streams.audience import AudienceService
from app.live_streams.follow_ups import FollowUpRunner
from app.live_streams.funding import FundingService
from app.live_streams.lifecycle import StreamLifecycle
from app.live_streams.reconcile import Reconciler
from app.live_streams.service import LiveStreamService
from app.live_streams.streaming import StreamingGateway


async def get_follow_ups(request: Request, db: Db) -> FollowUpRunner:
    # Built by app.flows (the handlers live in other domains), handed over through app.state.
    return request.app.state.make_follow_ups(db)


FollowUps = Annotated[FollowUpRunner, Depends(get_follow_ups)]


async def get_stream_service(request: Request, db: Db, follow_ups: FollowUps) -> LiveStreamService:
    return LiveStreamService(db, request.app.state.settings, follow_ups)


StreamService = Annotated[LiveStreamService, Depends(get_stream_service)]


async def get_gateway(request: Request, db: Db) -> StreamingGateway:
    return StreamingGateway(db, request.app.state.aioz, request.app.state.settings.aioz_qualities)


Gateway = Annotated[StreamingGateway, Depends(get_gateway)]


async def get_lifecycle(service: StreamService, gateway: Gateway) -> StreamLifecycle:
    return StreamLifecycle(service.db, gateway, service.presenter, service.follow_ups)


Lifecycle = Annotated[StreamLifecycle, Depends(get_lifecycle)]


async def get_reconciler(request: Request, db: Db, gateway: Gateway) -> Reconciler:
    return request.app.state.make_reconciler(db, gateway)


ReconcilerDep = Annotated[Reconciler, Depends(get_reconciler)]


async def get_audience(request: Request, service: StreamService) -> AudienceService:
    return AudienceService(service.db, request.app.state.agora, service.presenter)


Audience = Annotated[AudienceService, Depends(get_audience)]


async def get_funding(db: Db) -> FundingService:
    return FundingService(db)


Funding = Annotated[FundingService, Depends(get_funding)]
