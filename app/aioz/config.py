"""Connection, credential and resilience settings for `AiozClient`."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

DEFAULT_BASE_URL = "https://api.aiozstream.network/api"
_SECRETS = frozenset({"api_token", "secret_key"})


@dataclass(frozen=True, slots=True, repr=False)
class AiozConfig:
    """Bearer mode when `api_token` is set, otherwise the `stream-public-key`/`stream-secret-key` pair."""

    base_url: str = DEFAULT_BASE_URL
    api_token: str | None = None
    public_key: str | None = None
    secret_key: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    write_timeout: float = 20.0
    pool_timeout: float = 5.0
    max_connections: int = 50
    max_keepalive_connections: int = 10
    max_attempts: int = 3
    deadline_seconds: float = 30.0
    backoff_initial: float = 0.25
    backoff_max: float = 4.0
    backoff_jitter: float = 0.25

    def __post_init__(self) -> None:
        if not self.api_token and not (self.public_key and self.secret_key):
            raise ValueError("AIOZ credentials missing: set api_token, or both public_key and secret_key")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.deadline_seconds <= 0:
            raise ValueError("deadline_seconds must be positive")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Read `AIOZ_BASE_URL`, `AIOZ_API_TOKEN`, `AIOZ_PUBLIC_KEY` and `AIOZ_SECRET_KEY`."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            name: env[f"AIOZ_{name.upper()}"]
            for name in ("base_url", "api_token", "public_key", "secret_key")
            if env.get(f"AIOZ_{name.upper()}")
        }
        return cls(**values | overrides)

    @property
    def auth_mode(self) -> str:
        return "bearer" if self.api_token else "api_key"

    def auth_headers(self) -> dict[str, str]:
        if self.api_token:
            return {"Authorization": f"Bearer {self.api_token}"}
        assert self.public_key and self.secret_key  # guaranteed by __post_init__
        return {"stream-public-key": self.public_key, "stream-secret-key": self.secret_key}

    def __repr__(self) -> str:
        shown = []
        for field in fields(self):
            value = getattr(self, field.name)
            shown.append(f"{field.name}={'***' if field.name in _SECRETS and value else repr(value)}")
        return f"AiozConfig({', '.join(shown)})"
