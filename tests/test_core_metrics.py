"""Request metrics recorded as pending totals (app.core.metrics): every read of the registry sees what
prometheus_client's own `inc`/`observe` per request would have written."""

import threading

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, Summary

from app.core import metrics
from app.core.metrics import LATENCY, LATENCY_HIGHR, REQUEST_SIZE, REQUESTS, RESPONSE_SIZE, RequestMetrics

NAMES = (
    "http_requests_total",
    "http_request_size_bytes",
    "http_response_size_bytes",
    "http_request_duration_highr_seconds",
    "http_request_duration_seconds",
)
# Durations on, just under and just over bucket bounds of both histograms, and past the last one.
DURATIONS = (0.0, 0.005, 0.01, 0.0100001, 0.09, 0.1, 0.3, 0.5, 0.75, 1.0, 2.5, 31.0, 120.0)


def _samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the request metrics but `_created` (a timestamp), by name and labels."""
    found = {}
    for family in REGISTRY.collect():
        if family.name.removesuffix("_total") + ("_total" if family.type == "counter" else "") not in NAMES:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _scope(method: str, handler: str, content_length: int | None) -> dict:
    headers = [(b"host", b"test")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    return {"type": "http", "method": method, "headers": headers, "route": _Route(handler), "root_path": ""}


class _Route:
    def __init__(self, path: str) -> None:
        self.path = path


def _reference() -> tuple[CollectorRegistry, dict[str, object]]:
    """The same five collectors on a registry of their own, recorded the way prometheus_client does."""
    registry = CollectorRegistry()
    made = {
        "requests": Counter(REQUESTS._name, "", ("method", "status", "handler"), registry=registry),
        "request_size": Summary(REQUEST_SIZE._name, "", ("handler",), registry=registry),
        "response_size": Summary(RESPONSE_SIZE._name, "", ("handler",), registry=registry),
        "highr": Histogram(LATENCY_HIGHR._name, "", buckets=metrics.HIGHR_BOUNDS[:-1], registry=registry),
        "latency": Histogram(
            LATENCY._name, "", ("method", "handler"), buckets=metrics.LATENCY_BOUNDS[:-1], registry=registry
        ),
    }
    return registry, made


def test_pending_requests_read_as_prometheus_clients_own_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _samples()
    registry, reference = _reference()
    recorder = RequestMetrics()
    clock = iter(range(10**6))
    monkeypatch.setattr(metrics, "perf_counter", lambda: 0.0)
    kinds = [
        ("GET", "/test-metrics/a", 200, 120, None),
        ("POST", "/test-metrics/a", 201, 7, 42),
        ("GET", "/test-metrics/b", 404, 0, 3),
        ("PATCH", "/test-metrics/b", 503, 99, 0),
    ]
    for n, duration in enumerate(DURATIONS * 3):
        method, handler, status, response_size, request_size = kinds[n % len(kinds)]
        monkeypatch.setattr(metrics, "perf_counter", lambda d=duration: d)
        recorder.record(_scope(method, handler, request_size), "", status, response_size + next(clock), 0.0)
        status_class = f"{str(status)[0]}xx"
        reference["requests"].labels(method, status_class, handler).inc()
        reference["request_size"].labels(handler).observe(request_size or 0)
        reference["response_size"].labels(handler).observe(response_size + n)
        reference["highr"].observe(duration)
        reference["latency"].labels(method, handler).observe(duration)
        if n % 5 == 4:  # reads in between flush what is pending so far
            assert _samples()

    after = _samples()
    for (name, labels), value in registry_samples(registry).items():
        if "handler" in dict(labels) or name.startswith("http_request_duration_highr"):
            delta = after.get((name, labels), 0.0) - before.get((name, labels), 0.0)
            assert delta == pytest.approx(value, rel=1e-12, abs=1e-9), (name, labels)
    changed = {key for key in after if after[key] != before.get(key)}
    expected = {key for key in registry_samples(registry) if registry_samples(registry)[key]}
    assert {key for key in changed if "/test-metrics/" in str(key)} == {
        key for key in expected if "/test-metrics/" in str(key)
    }


def registry_samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_requests_recorded_from_several_threads_are_all_counted() -> None:
    recorder = RequestMetrics()
    labels = {"method": "GET", "status": "2xx", "handler": "/test-metrics/threads"}
    before = REGISTRY.get_sample_value("http_requests_total", labels) or 0.0

    def record_many() -> None:
        for _ in range(2_000):
            recorder.record(_scope("GET", "/test-metrics/threads", None), "", 200, 10, 0.0)
            if _ % 500 == 0:
                REGISTRY.get_sample_value("http_requests_total", labels)  # a scrape racing the recording

    threads = [threading.Thread(target=record_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert REGISTRY.get_sample_value("http_requests_total", labels) == before + 8_000
