"""Typed dependencies wiring the live-stream services to the app's shared clients.

What other domains provide (follow-up handlers, replay access, the viewer log) is composed in
`app.flows` and handed over through `app.state`, so this package imports none of them. Services are
`shared`: built once per database handle, each a one-node dependency; FastAPI resolves every node of
every request (~20 µs each here, docs/benchmarks.md, issue 25), so a route takes one service node and
reaches the presenter through it (`service.presenter`, `lifecycle.presenter`, `FundingDesk`).
"""

from typing import Annotated, NamedTuple

from fastapi import Depends
from starlette.datastructures import State

from app.core.dependencies import shared, shared_instance
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


def follow_ups_of(state: State) -> FollowUpRunner:
    return shared_instance(state, _follow_ups)


def presenter_of(state: State) -> LiveStreamPresenter:
    """The app's one presenter (per database handle), for every service that presents streams."""
    return shared_instance(state, _presenter)


def _follow_ups(state: State) -> FollowUpRunner:
    runner: FollowUpRunner = state.make_follow_ups(state.db)
    return runner


def _presenter(state: State) -> LiveStreamPresenter:
    presenter: LiveStreamPresenter = state.make_presenter(state.db, state.settings)
    return presenter


def gateway_of(state: State) -> StreamingGateway:
    return StreamingGateway(state.db, state.aioz, state.settings.aioz_qualities)


def _stream_service(state: State) -> LiveStreamService:
    return LiveStreamService(state.db, presenter_of(state), follow_ups_of(state))


StreamService = Annotated[LiveStreamService, Depends(shared(_stream_service))]


async def get_owned_stream(id: ObjectIdStr, user: CurrentUser, service: StreamService) -> LiveStreamDocument:
    """The `{id}` stream, loaded once: 404 when it does not exist, 403 unless the caller created it."""
    return await service.get_owned(id, user)


OwnedStream = Annotated[LiveStreamDocument, Depends(get_owned_stream)]


def _lifecycle(state: State) -> StreamLifecycle:
    return StreamLifecycle(state.db, gateway_of(state), presenter_of(state), follow_ups_of(state))


Gateway = Annotated[StreamingGateway, Depends(shared(gateway_of))]
Lifecycle = Annotated[StreamLifecycle, Depends(shared(_lifecycle))]


def _reconciler(state: State) -> Reconciler:
    reconciler: Reconciler = state.make_reconciler(state.db, gateway_of(state))
    return reconciler


ReconcilerDep = Annotated[Reconciler, Depends(shared(_reconciler))]


def audience_of(state: State) -> AudienceService:
    """Built for REST and for the Socket.IO handlers alike."""
    db = state.db
    return AudienceService(
        db, state.agora, presenter_of(state), state.make_viewer_log(db), state.make_join_hooks(db)
    )


Audience = Annotated[AudienceService, Depends(shared(audience_of))]


class FundingDesk(NamedTuple):
    """The funding service and the presenter of the stream it answers with: one dependency node."""

    service: FundingService
    presenter: LiveStreamPresenter


def _funding(state: State) -> FundingDesk:
    return FundingDesk(FundingService(state.db), presenter_of(state))


Funding = Annotated[FundingDesk, Depends(shared(_funding))]
