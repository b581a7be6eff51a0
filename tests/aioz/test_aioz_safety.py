"""Client-side validation, configuration, logging, and keeping secrets out of logs and reprs."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from app.aioz import DEFAULT_BASE_URL, AiozClient, AiozConfig, AiozValidationError
from app.aioz.fake import FakeAioz

KEY_ID = "6f1c2a7e-3b1d-4e55-9a57-2f0c1b9a8d10"
LONG_TITLE = "é" * 128  # 256 bytes

INVALID_CALLS: dict[str, Callable[[AiozClient], Awaitable[Any]]] = {
    "empty key name": lambda c: c.create_live_stream_key("   "),
    "unknown key sort": lambda c: c.list_live_stream_keys(sort_by="title"),
    "key page too large": lambda c: c.list_live_stream_keys(limit=101),
    "non-uuid key id": lambda c: c.get_live_stream_key("42"),
    "nothing to update": lambda c: c.update_live_stream_key(KEY_ID),
    "empty title": lambda c: c.create_streaming(KEY_ID, title=" "),
    "title over 255 bytes": lambda c: c.create_streaming(KEY_ID, title=LONG_TITLE),
    "unknown quality": lambda c: c.create_streaming(KEY_ID, title="t", qualities=["4320p"]),
    "container for another type": lambda c: c.create_streaming(
        KEY_ID, title="t", qualities=[{"resolution": "720p", "type": "dash", "container_type": "mpegts"}]
    ),
    "bitrate above maximum": lambda c: c.create_streaming(
        KEY_ID, title="t", qualities=[{"resolution": "240p", "video_config": {"bitrate": 900_000}}]
    ),
    "non-uuid stream id": lambda c: c.get_streaming(KEY_ID, "latest"),
    "media page too large": lambda c: c.list_media(KEY_ID, limit=101),
    "media page empty": lambda c: c.list_media(KEY_ID, limit=0),
    "negative offset": lambda c: c.list_media(KEY_ID, offset=-1),
    "unknown media sort": lambda c: c.list_media(KEY_ID, sort_by="views"),
    "unknown order": lambda c: c.list_media(KEY_ID, order_by="newest"),
    "unknown media status": lambda c: c.list_media(KEY_ID, status="waiting"),  # type: ignore[arg-type]
    "three multicast targets": lambda c: c.set_multicast(KEY_ID, ["rtmp://a/1", "rtmp://b/2", "rtmp://c/3"]),
    "http multicast target": lambda c: c.set_multicast(KEY_ID, ["http://a/1"]),
    "thumbnail over 8 MB": lambda c: c.upload_thumbnail(KEY_ID, b"x" * 8_000_001),
}


@pytest.mark.parametrize("call", INVALID_CALLS.values(), ids=INVALID_CALLS.keys())
async def test_invalid_input_sends_no_request(
    make_client: Callable[..., AiozClient], fake: FakeAioz, call: Callable[[AiozClient], Awaitable[Any]]
) -> None:
    with pytest.raises(AiozValidationError) as caught:
        await call(make_client())

    assert caught.value.status_code is None
    assert fake.calls == []


class TestConfig:
    def test_defaults_to_production(self) -> None:
        config = AiozConfig(api_token="t")
        assert config.base_url == DEFAULT_BASE_URL == "https://api.aiozstream.network/api"

    def test_auth_modes(self) -> None:
        bearer = AiozConfig(api_token="tok", public_key="pk", secret_key="sk")
        keys = AiozConfig(public_key="pk", secret_key="sk")

        assert (bearer.auth_mode, bearer.auth_headers()) == ("bearer", {"Authorization": "Bearer tok"})
        assert (keys.auth_mode, keys.auth_headers()) == (
            "api_key",
            {"stream-public-key": "pk", "stream-secret-key": "sk"},
        )

    @pytest.mark.parametrize(
        "kwargs",
        [
            {},
            {"public_key": "pk"},
            {"api_token": "t", "max_attempts": 0},
            {"api_token": "t", "deadline_seconds": 0},
        ],
    )
    def test_rejects_incomplete_settings(self, kwargs: dict[str, Any]) -> None:
        with pytest.raises(ValueError):
            AiozConfig(**kwargs)

    def test_from_env(self) -> None:
        env = {"AIOZ_BASE_URL": "http://fake:8081/api", "AIOZ_PUBLIC_KEY": "pk", "AIOZ_SECRET_KEY": "sk"}

        config = AiozConfig.from_env(env, max_attempts=5)

        assert (config.base_url, config.public_key, config.secret_key, config.max_attempts) == (
            "http://fake:8081/api",
            "pk",
            "sk",
            5,
        )
        assert AiozConfig.from_env({"AIOZ_API_TOKEN": "t", "AIOZ_BASE_URL": ""}).base_url == DEFAULT_BASE_URL

    def test_repr_redacts_secrets(self) -> None:
        text = repr(AiozConfig(api_token="tok-SECRET", public_key="pk", secret_key="sk-SECRET"))

        assert "SECRET" not in text
        assert "api_token=***" in text and "secret_key=***" in text


class TestLogging:
    @pytest.mark.parametrize("auth", ["api_key", "bearer"])
    async def test_one_line_per_attempt_without_secrets(
        self, make_client: Callable[..., AiozClient], fake: FakeAioz, auth: str
    ) -> None:
        client = make_client(auth)
        with capture_logs() as logs:
            key = await client.create_live_stream_key("k")
            streaming = await client.create_streaming(key.id, title="show")
            fake.inject_fault("/live_streams/*/streamings/*", "5xx", method="GET")
            await client.get_streaming(key.id, streaming.id)

        assert [(log["method"], log["path"], log["status"], log["attempt"]) for log in logs] == [
            ("POST", "/live_streams", 200, 1),
            ("POST", "/live_streams/{key_id}/streamings", 200, 1),
            ("GET", "/live_streams/{key_id}/streamings/{stream_id}", 503, 1),
            ("GET", "/live_streams/{key_id}/streamings/{stream_id}", 200, 2),
        ]
        assert all(log["event"] == "aioz.request" and log["duration_ms"] >= 0 for log in logs)
        assert logs[2]["log_level"] == "warning"
        captured = repr(logs)
        account = fake.account
        for secret in (account.api_token, account.secret_key, key.stream_key, key.id, streaming.id):
            assert secret and secret not in captured

    async def test_transport_errors_are_named(
        self, make_client: Callable[..., AiozClient], fake: FakeAioz
    ) -> None:
        fake.inject_fault("/live_streams", "drop", method="GET")
        with capture_logs() as logs:
            await make_client().list_live_stream_keys()

        assert logs[0]["error"] == "RemoteProtocolError" and logs[0]["status"] is None

    async def test_model_reprs_hide_the_stream_key(self, make_client: Callable[..., AiozClient]) -> None:
        key = await make_client().create_live_stream_key("k")

        assert key.stream_key not in repr(key) and key.stream_key not in str(key)
