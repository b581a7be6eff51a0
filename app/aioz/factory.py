"""Build the app's AIOZ client from settings: the real service when credentials are configured, else an
in-process fake."""

from dataclasses import fields
from typing import Any, cast

from app.aioz.client import AiozClient
from app.aioz.config import DEFAULT_BASE_URL, AiozConfig
from app.aioz.fake import FakeAioz
from app.core.config import Settings


def aioz_resilience(settings: Settings) -> dict[str, Any]:
    """`AiozConfig` overrides from `AIOZ_TIMEOUT_SECONDS` / `AIOZ_MAX_ATTEMPTS`.

    The timeout is the budget of one call, retries included; no single attempt may wait longer either.
    """
    budget = settings.aioz_timeout_seconds
    per_attempt = {
        field.name: min(cast(float, field.default), budget)
        for field in fields(AiozConfig)
        if field.name.endswith("_timeout")
    }
    return {"deadline_seconds": budget, "max_attempts": settings.aioz_max_attempts, **per_attempt}


def build_aioz(settings: Settings) -> tuple[AiozClient, FakeAioz | None]:
    """Returns the client and, in development/tests without credentials, the fake it talks to."""
    if settings.aioz_uses_fake:
        fake = FakeAioz()
        return fake.client(auth="bearer", **aioz_resilience(settings)), fake

    def secret(value: object) -> str | None:
        return value.get_secret_value() if value is not None else None  # type: ignore[attr-defined]

    config = AiozConfig(
        base_url=settings.aioz_base_url or DEFAULT_BASE_URL,
        api_token=secret(settings.aioz_api_token),
        public_key=secret(settings.aioz_public_key),
        secret_key=secret(settings.aioz_secret_key),
        **aioz_resilience(settings),
    )
    return AiozClient(config), None
