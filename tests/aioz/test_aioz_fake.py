"""The fake itself: its HTTP control API, in-process use, rate limiting and the `aioz-fake` command."""

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import uvicorn

from app.aioz import AiozClient, AiozRateLimited, AiozTimeout, AiozUnavailable
from app.aioz.fake import FakeAccount, FakeAioz, FakeControlError
from app.aioz.fake import __main__ as fake_main
from tests.helpers import SHARED_TLS


@pytest.fixture
async def control(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{server_url}/_fake", verify=SHARED_TLS) as http:
        yield http


class TestControlApi:
    async def test_streaming_life(
        self, make_client: Callable[..., AiozClient], control: httpx.AsyncClient
    ) -> None:
        client = make_client()
        key = await client.create_live_stream_key("k")
        streaming = await client.create_streaming(key.id, title="show", save=True)

        live = await control.post(f"/streamings/{streaming.id}/go-live")
        assert (live.status_code, live.json()["status"]) == (200, "streaming")
        assert (await client.get_streaming(key.id, streaming.id)).is_live

        ended = await control.post(f"/streamings/{streaming.id}/end")
        assert ended.json()["status"] == "end"
        again = await control.post(f"/streamings/{streaming.id}/end")
        assert again.status_code == 409 and "already end" in again.json()["detail"]

        recording = await control.post(f"/streamings/{streaming.id}/recording")
        assert recording.json()["media"]["status"] == "done"
        assert (await client.get_media(streaming.id)).recording_ready

    async def test_faults_calls_and_reset(
        self, make_client: Callable[..., AiozClient], control: httpx.AsyncClient, fake: FakeAioz
    ) -> None:
        client = make_client(max_attempts=1)
        added = await control.post("/faults", json={"path": "/live_streams", "kind": "5xx", "count": 2})
        assert added.status_code == 201 and added.json() == {
            "path": "/live_streams",
            "kind": "5xx",
            "count": 2,
        }

        with pytest.raises(AiozUnavailable):
            await client.list_live_stream_keys()
        assert (await control.delete("/faults")).status_code == 204
        await client.list_live_stream_keys()

        calls = (await control.get("/calls")).json()["calls"]
        assert calls == [{"method": "GET", "path": "/live_streams"}] * 2
        assert (await control.post("/reset")).status_code == 204
        assert fake.calls == []

    async def test_bad_fault_is_a_400(self, control: httpx.AsyncClient) -> None:
        response = await control.post("/faults", json={"path": "/live_streams", "kind": "meteor"})
        assert response.status_code == 400


class TestInProcess:
    async def test_client_over_asgi_transport(self) -> None:
        fake = FakeAioz()
        async with fake.client(auth="bearer") as client:
            key = await client.create_live_stream_key("k")
            assert (await client.get_live_stream_key(key.id)).name == "k"

    async def test_dropped_connection_reaches_the_client_as_a_transport_error(self) -> None:
        fake = FakeAioz()
        fake.inject_fault("/live_streams", "drop", method="POST")
        async with fake.client() as client:
            with pytest.raises(AiozUnavailable, match="connection dropped"):
                await client.create_live_stream_key("k")
            # The request was carried out before its response was lost.
            assert (await client.list_live_stream_keys()).total == 1

    async def test_timeout_fault_hangs_until_the_deadline(self) -> None:
        fake = FakeAioz()
        fake.inject_fault("/live_streams", "timeout", delay=5)
        async with fake.client(deadline_seconds=0.2) as client:
            with pytest.raises(AiozTimeout, match="deadline"):
                await client.list_live_stream_keys()

    def test_control_errors(self) -> None:
        fake = FakeAioz()
        with pytest.raises(FakeControlError, match="no streaming"):
            fake.go_live("0b7e8b1c-0000-4000-8000-000000000000")
        with pytest.raises(ValueError):
            fake.inject_fault("/x", "5xx", status=404)

    async def test_recording_refused_for_an_open_streaming(self) -> None:
        fake = FakeAioz()
        async with fake.client() as client:
            key = await client.create_live_stream_key("k")
            streaming = await client.create_streaming(key.id, title="show", save=True)
        with pytest.raises(FakeControlError, match="only an ended streaming"):
            fake.produce_recording(streaming.id)


class TestAccountsAndLimits:
    async def test_configurable_credentials(self) -> None:
        fake = FakeAioz(FakeAccount(api_token=None, public_key="mine", secret_key="s3cret"))
        async with fake.client() as client:
            await client.list_live_stream_keys()
        with pytest.raises(ValueError):
            fake.config(auth="bearer")  # this account has no token

    async def test_rate_limit_window(self) -> None:
        fake = FakeAioz(rate_limit=2)
        async with fake.client(max_attempts=1) as client:
            await client.list_live_stream_keys()
            await client.list_live_stream_keys()
            with pytest.raises(AiozRateLimited) as caught:
                await client.list_live_stream_keys()
        assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 60


def test_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[uvicorn.Config] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda server: served.append(server.config))
    monkeypatch.setenv("AIOZ_FAKE_PORT", "9099")

    fake_main.main(["--host", "0.0.0.0"])
    fake_main.main(["--port", "8082"])

    assert [(config.host, config.port) for config in served] == [("0.0.0.0", 9099), ("127.0.0.1", 8082)]
