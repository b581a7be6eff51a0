"""Secrets never reach the logs: JWT secret, access tokens, AIOZ credentials, RTMP stream keys.

The flow logs at DEBUG through the app's own formatter (JSON lines, as in production) and walks the
paths that handle secrets: a start that AIOZ first refuses (warning path), a successful start that
creates the creator's RTMP key, join-as-creator (the one answer that carries the stream key), end, a
refused token and an unexpected AIOZ refusal (error path).
"""

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bson import ObjectId
from structlog.stdlib import ProcessorFormatter

from app.aioz import AiozClient, AiozConfig
from app.aioz.fake import IN_PROCESS_BASE_URL
from app.core.config import Settings
from tests.conftest import make_settings
from tests.helpers import assert_error, auth, create_stream


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(media_dir=str(tmp_path / "media"), log_level="DEBUG", log_json=True)


class Lines(logging.Handler):
    """Every record, rendered exactly as the app's root handler renders it."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logged(app) -> Iterator[list[str]]:
    root = logging.getLogger()
    # The formatter the app installed on the root logger in create_app (JSON renderer, redaction).
    formatter = next(h.formatter for h in root.handlers if isinstance(h.formatter, ProcessorFormatter))
    handler = Lines(formatter)
    root.addHandler(handler)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)


async def test_no_secret_is_ever_logged(client, make_user, app, db, settings, logged):
    creator, token = await make_user()
    stream = await create_stream(client, token, recording=True)
    path = f"/api/v1/live-stream/{stream['id']}"
    fake = app.state.aioz_fake

    fake.inject_fault("/live_streams/*/streamings", "5xx", count=10, method="POST")
    assert_error(await client.post(f"{path}/start", headers=auth(token)), 503, "Service unavailable")
    fake.clear_faults()
    assert (await client.post(f"{path}/start", headers=auth(token))).status_code == 200
    joined = await client.post(
        "/api/v1/live-stream/join-as-creator", json={"liveStreamId": stream["id"]}, headers=auth(token)
    )
    ingest = joined.json()["data"]["ingest"]
    key = await db["aioz_keys"].find_one({"_id": ObjectId(creator["_id"])})
    assert ingest["streamKey"] == key["streamKey"]  # the key really went through this flow
    assert (await client.post(f"{path}/end", headers=auth(token))).status_code == 200
    assert_error(await client.get(path, headers=auth(token + "x")), 401, "Authentication required")
    # AIOZ refusing our credentials is logged as an error, with the status and nothing else.
    app.state.aioz = AiozClient(
        AiozConfig(base_url=IN_PROCESS_BASE_URL, api_token="wrong-token-value"),
        transport=httpx.ASGITransport(app=fake.app),
    )
    app.state.shared_services.clear()  # the services were built around the previous client
    second = await create_stream(client, token)
    assert_error(
        await client.post(f"/api/v1/live-stream/{second['id']}/start", headers=auth(token)),
        502,
        "Upstream service error",
    )

    text = "\n".join(logged)
    # The capture works: these events of the flow are there.
    for event in ("aioz_unavailable", "stream_started", "aioz.request", "stream_ended", "aioz_error"):
        assert event in text, f"{event} was not logged"
    secrets = {
        "JWT secret": settings.jwt_secret.get_secret_value(),
        "access token": token,
        "access token signature": token.split(".")[2],
        "RTMP stream key": key["streamKey"],
        "publish URL": ingest["publishUrl"],
        "AIOZ API token": fake.account.api_token,
        "AIOZ refused token": "wrong-token-value",
    }
    leaked = [name for name, value in secrets.items() if value in text]
    assert not leaked, f"logged: {leaked}"
