"""A web client on another origin (a page served on another port) calls the REST API and opens the
Socket.IO transport from real headless Chromium: allowed by the development default, refused when
`CORS_ALLOW_ORIGINS` does not list the page's origin (docs/security.md, "Browser clients (CORS)")."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi.responses import Response

from app.main import create_app
from tests.browser.conftest import SESSION_LOOP, page_app, screenshot
from tests.conftest import make_settings
from tests.helpers import install_socketio_client
from tests.realtime.conftest import serve
from tests.streams import started_stream

pytestmark = SESSION_LOOP

# Runs in the page: a credentialed-header request (Authorization, Idempotency-Key, X-Request-ID and a
# JSON content type force a preflight), then the answer as a script on that origin can read it.
FETCH = """async ([url, init]) => {
    try {
        const response = await fetch(url, init);
        return {
            status: response.status,
            body: await response.json(),
            requestId: response.headers.get('X-Request-ID'),
            wwwAuthenticate: response.headers.get('WWW-Authenticate'),
        };
    } catch (error) {
        return {blocked: String(error)};
    }
}"""
# Runs in the page: the Socket.IO client's first request (the HTTP long-polling handshake).
POLLING = """async (url) => {
    try {
        const response = await fetch(url);
        return {status: response.status, first: await response.text()};
    } catch (error) {
        return {blocked: String(error)};
    }
}"""
# Runs in the page: the Socket.IO client's WebSocket transport (the browser sends the page's Origin).
WEBSOCKET = """(url) => new Promise((resolve) => {
    const socket = new WebSocket(url);
    socket.onmessage = (event) => { resolve({opened: true, first: String(event.data)}); socket.close(); };
    socket.onerror = () => resolve({opened: false});
    setTimeout(() => resolve({opened: false, timeout: true}), 5000);
})"""


async def api_server(**settings: Any) -> AsyncIterator[str]:
    async for url in serve(create_app(make_settings(**settings))):
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def api() -> AsyncIterator[str]:
    """The API with the development default: any http://localhost:* / http://127.0.0.1:* origin."""
    async for url in api_server():
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def strict_api() -> AsyncIterator[str]:
    """The API allowing one origin only, not the test page's."""
    async for url in api_server(cors_allow_origins="https://app.example.com"):
        yield url


async def dev_token(api_url: str) -> str:
    async with httpx.AsyncClient(base_url=api_url) as http:
        answer = await http.post("/api/v1/dev/users", json={"username": "webclient", "credits": 5})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["data"]["accessToken"])


def join_request(token: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "headers": {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": "browser-join-1",
            "X-Request-ID": "7f0e4a52-61c4-4f53-9b8e-1d2c3b4a5f60",
        },
        "body": '{"liveStreamId": "64d15f9e2e6c8f4d5a123456"}',
    }


async def test_a_page_on_another_origin_calls_the_api_and_reads_errors_and_headers(
    browser, api, other_origin
):
    token = await dev_token(api)
    page = await browser.new_page()
    await page.goto(other_origin)
    assert page.url.startswith("http://127.0.0.1:") and not page.url.startswith(api)

    # Preflighted POST with every header clients send: the answer (a 404 envelope) is readable.
    joined = await page.evaluate(FETCH, [f"{api}/api/v1/live-stream/join", join_request(token)])
    assert "blocked" not in joined, joined
    assert joined["status"] == 404
    assert joined["body"]["code"] == "NOT_FOUND" and joined["body"]["errors"] == ["Resource not found"]
    assert joined["requestId"] == "7f0e4a52-61c4-4f53-9b8e-1d2c3b4a5f60"  # exposed to the script

    # No token: the 401's code and RFC 6750 challenge are readable too.
    anonymous = await page.evaluate(FETCH, [f"{api}/api/v1/live-stream", {"method": "GET"}])
    assert anonymous["status"] == 401 and anonymous["body"]["code"] == "TOKEN_MISSING"
    assert anonymous["wwwAuthenticate"] == "Bearer"
    expired = await page.evaluate(
        FETCH, [f"{api}/api/v1/live-stream", {"headers": {"Authorization": "Bearer not-a-jwt"}}]
    )
    assert expired["status"] == 401 and expired["body"]["code"] == "TOKEN_INVALID"
    assert expired["wwwAuthenticate"].startswith('Bearer error="invalid_token", error_description="')

    # A success answer.
    listed = await page.evaluate(
        FETCH, [f"{api}/api/v1/live-stream?limit=5", {"headers": {"Authorization": f"Bearer {token}"}}]
    )
    assert listed["status"] == 200 and listed["body"]["isSuccess"] is True

    # Socket.IO's transport from the same page: the handshake's first packet arrives.
    polling = await page.evaluate(POLLING, f"{api}/socket.io/?EIO=4&transport=polling")
    assert polling.get("status") == 200 and polling["first"].startswith("0{"), polling
    ws_url = api.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    opened = await page.evaluate(WEBSOCKET, ws_url)
    assert opened["opened"] and opened["first"].startswith("0{"), opened

    await page.evaluate(
        """(seen) => { document.body.innerHTML = '<h1>' + location.origin + ' calling the API</h1><pre></pre>';
            document.querySelector('pre').textContent = JSON.stringify(seen, null, 1); }""",
        {
            "POST /join (preflighted)": joined,
            "GET without token": anonymous,
            "Socket.IO polling handshake": polling,
            "Socket.IO websocket": opened,
        },
    )
    await screenshot(page, "cors-allowed")


async def test_an_origin_not_listed_is_refused_by_the_browser(browser, strict_api, other_origin):
    token = await dev_token(strict_api)
    page = await browser.new_page()
    await page.goto(other_origin)
    refused = await page.evaluate(FETCH, [f"{strict_api}/api/v1/live-stream/join", join_request(token)])
    assert "Failed to fetch" in refused.get("blocked", ""), refused
    simple = await page.evaluate(
        FETCH, [f"{strict_api}/api/v1/live-stream", {"headers": {"Authorization": f"Bearer {token}"}}]
    )
    assert "blocked" in simple, simple  # the answer carries no Access-Control-Allow-Origin for this page
    polling = await page.evaluate(POLLING, f"{strict_api}/socket.io/?EIO=4&transport=polling")
    assert "blocked" in polling, polling
    ws_url = strict_api.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    assert (await page.evaluate(WEBSOCKET, ws_url))["opened"] is False


@pytest.fixture(scope="module")
def socketio_client_js(tmp_path_factory) -> bytes:
    """The official browser bundle of `socket.io-client` 4.x, from npm (skipped without npm)."""
    folder = tmp_path_factory.mktemp("sio-browser")
    package = install_socketio_client(folder, '{"name": "sio-browser-check", "private": true}')
    return (package / "dist/socket.io.min.js").read_bytes()


# Runs in the page: the official client, default transports (polling, then upgrade to websocket), joins
# the stream on /live-stream with the token in the handshake's auth.
SOCKETIO_JOIN = """([url, token, streamId]) => new Promise((resolve) => {
    const socket = io(url + '/live-stream', {auth: {token}});
    socket.on('connect_error', (error) => resolve({connected: false, error: error.message}));
    socket.on('connect', async () => {
        const ack = await socket.timeout(5000).emitWithAck('joinStream', {streamId});
        resolve({connected: true, transport: socket.io.engine.transport.name, ack});
        socket.close();
    });
})"""


async def test_the_official_socketio_client_on_another_origin(browser, api, socketio_client_js):
    html = "<!doctype html><title>web client</title><h1>socket.io web client</h1>"
    site = page_app(html)

    @site.get("/socket.io.min.js")
    async def bundle() -> Response:
        return Response(socketio_client_js, media_type="text/javascript")

    async with httpx.AsyncClient(base_url=api) as http:
        creator = (await http.post("/api/v1/dev/users", json={"username": "sio_creator"})).json()["data"]
        viewer = (await http.post("/api/v1/dev/users", json={"username": "sio_viewer"})).json()["data"]
        stream = await started_stream(http, creator["accessToken"])
    async for origin in serve(site):
        page = await browser.new_page()
        await page.goto(origin)
        await page.add_script_tag(url=f"{origin}/socket.io.min.js")
        joined = await page.evaluate(SOCKETIO_JOIN, [api, viewer["accessToken"], stream["id"]])
        assert joined["connected"], joined
        print(f"socket.io-client from {origin}: connected over {joined['transport']}, joinStream ack ok")
        assert joined["ack"]["ok"] is True and joined["ack"]["data"]["liveStream"]["id"] == stream["id"]
        anonymous_refused = await page.evaluate(SOCKETIO_JOIN, [api, "not-a-jwt", stream["id"]])
        assert anonymous_refused == {"connected": False, "error": "Authentication required"}
