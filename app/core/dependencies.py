"""App-wide request dependencies that belong to no domain."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.datastructures import State

from app.core.config import Settings

T = TypeVar("T")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def shared_instance(state: State, build: Callable[[State], T]) -> T:
    """`build(state)`, built once per app and database handle (a new handle, e.g. each test's fresh
    database, builds anew): what `shared` dependencies and the Socket.IO handlers use."""
    db, built = state.shared_services.get(build, (None, None))
    if db is not state.db:
        built = build(state)
        state.shared_services[build] = (state.db, built)
    instance: T = built
    return instance


def shared(build: Callable[[State], T]) -> Callable[[Request], Coroutine[Any, Any, T]]:
    """A request dependency answering `shared_instance(app.state, build)`.

    Services hold repositories, settings and app-wide clients, never request state, so one instance
    serves every request. The dependency takes the request alone: FastAPI resolves each
    sub-dependency of a tree on every request, and a service assembled from `Db`, `SettingsDep`, a
    presenter… was about a quarter of the framework's event-loop CPU per request
    (docs/benchmarks.md, "Findings").
    """

    async def dependency(request: Request) -> T:
        return shared_instance(request.app.state, build)

    dependency.__name__ = dependency.__qualname__ = f"shared_{build.__name__.lstrip('_')}"
    _SHARED_BUILDS[dependency] = build
    return dependency


# Each `shared` dependency and what it builds: `app.core.routing` hands a route's top-level shared
# parameters to its handler without FastAPI resolving them as nodes (same instance, same overrides).
_SHARED_BUILDS: dict[Callable[..., Any], Callable[[State], Any]] = {}


def shared_build(call: Callable[..., Any] | None) -> Callable[[State], Any] | None:
    """The build behind a `shared` dependency, None for any other callable."""
    return _SHARED_BUILDS.get(call) if call is not None else None
