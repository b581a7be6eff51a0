"""The fake against AIOZ's documented wire format (docs/aioz.md, "Wire format"), over raw HTTP.

Only documented facts are asserted here (paths, codes, field names, exact messages), so the fake cannot
drift into behaviour of its own. Where the spec quotes no message, only the code and envelope are checked.
"""

import base64
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.aioz.fake import FakeAioz
from tests.helpers import SHARED_TLS

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z$")
NIL_UUID = "00000000-0000-0000-0000-000000000000"
MISSING = "0b7e8b1c-1d2e-4f00-8a00-00000000beef"

# the response objects of docs/aioz.md (keys, streamings, media, statistics, multicast)
KEY_FIELDS = {"id", "user_id", "name", "save", "type", "stream_key", "rtmp_url", "created_at", "updated_at"}
STREAMING_FIELDS = {
    "id",
    "live_stream_key_id",
    "user_id",
    "title",
    "type",
    "status",
    "save",
    "duration",
    "assets",
    "qualities",
    "media",
    "frame_rate",
    "audio_bitrate",
    "current_view",
    "total_view",
    "created_at",
    "updated_at",
}
STREAMING_ASSETS = {"hls_url", "iframe", "player_url", "thumbnail_url"}
MEDIA_FIELDS = {
    "id",
    "user_id",
    "title",
    "description",
    "type",
    "status",
    "is_public",
    "is_mp4",
    "duration",
    "size",
    "view",
    "tags",
    "metadata",
    "qualities",
    "captions",
    "chapters",
    "player_theme_id",
    "player_theme",
    "assets",
    "created_at",
    "updated_at",
}
MEDIA_ASSETS = {
    "source_url",
    "thumbnail_url",
    "hls_url",
    "hls_player_url",
    "hls_iframe",
    "dash_url",
    "dash_player_url",
    "dash_iframe",
    "mp4_url",
}
QUALITY_OBJECT = {"name", "status", "type", "video_codec", "video_bitrate", "audio_codec", "audio_bitrate"}
STATISTIC_FIELDS = {
    "id",
    "live_stream_media_id",
    "fps_in",
    "fps_out",
    "bitrate_in",
    "bitrate_out",
    "data_transferred",
    "current_view",
    "total_view",
}
MULTICAST_FIELDS = {"id", "live_stream_key_id", "user_id", "live_stream_multicast_urls"}


@pytest.fixture
async def aioz(fake: FakeAioz, server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A bare HTTP client with the documented API-key headers (the `stream-*` header pair)."""
    headers = {"stream-public-key": fake.account.public_key, "stream-secret-key": fake.account.secret_key}
    async with httpx.AsyncClient(base_url=f"{server_url}/api", headers=headers, verify=SHARED_TLS) as http:
        yield http


@pytest.fixture
async def world(aioz: httpx.AsyncClient, fake: FakeAioz) -> dict[str, str]:
    """Key `live_key` with a live streaming `live`; key `key` with a finished recording `ended`."""
    live_key = success(
        await aioz.post("/live_streams", json={"name": "creator", "save": True, "type": "video"})
    )
    live = success(await aioz.post(f"/live_streams/{live_key['id']}/streamings", json={"title": "on air"}))
    fake.go_live(live["id"])
    key = success(await aioz.post("/live_streams", json={"name": "archive", "save": True}))
    ended = success(
        await aioz.post(f"/live_streams/{key['id']}/streamings", json={"title": "past", "save": True})
    )
    fake.go_live(ended["id"])
    fake.end_stream(ended["id"])
    fake.produce_recording(ended["id"])
    return {
        "live_key": live_key["id"],
        "live": live["id"],
        "key": key["id"],
        "stream_key": key["stream_key"],
        "ended": ended["id"],
        "missing": MISSING,
    }


def success(response: httpx.Response, status_code: int = 200) -> Any:
    """Assert AIOZ's success envelope (docs/aioz.md, "Envelope") and return `data`, or `message` when there is no data."""
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"] == "application/json"
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Retry-After"):
        assert response.headers[header].isdigit()
    body = response.json()
    assert body["status"] == "success"
    assert ("data" in body) != ("message" in body)
    return body.get("data", body.get("message"))


def assert_streaming(data: dict[str, Any]) -> None:
    assert data.keys() >= STREAMING_FIELDS
    assert data["assets"].keys() >= STREAMING_ASSETS
    assert data["media"].keys() >= MEDIA_FIELDS
    assert data["media"]["assets"].keys() >= MEDIA_ASSETS
    assert all(q.keys() >= QUALITY_OBJECT for q in data["media"]["qualities"])
    assert RFC3339.match(data["created_at"]) and RFC3339.match(data["updated_at"])
    assert data["assets"]["hls_url"].endswith(f"/{data['id']}/index.m3u8")
    assert data["assets"]["player_url"].endswith(f"/live/{data['id']}")


class TestSeed003Streamings:
    async def test_create_list_update(self, aioz: httpx.AsyncClient, fake: FakeAioz) -> None:
        key = success(await aioz.post("/live_streams", json={"name": "k"}))
        bearer = {"Authorization": f"Bearer {fake.account.api_token}", "accept": "application/json"}

        created = await aioz.post(
            f"/live_streams/{key['id']}/streamings",
            json={"title": "live_streaming_title", "save": True, "qualities": ["360p", "720p", "1080p"]},
            headers=bearer,
        )
        data = success(created)
        assert_streaming(data)
        assert (data["status"], data["save"], data["title"]) == ("created", True, "live_streaming_title")
        assert data["qualities"] == ["360p", "720p", "1080p"]
        assert data["live_stream_key_id"] == key["id"]

        listed = success(await aioz.get(f"/live_streams/{key['id']}/streamings", headers=bearer))
        assert listed.keys() == {"media", "total"} and listed["total"] == 1
        assert listed["media"][0]["id"] == data["id"]

        updated = await aioz.put(
            f"/live_streams/{key['id']}/streamings", json={"title": "test", "save": True}
        )
        assert success(updated) == "Update live stream media success."
        one = success(await aioz.get(f"/live_streams/{key['id']}/streamings/{data['id']}"))
        assert (one["title"], one["save"]) == ("test", True)

    async def test_quality_objects(self, aioz: httpx.AsyncClient) -> None:
        key = success(await aioz.post("/live_streams", json={"name": "k"}))
        # The minimal working element (docs/aioz.md, "Qualities").
        minimal = {"resolution": "720p", "type": "hls", "container_type": "mpegts"}

        data = success(
            await aioz.post(
                f"/live_streams/{key['id']}/streamings", json={"title": "t", "qualities": [minimal]}
            )
        )

        assert data["qualities"] == ["720p"]


class TestSeed004Media:
    async def test_list_saved_media(self, aioz: httpx.AsyncClient, world: dict[str, str]) -> None:
        body = {"sort_by": "created_at", "order_by": "asc", "offset": 0, "limit": 10}

        data = success(await aioz.post(f"/live_streams/{world['key']}/media", json=body))

        assert data.keys() == {"media", "total"} and data["total"] == 1
        recording = data["media"][0]
        assert_streaming(recording)
        assert (recording["id"], recording["status"], recording["save"]) == (world["ended"], "end", True)
        assert recording["media"]["status"] == "done"
        assert recording["media"]["assets"]["hls_url"] and recording["media"]["assets"]["mp4_url"]

    async def test_only_saved_ended_recordings_are_listed(
        self, aioz: httpx.AsyncClient, world: dict[str, str]
    ) -> None:
        data = success(await aioz.post(f"/live_streams/{world['live_key']}/media", json={}))
        assert data == {"media": [], "total": 0}

    async def test_get_media_details(self, aioz: httpx.AsyncClient, world: dict[str, str]) -> None:
        documented = success(await aioz.get(f"/live_streams/{world['ended']}/media"))
        backend_route = success(await aioz.get(f"/live_streams/{world['ended']}/video"))

        assert_streaming(documented)
        assert documented["id"] == backend_route["id"] == world["ended"]

    async def test_delete_streaming(self, aioz: httpx.AsyncClient, world: dict[str, str]) -> None:
        response = await aioz.delete(f"/live_streams/{world['key']}/streamings/{world['ended']}")

        assert success(response) == "Delete streaming success."
        assert (await aioz.get(f"/live_streams/{world['ended']}/media")).status_code == 404

    async def test_delete_streaming_with_swapped_ids(
        self, aioz: httpx.AsyncClient, world: dict[str, str]
    ) -> None:
        # docs/aioz.md: the official SDK tests call it stream id first, against production.
        response = await aioz.delete(f"/live_streams/{world['ended']}/streamings/{world['key']}")
        assert success(response) == "Delete streaming success."


class TestSpecEndpoints:
    async def test_keys(self, aioz: httpx.AsyncClient) -> None:
        created = await aioz.post("/live_streams", json={"name": "k", "save": False, "type": "other"})
        key = success(created)  # 200, not 201 (docs/aioz.md, "Status codes")
        assert key.keys() >= KEY_FIELDS and key["type"] == "video"
        assert RFC3339.match(key["created_at"])

        listed = success(await aioz.get("/live_streams", params={"limit": 500, "sort_by": "name"}))
        assert listed.keys() == {"live_stream_keys", "total"} and listed["total"] == 1
        assert success(await aioz.get(f"/live_streams/{key['id']}")) == key
        renamed = success(
            await aioz.put(f"/live_streams/{key['id']}", json={"name": "renamed", "save": True})
        )
        assert (renamed["name"], renamed["save"]) == ("renamed", True)
        assert success(await aioz.delete(f"/live_streams/{key['id']}")) == "Delete live stream key success."

    async def test_statistic(self, aioz: httpx.AsyncClient, world: dict[str, str]) -> None:
        data = success(await aioz.get(f"/live_streams/statistic/{world['live']}"))
        assert data.keys() == STATISTIC_FIELDS and data["live_stream_media_id"] == world["live"]

    async def test_player_needs_no_auth(self, server_url: str, world: dict[str, str]) -> None:
        async with httpx.AsyncClient(base_url=f"{server_url}/api", verify=SHARED_TLS) as anonymous:
            data = success(await anonymous.get(f"/live_streams/player/{world['ended']}/media"))
        assert data["id"] == world["ended"]
        assert data["live_stream_key_id"] == data["user_id"] == NIL_UUID

    async def test_multicast(self, aioz: httpx.AsyncClient, world: dict[str, str]) -> None:
        path = f"/live_streams/multicast/{world['stream_key']}"
        data = success(await aioz.post(path, json={"multicast_urls": ["rtmp://a.example/live/1"]}))
        assert data.keys() >= MULTICAST_FIELDS and data["live_stream_key_id"] == world["key"]
        assert success(await aioz.get(path))["live_stream_multicast_urls"] == ["rtmp://a.example/live/1"]
        assert success(await aioz.delete(path)) == "success"

    async def test_thumbnail(self, aioz: httpx.AsyncClient, world: dict[str, str]) -> None:
        path = f"/live_streams/{world['live']}/thumbnail"
        uploaded = await aioz.post(path, files={"file": ("t.jpg", b"jpeg", "image/jpeg")})
        assert success(uploaded, 201) == "Uploaded thumbnail successfully."
        assert success(await aioz.delete(path)) == "success"


# (method, path, JSON body, status, message or None where the spec quotes no text)
DOCUMENTED_ERRORS = [
    ("POST", "/live_streams", {"name": "  "}, 400, "Name must be specified."),
    (
        "GET",
        "/live_streams?sort_by=size",
        None,
        400,
        "Sorting by 'size' is not allowed. Allowed values: created_at, name.",
    ),
    ("GET", "/live_streams?order_by=up", None, 400, 'Unknown sorting order. Please use "asc" or "desc".'),
    ("GET", "/live_streams/not-a-uuid", None, 400, None),
    ("GET", "/live_streams/{missing}", None, 404, None),
    ("DELETE", "/live_streams/{live_key}", None, 400, None),
    ("POST", "/live_streams/{key}/streamings", {"title": " "}, 400, "Title is required."),
    ("POST", "/live_streams/{key}/streamings", {"title": "x" * 256}, 400, "Title is too long."),
    ("POST", "/live_streams/{live_key}/streamings", {"title": "again"}, 400, "Live stream already created"),
    (
        "POST",
        "/live_streams/{key}/streamings",
        {"title": "t", "qualities": [{"resolution": "720p", "type": "rtmp", "container_type": "mpegts"}]},
        400,
        "Invalid quality type.",
    ),
    (
        "POST",
        "/live_streams/{key}/streamings",
        {"title": "t", "qualities": [{"resolution": "720p", "type": "hls", "container_type": "mp4"}]},
        400,
        "Invalid container type.",
    ),
    (
        "POST",
        "/live_streams/{key}/streamings",
        {"title": "t", "qualities": [{"resolution": "", "type": "hls", "container_type": "mpegts"}]},
        400,
        "Resolution cannot be empty.",
    ),
    (
        "POST",
        "/live_streams/{key}/streamings",
        {
            "title": "t",
            "qualities": [
                {
                    "resolution": "720p",
                    "type": "hls",
                    "container_type": "mpegts",
                    "video_config": {"bitrate": 5_000_000},
                }
            ],
        },
        400,
        "Video bitrate exceeds maximum allowed for 720p resolution: 4000000",
    ),
    ("GET", "/live_streams/{key}/streamings/{ended}", None, 404, None),
    (
        "PUT",
        "/live_streams/{live_key}/streamings",
        {"stream_id": "{live}", "title": ""},
        400,
        "Title must be specified.",
    ),
    (
        "PUT",
        "/live_streams/{live_key}/streamings",
        {"stream_id": "{live}", "title": "x" * 256},
        400,
        "Title length must be less than 255 characters.",
    ),
    (
        "PUT",
        "/live_streams/{key}/streamings",
        {"stream_id": "{ended}", "title": "t"},
        400,
        "This livestream was ended.",
    ),
    (
        "POST",
        "/live_streams/{key}/media",
        {"sort_by": "created_at", "order_by": "asc", "limit": 101},
        400,
        "Limit only allowed values 1-100.",
    ),
    (
        "POST",
        "/live_streams/{key}/media",
        {"sort_by": "views", "order_by": "asc"},
        400,
        "Sorting by 'views' is not allowed. Allowed values: created_at, updated_at, title, size.",
    ),
    (
        "POST",
        "/live_streams/{key}/media",
        {"sort_by": "title", "order_by": "newest"},
        400,
        'Unknown sorting order. Please use "asc" or "desc".',
    ),
    (
        "POST",
        "/live_streams/{key}/media",
        {"sort_by": "title", "order_by": "asc", "status": "live"},
        400,
        "Invalid status. Allow status: new, done, fail, deleted, transcoding",
    ),
    ("GET", "/live_streams/statistic/{ended}", None, 404, None),
    (
        "POST",
        "/live_streams/multicast/{stream_key}",
        {"multicast_urls": []},
        400,
        "StreamKey and MulticastUrls must be specified.",
    ),
    (
        "POST",
        "/live_streams/multicast/{stream_key}",
        {"multicast_urls": ["rtmp://a/1", "rtmp://b/2", "rtmp://c/3"]},
        400,
        "Only 2 stream can forward.",
    ),
    (
        "POST",
        "/live_streams/multicast/{stream_key}",
        {"multicast_urls": ["http://a/1"]},
        400,
        "Multicast url is invalid.",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "status_code", "message"), DOCUMENTED_ERRORS)
async def test_documented_errors(
    aioz: httpx.AsyncClient,
    world: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status_code: int,
    message: str | None,
) -> None:
    if body is not None:
        body = {
            name: value.format(**world) if isinstance(value, str) else value for name, value in body.items()
        }

    response = await aioz.request(method, path.format(**world), json=body)

    assert response.status_code == status_code
    assert response.headers["content-type"] == "application/json"
    assert response.json()["status"] == "fail"
    if message is not None:
        assert response.json()["message"] == message


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": f"Basic {base64.b64encode(credentials.encode()).decode()}"}


@pytest.mark.parametrize(
    ("headers", "status_code", "message"),
    [
        ({}, 401, "You are not logged in."),
        ({"stream-public-key": "unknown", "stream-secret-key": "x"}, 401, "API key not found."),
        (
            {"stream-public-key": "fake-public-key", "stream-secret-key": "wrong"},
            401,
            "You are not logged in.",
        ),
        ({"Authorization": "Basic !!!"}, 400, "Invalid basic auth format."),
        (basic("no-colon"), 400, "Invalid basic auth format."),
    ],
)
async def test_documented_auth_failures(
    server_url: str, fake: FakeAioz, headers: dict[str, str], status_code: int, message: str
) -> None:
    async with httpx.AsyncClient(base_url=f"{server_url}/api", headers=headers, verify=SHARED_TLS) as http:
        response = await http.get("/live_streams")

    assert (response.status_code, response.json()) == (status_code, {"status": "fail", "message": message})


async def test_basic_auth_is_accepted(server_url: str, fake: FakeAioz) -> None:
    headers = basic(f"{fake.account.public_key}:{fake.account.secret_key}")
    async with httpx.AsyncClient(base_url=f"{server_url}/api", headers=headers, verify=SHARED_TLS) as http:
        assert success(await http.get("/live_streams")) == {"live_stream_keys": [], "total": 0}


async def test_server_errors_use_the_error_status(aioz: httpx.AsyncClient, fake: FakeAioz) -> None:
    fake.inject_fault("/live_streams", "5xx", status=500)

    response = await aioz.get("/live_streams")

    assert (response.status_code, response.json()) == (
        500,
        {"status": "error", "message": "Internal server error."},
    )
