"""Build the AIOZ client: the real service when credentials are configured, else an in-process fake."""

from app.aioz import DEFAULT_BASE_URL, AiozClient, AiozConfig
from app.aioz.fake import FakeAioz
from app.core.config import Settings


def build_aioz(settings: Settings) -> tuple[AiozClient, FakeAioz | None]:
    """Returns the client and, in development/tests without credentials, the fake it talks to."""
    if settings.aioz_uses_fake:
        fake = FakeAioz()
        return fake.client(auth="bearer"), fake

    def secret(value: object) -> str | None:
        return value.get_secret_value() if value is not None else None  # type: ignore[attr-defined]

    config = AiozConfig(
        base_url=settings.aioz_base_url or DEFAULT_BASE_URL,
        api_token=secret(settings.aioz_api_token),
        public_key=secret(settings.aioz_public_key),
        secret_key=secret(settings.aioz_secret_key),
    )
    return AiozClient(config), None
