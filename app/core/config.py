"""Typed settings read from the environment (and `.env`), validated once at start-up."""

from enum import StrEnum
from functools import cached_property
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
# `.env.example`'s sample value: long enough, but public. Any secret saying "change-me" is a placeholder.
EXAMPLE_JWT_SECRET = "change-me-to-at-least-32-random-characters"


def is_placeholder_secret(secret: str) -> bool:
    return secret in {DEFAULT_JWT_SECRET, EXAMPLE_JWT_SECRET} or "change-me" in secret.lower()


class AppEnv(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class ConfigurationError(RuntimeError):
    """The configuration is unsafe or inconsistent; the app must not start."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    app_env: AppEnv = AppEnv.development
    public_base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    log_json: bool | None = None  # None: JSON in production, console elsewhere

    mongodb_url: SecretStr | None = None
    mongodb_db: str = "allmine_live"
    # The embedded engine (no MONGODB_URL) runs its calls on a worker thread, off the event loop; false
    # runs them inline (the test suite: no thread hop per call, same atomicity).
    embedded_engine_thread: bool = True
    # Budget of one database operation, server selection, retries and w:majority waits included
    # (PyMongo's timeoutMS); past it the request answers 503.
    mongodb_timeout_ms: int = Field(default=8000, gt=0)
    # How long start-up's index migration waits for a build before reporting it as still building and
    # serving on; never sent to the server (the build goes on; `allmine-live migrate-indexes` waits).
    mongodb_index_build_timeout_ms: int = Field(default=600_000, gt=0)

    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    jwt_algorithm: str = "HS256"
    jwt_public_key: SecretStr | None = None
    jwt_private_key: SecretStr | None = None  # only needed to mint RS256 dev tokens
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    dev_token_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)

    enable_dev_endpoints: bool | None = None  # None: on in development/test, off in production
    seed_demo: bool | None = None  # None: on in development when the database is empty

    aioz_base_url: str | None = None  # None with no credentials: the in-process fake AIOZ
    aioz_api_token: SecretStr | None = None
    aioz_public_key: SecretStr | None = None
    aioz_secret_key: SecretStr | None = None
    aioz_qualities: list[str] = ["360p", "720p", "1080p"]
    aioz_timeout_seconds: float = Field(default=30.0, gt=0)  # budget of one AIOZ call, retries included
    aioz_max_attempts: int = Field(default=3, ge=1)

    agora_app_id: str | None = None
    agora_app_certificate: SecretStr | None = None
    agora_token_ttl_seconds: int = Field(default=3600, gt=0)

    media_dir: str = "var/media"
    max_thumbnail_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    max_request_bytes: int = Field(default=6 * 1024 * 1024, gt=0)
    background_tasks: bool = True  # reconcile / reminder loops
    reconcile_interval_seconds: float = Field(default=10.0, gt=0)
    ranking_max_age_seconds: float = Field(default=60.0, ge=0)  # 0: compute on every request
    redis_url: SecretStr | None = None  # Socket.IO fan-out across replicas; None: in-process only
    realtime_presence_grace_seconds: float = Field(default=10.0, ge=0)  # socket drop → participation closed
    # `viewerCount` goes out at most once per stream per interval (every replica together).
    realtime_viewer_count_interval_seconds: float = Field(default=1.0, gt=0)

    @property
    def is_production(self) -> bool:
        return self.app_env is AppEnv.production

    @property
    def uses_embedded_db(self) -> bool:
        return self.mongodb_url is None

    @property
    def dev_endpoints_enabled(self) -> bool:
        if self.is_production:
            return False
        return True if self.enable_dev_endpoints is None else self.enable_dev_endpoints

    @property
    def aioz_uses_fake(self) -> bool:
        has_credentials = self.aioz_api_token is not None or (
            self.aioz_public_key is not None and self.aioz_secret_key is not None
        )
        return not has_credentials

    @cached_property
    def jwt_verification_key(self) -> str:
        if self.jwt_algorithm.startswith("HS"):
            return self.jwt_secret.get_secret_value()
        assert self.jwt_public_key is not None  # checked by the validator
        return self.jwt_public_key.get_secret_value()

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.jwt_algorithm not in {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256"}:
            raise ValueError(f"JWT_ALGORITHM {self.jwt_algorithm!r} is not supported")
        if not self.jwt_algorithm.startswith("HS") and self.jwt_public_key is None:
            raise ValueError(f"JWT_ALGORITHM={self.jwt_algorithm} needs JWT_PUBLIC_KEY")
        if self.max_request_bytes <= self.max_thumbnail_bytes:
            raise ValueError("MAX_REQUEST_BYTES must be larger than MAX_THUMBNAIL_BYTES (uploads need both)")
        return self

    def check_production_safety(self) -> None:
        """Refuse to run production with development shortcuts; raises ConfigurationError."""
        if not self.is_production:
            return
        problems = []
        if self.jwt_algorithm.startswith("HS") and (
            is_placeholder_secret(self.jwt_secret.get_secret_value()) or len(self.jwt_secret) < 32
        ):
            problems.append(
                "JWT_SECRET is the development default, the .env.example placeholder or shorter than 32 characters"
            )
        if self.uses_embedded_db:
            problems.append("MONGODB_URL is unset (the embedded engine is for development and tests only)")
        if self.enable_dev_endpoints:
            problems.append("ENABLE_DEV_ENDPOINTS is on")
        if self.aioz_uses_fake:
            problems.append("AIOZ credentials are unset (the fake AIOZ is for development and tests only)")
        if self.agora_app_id is None or self.agora_app_certificate is None:
            problems.append(
                "AGORA_APP_ID or AGORA_APP_CERTIFICATE is unset (development RTC tokens join no real channel)"
            )
        if problems:
            raise ConfigurationError("refusing to start in production: " + "; ".join(problems))
