"""Settings rules: production refuses unsafe settings, and dev endpoints are only mounted when allowed."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import EXAMPLE_JWT_SECRET, ConfigurationError, Settings
from app.main import create_app
from tests.conftest import make_settings
from tests.helpers import assert_error

SAFE_PRODUCTION: dict[str, Any] = {
    "app_env": "production",
    "public_base_url": "https://live.example.com",
    "mongodb_url": "mongodb://mongo.internal:27017",
    "jwt_secret": "a-production-secret-that-is-long-enough-0123456789",
    "aioz_api_token": "real-token",
    "agora_app_id": "a" * 32,
    "agora_app_certificate": "c" * 32,
    "enable_dev_endpoints": None,
}
ROOT = Path(__file__).resolve().parents[1]


def production(**overrides: Any) -> Settings:
    return make_settings(**{**SAFE_PRODUCTION, **overrides})


def dev_paths(app: FastAPI) -> list[str]:
    return [route.path for route in app.routes if getattr(route, "path", "").startswith("/api/v1/dev")]


class TestProductionRefusal:
    def test_safe_production_settings_start(self):
        app = create_app(production())
        assert dev_paths(app) == []

    @pytest.mark.parametrize(
        ("overrides", "named"),
        [
            ({"jwt_secret": "dev-only-insecure-jwt-secret-change-me"}, "JWT_SECRET"),
            ({"jwt_secret": "short-but-not-default"}, "JWT_SECRET"),
            ({"jwt_secret": EXAMPLE_JWT_SECRET}, "JWT_SECRET"),
            ({"jwt_secret": "please-CHANGE-ME-this-is-a-long-enough-secret"}, "JWT_SECRET"),
            ({"mongodb_url": None}, "MONGODB_URL"),
            ({"public_base_url": "http://127.0.0.1:8000"}, "PUBLIC_BASE_URL"),
            ({"enable_dev_endpoints": True}, "ENABLE_DEV_ENDPOINTS"),
            ({"aioz_api_token": None}, "AIOZ"),
            ({"agora_app_id": None}, "AGORA_APP_ID"),
            ({"agora_app_certificate": None}, "AGORA_APP_CERTIFICATE"),
        ],
        ids=[
            "default-jwt-secret",
            "short-jwt-secret",
            "env-example-jwt-secret",
            "change-me-jwt-secret",
            "embedded-db",
            "loopback-public-base-url",
            "dev-endpoints-on",
            "no-aioz-credentials",
            "no-agora-app-id",
            "no-agora-certificate",
        ],
    )
    def test_each_unsafe_item_is_refused(self, overrides, named):
        with pytest.raises(ConfigurationError, match=named):
            create_app(production(**overrides))

    def test_every_problem_is_listed_at_once(self):
        with pytest.raises(ConfigurationError) as caught:
            create_app(make_settings(app_env="production", mongodb_url=None, enable_dev_endpoints=True))
        message = str(caught.value)
        for named in (
            "JWT_SECRET",
            "PUBLIC_BASE_URL",
            "MONGODB_URL",
            "ENABLE_DEV_ENDPOINTS",
            "AIOZ",
            "AGORA_APP_ID",
        ):
            assert named in message

    def test_env_example_jwt_secret_is_refused(self):
        """The sample value people copy from `.env.example` is public: production must not accept it."""
        example = (ROOT / ".env.example").read_text()
        assert f"# JWT_SECRET={EXAMPLE_JWT_SECRET}\n" in example
        with pytest.raises(ConfigurationError, match="JWT_SECRET"):
            production(jwt_secret=EXAMPLE_JWT_SECRET).check_production_safety()

    def test_aioz_key_pair_counts_as_credentials(self):
        settings = production(aioz_api_token=None, aioz_public_key="pk", aioz_secret_key="sk")
        settings.check_production_safety()  # does not raise
        assert not settings.aioz_uses_fake
        assert dev_paths(create_app(settings)) == []

    def test_rs256_production_needs_no_shared_secret(self):
        settings = production(jwt_secret="dev-only-insecure-jwt-secret-change-me", jwt_algorithm="RS256",
                              jwt_public_key="-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----")  # fmt: skip
        settings.check_production_safety()  # does not raise: the shared secret is unused with RS256
        assert settings.jwt_verification_key.startswith("-----BEGIN PUBLIC KEY-----")
        assert dev_paths(create_app(settings)) == []

    async def test_dev_endpoints_answer_404_in_production(self):
        app = create_app(production())
        # No lifespan: routing answers before any database access.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.post("/api/v1/dev/users", json={"username": "mallory"})
        assert_error(response, 404, "Resource not found")


class TestConsoleRefusal:
    """The real process, as an operator would start it: non-zero exit and the reason on stderr."""

    @staticmethod
    def run(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
        setting_names = {name.upper() for name in Settings.model_fields}
        env = {key: value for key, value in os.environ.items() if key not in setting_names}
        env["APP_ENV"] = "production"
        # cwd=tmp_path: no developer `.env` can make the settings safe by accident.
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    def test_create_app_exits_non_zero(self, tmp_path):
        result = self.run([sys.executable, "-c", "from app.main import create_app; create_app()"], tmp_path)
        assert result.returncode != 0
        assert "refusing to start in production" in result.stderr
        assert "JWT_SECRET" in result.stderr and "MONGODB_URL" in result.stderr
        assert "AGORA_APP_ID" in result.stderr

    def test_console_script_exits_non_zero(self, tmp_path):
        script = Path(sys.executable).parent / "allmine-live"
        if not script.exists():
            pytest.skip("console script not installed in this environment")
        result = self.run([str(script), "--port", "0"], tmp_path)
        assert result.returncode != 0
        assert "refusing to start in production" in result.stderr


class TestDevEndpointSwitch:
    @pytest.fixture
    def settings(self, tmp_path):
        return make_settings(enable_dev_endpoints=False)

    async def test_disabled_dev_endpoints_are_absent(self, client, app):
        assert dev_paths(app) == []
        assert_error(
            await client.post("/api/v1/dev/users", json={"username": "x1x"}), 404, "Resource not found"
        )
        assert_error(
            await client.post("/api/v1/dev/token", json={"userId": "0" * 24}), 404, "Resource not found"
        )
        assert "/api/v1/dev/users" not in (await client.get("/openapi.json")).json()["paths"]


def test_dev_endpoints_default_per_environment():
    assert make_settings(app_env="development").dev_endpoints_enabled is True
    assert make_settings(app_env="test").dev_endpoints_enabled is True
    assert make_settings(app_env="production", enable_dev_endpoints=None).dev_endpoints_enabled is False


def test_unsupported_jwt_algorithm_is_refused():
    with pytest.raises(ValueError, match="not supported"):
        make_settings(jwt_algorithm="none")
