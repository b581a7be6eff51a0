"""Operations: probes, metrics, request ids and the OpenAPI document."""

import re
import uuid

import pytest
from prometheus_client import REGISTRY
from pymongo.errors import ServerSelectionTimeoutError

from tests.helpers import assert_error


class TestProbes:
    async def test_health(self, client):
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json()["data"] == {"status": "ok"}

    async def test_ready(self, client):
        response = await client.get("/ready")
        assert response.status_code == 200
        assert response.json()["data"] == {"status": "ready"}

    async def test_ready_503_when_the_database_does_not_answer(self, client, app, monkeypatch):
        class Unreachable:
            async def command(self, *args, **kwargs):
                raise ServerSelectionTimeoutError("mongo:27017: timed out")

        monkeypatch.setattr(app.state, "db", Unreachable())
        response = await client.get("/ready")
        body = assert_error(response, 503, "Service unavailable")
        assert "timed out" not in response.text and "mongo:27017" not in response.text
        assert body["errors"][1:] == ["database is not reachable"]
        assert (await client.get("/health")).status_code == 200  # liveness does not depend on the DB


async def test_metrics_in_prometheus_text_format(client):
    await client.get("/api/v1/users/me/transactions")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for metric in (
        "http_requests_total counter",
        "http_request_size_bytes summary",
        "http_response_size_bytes summary",
        "http_request_duration_highr_seconds histogram",
        "http_request_duration_seconds histogram",
    ):
        assert f"# TYPE {metric}" in response.text


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class TestRequestMetrics:
    """Collectors are process-wide (every app of the process records into them): deltas only."""

    @pytest.mark.parametrize(
        ("method", "path", "handler", "status"),
        [
            ("GET", "/api/v1/live-stream/64d1f0c2a1b2c3d4e5f60718", "/api/v1/live-stream/{id}", "4xx"),
            ("GET", "/api/v1/users/me/transactions", "/api/v1/users/me/transactions", "4xx"),
            ("GET", "/api/v1/live-stream/featured", "/api/v1/live-stream/featured", "2xx"),
            ("PUT", "/api/v1/live-stream/featured", "/api/v1/live-stream/featured", "4xx"),  # 405
            ("GET", "/static/default-thumbnail.png", "/static", "2xx"),  # a mount: its path
            ("GET", "/no/such/path", "none", "4xx"),  # no template: one label for every unknown path
        ],
    )
    async def test_counted_by_route_template(self, client, method, path, handler, status):
        labels = {"method": method, "handler": handler}
        before = (
            _sample("http_requests_total", status=status, **labels),
            _sample("http_request_duration_seconds_count", **labels),
            _sample("http_response_size_bytes_count", handler=handler),
        )
        response = await client.request(method, path)
        assert response.status_code // 100 == int(status[0])
        after = (
            _sample("http_requests_total", status=status, **labels),
            _sample("http_request_duration_seconds_count", **labels),
            _sample("http_response_size_bytes_count", handler=handler),
        )
        assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]

    async def test_sizes_are_the_content_lengths(self, client):
        handler = "/api/v1/live-stream/featured"
        before = _sample("http_response_size_bytes_sum", handler=handler)
        response = await client.get(handler)
        assert _sample("http_response_size_bytes_sum", handler=handler) - before == len(response.content)

    @pytest.mark.parametrize("path", ["/health", "/ready", "/metrics"])
    async def test_probes_and_scrapes_are_not_counted(self, client, path):
        before = _sample("http_requests_total", method="GET", status="2xx", handler=path)
        assert (await client.get(path)).status_code == 200
        assert _sample("http_requests_total", method="GET", status="2xx", handler=path) == before == 0


class TestRequestId:
    async def test_generated_when_absent(self, client):
        first = (await client.get("/health")).headers["x-request-id"]
        second = (await client.get("/health")).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second

    @pytest.mark.parametrize("sent", [uuid.uuid4().hex, str(uuid.uuid4())], ids=["hex", "dashed"])
    async def test_echoed_when_sent(self, client, sent):
        response = await client.get("/health", headers={"X-Request-ID": sent})
        assert response.headers["x-request-id"] == sent

    async def test_echoed_on_errors(self, client):
        sent = uuid.uuid4().hex
        response = await client.get("/api/v1/users/me/transactions", headers={"X-Request-ID": sent})
        assert response.status_code == 401
        assert response.headers["x-request-id"] == sent

    async def test_invalid_value_is_replaced(self, client):
        # Free text is not echoed into our logs/headers: a fresh id replaces it.
        response = await client.get("/health", headers={"X-Request-ID": "<script>alert(1)</script>"})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


class TestOpenAPI:
    @pytest.fixture
    async def schema(self, client):
        response = await client.get("/openapi.json")
        assert response.status_code == 200
        return response.json()

    async def test_docs_page_is_served(self, client):
        response = await client.get("/docs")
        assert response.status_code == 200 and "swagger" in response.text.lower()

    async def test_jwt_auth_security_scheme(self, schema):
        scheme = schema["components"]["securitySchemes"]["JWT-auth"]
        assert scheme["type"] == "http" and scheme["scheme"] == "bearer" and scheme["bearerFormat"] == "JWT"
        operation = schema["paths"]["/api/v1/users/me/transactions"]["get"]
        assert {"JWT-auth": []} in operation["security"]

    async def test_error_envelope_is_documented(self, schema):
        envelope = schema["components"]["schemas"]["ErrorEnvelope"]
        assert set(envelope["required"]) == {"isSuccess", "statusCode", "data", "errors", "timestamp", "code"}
        responses = schema["paths"]["/api/v1/follow/{userId}"]["post"]["responses"]
        for code in ("400", "401", "404"):
            ref = responses[code]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorEnvelope"

    async def test_success_envelope_is_documented(self, schema):
        responses = schema["paths"]["/api/v1/users/{userId}/stats"]["get"]["responses"]
        ref = responses["200"]["content"]["application/json"]["schema"]["$ref"]
        wrapped = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(wrapped["properties"]) == {"isSuccess", "statusCode", "data", "errors", "timestamp"}
        assert set(schema["paths"]["/api/v1/dev/users"]["post"]["responses"]) >= {"201", "400", "409"}

    async def test_no_undocumented_422(self, schema):
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                assert "422" not in operation["responses"], f"{method.upper()} {path}"
