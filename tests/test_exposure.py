"""What the API says about itself is exposed by choice (docs/security.md, "Exposure"): `/docs`,
`/openapi.json` and `/asyncapi.json` by DOCS_ENABLED, `/metrics` by METRICS_TOKEN."""

from typing import Any

import httpx
import pytest

from app.main import create_app
from tests.conftest import make_settings
from tests.test_core_config import production

DOC_PATHS = ["/docs", "/openapi.json", "/asyncapi.json", "/asyncapi"]


async def get(settings: Any, path: str, **headers: str) -> httpx.Response:
    app = create_app(settings)  # no lifespan: none of these paths touches the database
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get(path, headers=headers)


@pytest.mark.parametrize("path", DOC_PATHS)
async def test_docs_are_off_in_production_by_default(path):
    assert (await get(production(), path)).status_code == 404


@pytest.mark.parametrize("path", DOC_PATHS)
async def test_docs_enabled_serves_them_in_production(path):
    assert (await get(production(docs_enabled=True), path)).status_code == 200


@pytest.mark.parametrize("path", DOC_PATHS)
async def test_docs_disabled_hides_them_in_development(path):
    assert (await get(make_settings(docs_enabled=False), path)).status_code == 404


async def test_metrics_are_not_served_in_production_without_a_token():
    assert (await get(production(), "/metrics")).status_code == 404


async def test_metrics_token_is_required_when_set():
    settings = production(metrics_token="scrape-token-0123456789")
    assert (await get(settings, "/metrics")).status_code == 401
    assert (await get(settings, "/metrics", Authorization="Bearer wrong")).status_code == 401
    assert (await get(settings, "/metrics", Authorization="Basic scrape-token-0123456789")).status_code == 401
    response = await get(settings, "/metrics", Authorization="Bearer scrape-token-0123456789")
    assert response.status_code == 200 and "http_requests_total" in response.text


async def test_metrics_are_open_in_development_unless_a_token_is_set():
    assert (await get(make_settings(), "/metrics")).status_code == 200
    assert (await get(make_settings(metrics_token="t" * 24), "/metrics")).status_code == 401


def test_compose_publishes_every_port_on_loopback_only():
    from pathlib import Path

    import yaml

    compose = yaml.safe_load((Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"
