"""Per-socket limits: event size, events per second (token bucket), repeated abuse, streams per socket.

Documented in docs/security.md ("Realtime limits"). A refused event answers an error ack; a socket that
keeps going over the rate after being refused, or keeps sending refused payloads (oversized, too deep,
unknown events), is disconnected. Packets that are not Socket.IO at all are counted per connection by
`guard.GuardedServer`.
"""

import time
from collections import deque
from dataclasses import dataclass


@dataclass
class RealtimeLimits:
    max_event_bytes: int = 8 * 1024  # one client event's payload, JSON-encoded: beyond → 413 ack
    max_packet_bytes: int = 64 * 1024  # engine.io's hard cap on one packet: beyond → connection closed
    events_per_second: float = 10.0  # sustained rate of client events per socket
    burst: int = 20  # events a socket may send at once before the rate applies
    strikes_to_disconnect: int = 20  # refused (rate-limited) events within the window → disconnect
    strike_window_seconds: float = 10.0
    max_streams_per_socket: int = 10  # streams one socket may have joined/subscribed at a time
    max_payload_depth: int = 8  # nesting of a client event's payload (ours are flat): beyond → 400 ack
    bad_packets_to_disconnect: int = 5  # unparsable/unexpected packets within the window → disconnect


class SocketLimiter:
    """Token bucket plus a sliding count of refusals; one per socket, touched only by its events."""

    def __init__(self, limits: RealtimeLimits) -> None:
        self.limits = limits
        self.tokens = float(limits.burst)
        self.stamp = time.monotonic()
        self.strikes: deque[float] = deque()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.limits.burst, self.tokens + (now - self.stamp) * self.limits.events_per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.strike(now)
        return False

    def strike(self, now: float | None = None) -> None:
        """Count one refused event (over the rate, or a payload no client of ours sends)."""
        now = time.monotonic() if now is None else now
        self.strikes.append(now)
        while self.strikes and now - self.strikes[0] > self.limits.strike_window_seconds:
            self.strikes.popleft()

    @property
    def abusive(self) -> bool:
        return len(self.strikes) >= self.limits.strikes_to_disconnect
