"""Typed settings read from the environment (and `.env`), validated once at start-up."""

from enum import StrEnum
from functools import cached_property
from typing import Any, Self, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError
from pymongo.errors import ConfigurationError as MongoConfigurationError
from pymongo.errors import InvalidURI
from pymongo.uri_parser import parse_uri

from app.core.origins import CorsPolicy, parse_origins

DEFAULT_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
# `.env.example`'s sample value: long enough, but public. Any secret saying "change-me" is a placeholder.
EXAMPLE_JWT_SECRET = "change-me-to-at-least-32-random-characters"


def is_placeholder_secret(secret: str) -> bool:
    return secret in {DEFAULT_JWT_SECRET, EXAMPLE_JWT_SECRET} or "change-me" in secret.lower()


LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


class AppEnv(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class ConfigurationError(RuntimeError):
    """The configuration is unsafe or inconsistent; the app must not start."""


def check_mongodb_url(url: str) -> None:
    """Raise ValueError (never echoing the URL: it may hold a password) unless `url` is a MongoDB URI.

    Offline: a `mongodb+srv://` URI is checked by its rules (one host, no port) and parsed as
    `mongodb://`, so no DNS lookup happens at start.
    """
    expected = "expected mongodb://host[:port][,host…][/database][?options] or mongodb+srv://host[/…]"
    if url.startswith("mongodb+srv://"):
        host = urlsplit(url).hostname or ""
        rest = url.removeprefix("mongodb+srv://")
        if "," in rest.split("/", 1)[0] or urlsplit(url).port is not None or "." not in host:
            raise ValueError(f"MONGODB_URL is malformed ({expected}; an SRV host has no port)")
        url = "mongodb://" + rest
    elif not url.startswith("mongodb://"):
        raise ValueError(f"MONGODB_URL is malformed ({expected})")
    try:
        parse_uri(url)
    except (InvalidURI, MongoConfigurationError, ValueError) as exc:
        raise ValueError(f"MONGODB_URL is malformed: {exc} ({expected})") from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    app_env: AppEnv = AppEnv.development
    public_base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    log_json: bool | None = None  # None: JSON in production, console elsewhere
    access_log: bool = True  # one line per HTTP request (uvicorn's access log, in the app's format)
    # Proxies whose X-Forwarded-For/-Proto uvicorn trusts for the client address and scheme ("*": all).
    forwarded_allow_ips: str = "127.0.0.1"
    # Who may read what the API says about itself (docs/security.md, "Exposure"):
    # /docs, /openapi.json and /asyncapi.json; None: on in development/test, off in production.
    docs_enabled: bool | None = None
    # Bearer token /metrics requires when set; unset: /metrics is open in development/test and not
    # served in production.
    metrics_token: SecretStr | None = None

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

    # Browser origins allowed to call the API and open sockets (app.core.cors): comma-separated or a
    # JSON list, `*` for any; unset: http://localhost:* and http://127.0.0.1:* except in production.
    cors_allow_origins: str | None = None

    @property
    def is_production(self) -> bool:
        return self.app_env is AppEnv.production

    @property
    def json_logs(self) -> bool:
        return self.is_production if self.log_json is None else self.log_json

    @property
    def api_docs_enabled(self) -> bool:
        return not self.is_production if self.docs_enabled is None else self.docs_enabled

    @property
    def metrics_served(self) -> bool:
        return self.metrics_token is not None or not self.is_production

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
    def cors_policy(self) -> CorsPolicy:
        return CorsPolicy.from_setting(self.cors_allow_origins, production=self.is_production)

    @cached_property
    def jwt_verification_key(self) -> str:
        if self.jwt_algorithm.startswith("HS"):
            return self.jwt_secret.get_secret_value()
        assert self.jwt_public_key is not None  # checked by the validator
        return self.jwt_public_key.get_secret_value()

    @field_validator("mongodb_url")
    @classmethod
    def _check_mongodb_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None:
            check_mongodb_url(url.get_secret_value())
        return url

    @field_validator("public_base_url")
    @classmethod
    def _check_public_base_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("PUBLIC_BASE_URL must be an absolute http(s) URL, e.g. https://live.example.com")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.jwt_algorithm not in {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256"}:
            raise ValueError(f"JWT_ALGORITHM {self.jwt_algorithm!r} is not supported")
        if not self.jwt_algorithm.startswith("HS") and self.jwt_public_key is None:
            raise ValueError(f"JWT_ALGORITHM={self.jwt_algorithm} needs JWT_PUBLIC_KEY")
        if self.cors_allow_origins is not None:
            parse_origins(self.cors_allow_origins)  # a ValueError names the variable and the bad entry
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
        if "public_base_url" not in self.model_fields_set:
            problems.append("PUBLIC_BASE_URL is unset (media links would point at the bound address)")
        elif urlsplit(self.public_base_url).hostname in LOOPBACK_HOSTS:
            problems.append("PUBLIC_BASE_URL names this machine (loopback); use the address clients reach")
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


def _expected_form(annotation: Any) -> str:
    """What an environment variable of this type looks like, for error messages."""
    types = {annotation}
    if get_origin(annotation) not in {list, tuple, set, dict}:  # a union: its members
        types = {arg for arg in get_args(annotation) if arg is not type(None)} or {annotation}
    origins = {get_origin(t) or t for t in types}
    if origins & {list, tuple, set}:
        return 'a JSON list, e.g. ["a","b"]'
    if dict in origins:
        return 'a JSON object, e.g. {"key":"value"}'
    return "a valid value"


def _env_name(field: str) -> str:
    return field.upper()


def describe_settings_error(exc: ValidationError | SettingsError) -> str:
    """One line naming each environment variable at fault and the form expected; values never echoed
    (several settings are secrets)."""
    if isinstance(exc, SettingsError):
        # pydantic-settings could not decode a complex value: 'error parsing value for field "x" …'
        field = str(exc).split('"')[1] if str(exc).count('"') >= 2 else ""
        info = Settings.model_fields.get(field)
        if info is None:
            return f"invalid settings: {exc}"
        return f"invalid settings: {_env_name(field)} must be {_expected_form(info.annotation)}"
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:
            name = _env_name(str(error["loc"][0]))
            if message.startswith(name):  # our validators name the variable already
                problems.append(message)
            else:
                problems.append(f"{name}: {message}")
        else:
            problems.append(message)
    return "invalid settings: " + "; ".join(problems)


def load_settings(**values: Any) -> Settings:
    """`Settings(**values)` with errors turned into one-line ConfigurationErrors (the CLI prints them)."""
    try:
        return Settings(**values)
    except (ValidationError, SettingsError) as exc:
        raise ConfigurationError(describe_settings_error(exc)) from None
