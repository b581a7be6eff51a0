"""`GuardedServer`: python-socketio's server, refusing packets that are not our clients' Socket.IO.

Left to itself, python-socketio raises on an unparsable packet (bad JSON, unknown packet type, an event
without a name, a binary event) and engine.io logs two ERROR tracebacks per packet, with no limit and
no consequence for the sender. Here such a packet is a *bad packet*: it is dropped, counted per
connection, logged once per connection at WARNING (no traceback, no content), metered
(`realtime_refused_total{reason="bad_packet"}`), and `bad_packets_to_disconnect` of them within
`strike_window_seconds` close the connection (docs/security.md, "Realtime limits").

Also bad: an event on a namespace the connection has not joined (python-socketio drops it silently),
a client-sent event named like a server one (`connect`, `disconnect`), ack packets (the server never
asks a client for an ack) and binary packets (no event of ours takes binary data).
"""

import asyncio
from collections import deque
from typing import Any

import socketio
import structlog

from app.realtime.limits import RealtimeLimits
from app.realtime.metrics import DISCONNECTED, REFUSED

log = structlog.get_logger("app.realtime")

RESERVED_EVENTS = frozenset(("connect", "connect_error", "disconnect", "disconnecting"))


class BadPacket(ValueError):
    pass


class _Offences:
    __slots__ = ("closing", "times")

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.closing = False


class GuardedServer(socketio.AsyncServer):
    def __init__(self, limits: RealtimeLimits, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limits = limits
        self._offences: dict[str, _Offences] = {}
        self._closing: set[asyncio.Task[Any]] = set()

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            await super()._handle_eio_message(eio_sid, data)
        except Exception as exc:  # a client's malformed packet, never our bug: see _handle_event
            self.bad_packet(eio_sid, exc)
            return
        if self._binary_packet.pop(eio_sid, None) is not None:
            self.bad_packet(eio_sid, BadPacket("binary packet"))

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: Any, data: Any) -> None:
        # Checked before python-socketio reads `data[0]` or starts the handler task (where a bad event
        # name would fail unseen).
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise BadPacket("event without a name")
        if data[0] in RESERVED_EVENTS:
            raise BadPacket("reserved event name")
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
        if sid is None or not self.manager.is_connected(sid, namespace or "/"):
            raise BadPacket("event on a namespace the connection has not joined")
        await super()._handle_event(eio_sid, namespace, id, data)

    async def _handle_ack(self, eio_sid: str, namespace: str | None, id: Any, data: Any) -> None:
        raise BadPacket("ack packet")  # the server never asks a client for an ack

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        self._offences.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)

    def bad_packet(self, eio_sid: str, exc: Exception) -> None:
        REFUSED.labels("bad_packet").inc()
        connection = self.eio.sockets.get(eio_sid)
        if connection is None or connection.closing or connection.closed:
            return  # packets still arriving on a connection being closed: nothing more to say
        offences = self._offences.get(eio_sid)
        if offences is None:
            offences = self._offences[eio_sid] = _Offences()
            log.warning("realtime_bad_packet", error=type(exc).__name__)  # once per connection
        if offences.closing:
            return
        now = asyncio.get_running_loop().time()
        offences.times.append(now)
        while offences.times and now - offences.times[0] > self.limits.strike_window_seconds:
            offences.times.popleft()
        if len(offences.times) >= self.limits.bad_packets_to_disconnect:
            offences.closing = True
            DISCONNECTED.labels("bad_packets").inc()
            task = asyncio.create_task(self.eio.disconnect(eio_sid))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
