"""Prometheus counters of the realtime layer (served by `/metrics` with the HTTP ones)."""

from prometheus_client import Counter, Gauge

REFUSED = Counter(
    "realtime_refused_total",
    "Client packets or events refused by the realtime limits, by reason.",
    ("reason",),  # rate, oversized, too_deep, not_json, unknown_event, bad_packet, token_expired
)
DISCONNECTED = Counter(
    "realtime_forced_disconnects_total",
    "Sockets the server disconnected, by reason.",
    ("reason",),  # abuse, bad_packets, token_expired
)
REDIS_ERRORS = Counter(
    "realtime_redis_errors_total",
    "Failed Redis operations of the realtime layer (fan-out publish, listener, viewer-count gate).",
    ("operation",),
)
REDIS_UP = Gauge("realtime_redis_up", "1 while the realtime layer's last Redis operation succeeded, else 0.")
DROPPED = Counter(
    "realtime_events_dropped_total",
    "Domain events not sent to sockets because the realtime queue was full, by hub event.",
    ("event",),
)
