"""Retries, deadlines and error mapping, driven by the fake's fault injection over real HTTP."""

import socket
from collections.abc import Callable

import httpx
import pytest
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from app.aioz import (
    AiozAuthError,
    AiozClient,
    AiozConfig,
    AiozEndpointNotFound,
    AiozError,
    AiozNotFound,
    AiozRateLimited,
    AiozTimeout,
    AiozUnavailable,
    AiozValidationError,
)
from app.aioz.fake import IN_PROCESS_BASE_URL, FakeAccount, FakeAioz
from tests.clock import ManualClock

MakeClient = Callable[..., AiozClient]


def count(fake: FakeAioz, method: str, suffix: str = "") -> int:
    return sum(1 for m, path in fake.calls if m == method and path.endswith(suffix))


class TestIdempotentRetries:
    async def test_get_retried_on_503_then_succeeds(self, make_client: MakeClient, fake: FakeAioz) -> None:
        client = make_client()
        key = await client.create_live_stream_key("k")
        fake.inject_fault("/live_streams/*", "5xx", count=2, method="GET")

        assert (await client.get_live_stream_key(key.id)).id == key.id
        assert count(fake, "GET") == 3

    async def test_gives_up_after_max_attempts(self, make_client: MakeClient, fake: FakeAioz) -> None:
        client = make_client(max_attempts=2)
        fake.inject_fault("/live_streams", "5xx", count=5, status=502)

        with pytest.raises(AiozUnavailable) as caught:
            await client.list_live_stream_keys()

        assert caught.value.status_code == 502 and caught.value.retryable
        assert count(fake, "GET") == 2

    async def test_dropped_connection_on_read_is_retried(
        self, make_client: MakeClient, fake: FakeAioz
    ) -> None:
        client = make_client()
        fake.inject_fault("/live_streams", "drop", method="GET")

        assert (await client.list_live_stream_keys()).total == 0
        assert count(fake, "GET") == 2

    async def test_put_and_delete_are_retried(self, make_client: MakeClient, fake: FakeAioz) -> None:
        client = make_client()
        key = await client.create_live_stream_key("k")
        streaming = await client.create_streaming(key.id, title="show")
        fake.inject_fault("/live_streams/*/streamings", "5xx", method="PUT")
        fake.inject_fault("/live_streams/*/streamings/*", "drop", method="DELETE")

        await client.update_streaming(key.id, streaming.id, title="renamed", save=True)
        with pytest.raises(AiozNotFound):
            # The first DELETE was carried out before its response was lost; the retry finds nothing.
            await client.delete_streaming(key.id, streaming.id)

        assert count(fake, "PUT") == 2
        assert (await client.list_streamings(key.id)).total == 0

    async def test_latency_is_tolerated(self, make_client: MakeClient, fake: FakeAioz) -> None:
        clock = ManualClock()
        client = make_client(clock=clock, read_timeout=1.0)
        fake.inject_fault("/live_streams", "latency", delay=0.2)  # slow, but within the read timeout

        assert (await client.list_live_stream_keys()).total == 0

        assert count(fake, "GET") == 1 and clock.sleeps == []  # answered late, not retried


class TestRateLimits:
    async def test_429_honours_retry_after(self, make_client: MakeClient, fake: FakeAioz) -> None:
        clock = ManualClock()
        client = make_client(clock=clock)
        fake.inject_fault("/live_streams", "429", retry_after=2)

        await client.list_live_stream_keys()

        assert clock.sleeps == [2]  # waited exactly the Retry-After, not the (much shorter) backoff
        assert count(fake, "GET") == 2

    async def test_429_past_the_deadline_is_raised_at_once(
        self, make_client: MakeClient, fake: FakeAioz
    ) -> None:
        clock = ManualClock()
        client = make_client(clock=clock, deadline_seconds=0.5)
        fake.inject_fault("/live_streams", "429", retry_after=3)

        with pytest.raises(AiozRateLimited) as caught:
            await client.list_live_stream_keys()

        assert caught.value.retry_after == 3 and caught.value.status_code == 429
        assert count(fake, "GET") == 1 and clock.sleeps == []

    async def test_create_is_retried_after_429(self, make_client: MakeClient, fake: FakeAioz) -> None:
        client = make_client()
        fake.inject_fault("/live_streams", "429", method="POST", retry_after=0)

        await client.create_live_stream_key("k")

        assert count(fake, "POST") == 2


class TestUnsafeCreates:
    @pytest.mark.parametrize("kind", ["5xx", "drop"])
    async def test_key_create_is_not_retried_blindly(
        self, make_client: MakeClient, fake: FakeAioz, kind: str
    ) -> None:
        client = make_client()
        fake.inject_fault("/live_streams", kind, method="POST")

        with pytest.raises(AiozUnavailable):
            await client.create_live_stream_key("k")

        assert count(fake, "POST") == 1

    async def test_streaming_create_recovers_a_lost_response(
        self, make_client: MakeClient, fake: FakeAioz
    ) -> None:
        client = make_client()
        key = await client.create_live_stream_key("k")
        fake.inject_fault("/live_streams/*/streamings", "drop", method="POST")

        streaming = await client.create_streaming(key.id, title="show", save=True)

        assert count(fake, "POST", "/streamings") == 1
        assert count(fake, "GET", "/streamings") == 1
        listing = await client.list_streamings(key.id)
        assert [s.id for s in listing.media] == [streaming.id]

    async def test_streaming_create_is_resent_when_nothing_was_created(
        self, make_client: MakeClient, fake: FakeAioz
    ) -> None:
        client = make_client()
        key = await client.create_live_stream_key("k")
        fake.calls.clear()
        fake.inject_fault("/live_streams/*/streamings", "5xx", method="POST")

        await client.create_streaming(key.id, title="show")

        assert [method for method, _ in fake.calls] == ["POST", "GET", "POST"]


class TestDeadlinesAndConnections:
    async def test_deadline_cuts_a_slow_attempt(self, make_client: MakeClient, fake: FakeAioz) -> None:
        # The attempt would hang for 30 s and its read timeout is 20 s: only the deadline can end it
        # (the message says which bound fired, so the test needs no stopwatch).
        client = make_client(read_timeout=20, deadline_seconds=0.3)
        fake.inject_fault("/live_streams", "timeout", delay=30)

        with pytest.raises(AiozTimeout, match=r"exceeded its 0\.3s deadline"):
            await client.list_live_stream_keys()

        assert count(fake, "GET") == 1

    async def test_retries_stop_at_the_deadline(self, make_client: MakeClient, fake: FakeAioz) -> None:
        # Each failed attempt is followed by a 0.2 s pause on the manual clock; the 4th pause would end
        # past the 0.7 s budget, so the 4th failure is raised instead of waiting for a 5th attempt.
        clock = ManualClock()
        client = make_client(
            clock=clock, deadline_seconds=0.7, max_attempts=10, backoff_initial=0.2, backoff_max=0.2,
            backoff_jitter=0,
        )  # fmt: skip
        fake.inject_fault("/live_streams", "5xx", count=10)

        with pytest.raises(AiozUnavailable):
            await client.list_live_stream_keys()

        assert clock.sleeps == [0.2, 0.2, 0.2]
        assert count(fake, "GET") == 4

    async def test_slow_attempts_are_retried_until_the_deadline(
        self, make_client: MakeClient, fake: FakeAioz
    ) -> None:
        client = make_client(read_timeout=0.2, deadline_seconds=0.7, max_attempts=10)
        fake.inject_fault("/live_streams", "timeout", count=10, delay=5)

        with pytest.raises(AiozTimeout):
            await client.list_live_stream_keys()

        assert 2 <= count(fake, "GET") < 10  # retried, and cut by the deadline long before 10 attempts

    async def test_read_timeout_is_retried(self, make_client: MakeClient, fake: FakeAioz) -> None:
        client = make_client(read_timeout=0.2)
        fake.inject_fault("/live_streams", "timeout", delay=5)

        await client.list_live_stream_keys()

        assert count(fake, "GET") == 2

    async def test_connection_refused_is_unavailable(self, fake: FakeAioz) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        config = fake.config(f"http://127.0.0.1:{port}/api", backoff_initial=0.01, backoff_jitter=0)

        async with AiozClient(config) as client:
            with pytest.raises(AiozUnavailable, match="could not be reached") as caught:
                await client.list_live_stream_keys()

        assert caught.value.status_code is None


class TestErrorMapping:
    async def test_not_found(self, make_client: MakeClient) -> None:
        with pytest.raises(AiozNotFound, match="record not found") as caught:
            await make_client().get_live_stream_key("0b7e8b1c-0000-4000-8000-000000000000")
        assert caught.value.status_code == 404 and not caught.value.retryable

    async def test_missing_route_is_an_endpoint_error(self, fake: FakeAioz, server_url: str) -> None:
        async with AiozClient(fake.config(server_url)) as client:  # base URL without /api
            with pytest.raises(AiozEndpointNotFound):
                await client.list_live_stream_keys()

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"secret_key": "wrong"}, "You are not logged in."),
            ({"public_key": "unknown"}, "API key not found."),
            ({"api_token": "expired"}, "You are not logged in."),
        ],
    )
    async def test_auth_errors_are_not_retried(
        self, make_client: MakeClient, fake: FakeAioz, overrides: dict[str, str], message: str
    ) -> None:
        client = make_client(**overrides)

        with pytest.raises(AiozAuthError) as caught:
            await client.list_live_stream_keys()

        assert (caught.value.status_code, caught.value.message) == (401, message)
        assert len(fake.calls) == 1

    async def test_another_accounts_key_is_a_400(self) -> None:
        owner, intruder = FakeAccount(), FakeAccount(api_token="t2", public_key="pk2", secret_key="sk2")
        fake = FakeAioz(owner, intruder)
        async with (
            fake.client() as mine,
            AiozClient(
                AiozConfig(base_url=IN_PROCESS_BASE_URL, api_token="t2"),
                transport=httpx.ASGITransport(fake.app),
            ) as theirs,
        ):
            key = await mine.create_live_stream_key("mine")
            with pytest.raises(AiozValidationError) as caught:
                await theirs.get_live_stream_key(key.id)
        assert caught.value.status_code == 400

    async def test_unexpected_body_is_an_aioz_error(self) -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>maintenance</html>"))
        config = AiozConfig(api_token="t", max_attempts=1)

        async with AiozClient(config, transport=transport) as client:
            with pytest.raises(AiozError, match="not JSON"):
                await client.list_live_stream_keys()

    async def test_get_media_falls_back_to_the_video_route(self, fake: FakeAioz) -> None:
        requested: list[str] = []

        async def video_route_only(scope: Scope, receive: Receive, send: Send) -> None:
            # Production as the backend snapshot routes it: no `GET /live_streams/{id}/media`.
            requested.append(f"{scope['method']} {scope['path']}")
            if scope["method"] == "GET" and scope["path"].endswith("/media"):
                await JSONResponse({"message": "Not Found"}, 404)(scope, receive, send)
            else:
                await fake.app(scope, receive, send)

        async with AiozClient(fake.config(), transport=httpx.ASGITransport(video_route_only)) as client:
            key = await client.create_live_stream_key("k")
            streaming = await client.create_streaming(key.id, title="show")

            assert (await client.get_media(streaming.id)).id == streaming.id

        assert requested[-2:] == [
            f"GET /api/live_streams/{streaming.id}/media",
            f"GET /api/live_streams/{streaming.id}/video",
        ]
