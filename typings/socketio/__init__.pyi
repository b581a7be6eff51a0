# Type stubs for the part of python-socketio (5.x ships no type information) that app/realtime uses,
# read by mypy through `mypy_path` in pyproject.toml. Signatures follow the library's source; add what
# app/realtime starts to use (mypy reports a missing attribute).
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from starlette.types import Receive, Scope, Send

from . import exceptions as exceptions

class AsyncManager:
    def __init__(self) -> None: ...
    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | list[str] | None = None,
        skip_sid: str | list[str] | None = None,
        callback: Callable[..., Any] | None = None,
        to: str | list[str] | None = None,
        **kwargs: Any,
    ) -> Any: ...
    def get_participants(self, namespace: str, room: str | None) -> Iterator[tuple[str, str]]: ...
    def sid_from_eio_sid(self, eio_sid: str, namespace: str) -> str | None: ...
    def is_connected(self, sid: str, namespace: str) -> bool: ...

class AsyncPubSubManager(AsyncManager):
    def __init__(
        self, channel: str = "socketio", write_only: bool = False, logger: Any = None, json: Any = None
    ) -> None: ...

class AsyncRedisManager(AsyncPubSubManager):
    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        channel: str = "socketio",
        write_only: bool = False,
        logger: Any = None,
        json: Any = None,
        redis_options: dict[str, Any] | None = None,
    ) -> None: ...
    # Internals app/realtime/manager.py overrides (python-socketio 5.x).
    channel: str
    connected: bool
    redis: Any
    pubsub: Any
    json: Any
    def _redis_connect(self) -> None: ...
    async def _publish(self, data: Any) -> None: ...
    def _redis_listen_with_retries(self) -> AsyncIterator[Any]: ...

class AsyncNamespace:
    namespace: str
    def __init__(self, namespace: str | None = None) -> None: ...
    async def emit(
        self,
        event: str,
        data: Any = None,
        to: str | list[str] | None = None,
        room: str | list[str] | None = None,
        skip_sid: str | list[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> None: ...
    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None: ...
    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None: ...
    async def disconnect(self, sid: str, namespace: str | None = None) -> None: ...
    async def trigger_event(self, event: str, *args: Any) -> Any: ...

class _EngineIOSocket:
    closing: bool
    closed: bool

class _EngineIOServer:
    sockets: dict[str, _EngineIOSocket]
    async def disconnect(self, sid: str | None = None) -> None: ...

class AsyncServer:
    manager: AsyncManager
    eio: _EngineIOServer
    _binary_packet: dict[str, Any]
    # Internal dispatch steps that app/realtime/guard.py wraps (python-socketio 5.x).
    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None: ...
    async def _handle_event(self, eio_sid: str, namespace: str | None, id: Any, data: Any) -> None: ...
    async def _handle_ack(self, eio_sid: str, namespace: str | None, id: Any, data: Any) -> None: ...
    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None: ...
    def __init__(
        self,
        client_manager: AsyncManager | None = None,
        logger: Any = False,
        json: Any = None,
        async_handlers: bool = True,
        namespaces: Any = None,
        **kwargs: Any,
    ) -> None: ...
    def register_namespace(self, namespace_handler: AsyncNamespace) -> None: ...
    async def emit(
        self,
        event: str,
        data: Any = None,
        to: str | list[str] | None = None,
        room: str | list[str] | None = None,
        skip_sid: str | list[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> None: ...
    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None: ...
    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None: ...
    async def disconnect(
        self, sid: str, namespace: str | None = None, ignore_queue: bool = False
    ) -> None: ...

class ASGIApp:
    def __init__(
        self,
        socketio_server: AsyncServer,
        other_asgi_app: Any = None,
        static_files: Any = None,
        socketio_path: str = "socket.io",
        on_startup: Callable[[], Any] | None = None,
        on_shutdown: Callable[[], Any] | None = None,
    ) -> None: ...
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...
