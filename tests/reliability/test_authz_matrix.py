"""The "deny" cells of docs/security.md's authorization matrix, checked over HTTP.

One active duo stream with its five kinds of caller: anonymous, an authenticated stranger, the creator,
the invited guest (joined as guest) and an audience participant. Every refused call answers the
documented status and writes nothing; the RTMP stream key reaches the creator only.
"""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from bson import ObjectId

from app.core.errors import generic_message
from app.main import create_app
from tests.conftest import MONGODB_TEST_URL, make_settings
from tests.helpers import assert_error, auth, create_stream

SHARED_LOOP = pytest.mark.asyncio(loop_scope="module")  # the tests share one app (see `world`)
ROLES = ("anonymous", "stranger", "creator", "guest", "audience")


@dataclass
class World:
    client: httpx.AsyncClient
    db: Any
    tokens: dict[str, str | None]
    stream: str
    stream_key: str

    def headers(self, role: str) -> dict[str, str]:
        token = self.tokens[role]
        return auth(token) if token else {}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    settings = make_settings(media_dir=str(tmp_path_factory.mktemp("media")))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def user() -> tuple[str, str]:
                body = {"username": f"u{uuid.uuid4().hex[:12]}", "credits": 100}
                data = (await client.post("/api/v1/dev/users", json=body)).json()["data"]
                return data["user"]["_id"], data["accessToken"]

            (creator_id, creator), (guest_id, guest) = await user(), await user()
            (_, stranger), (_, audience) = await user(), await user()
            stream = await create_stream(client, creator, liveStreamType="duoself", guests=f'["{guest_id}"]')
            sid = stream["id"]
            for path, token in (
                (f"/api/v1/live-stream/{sid}/start", creator),
                ("/api/v1/live-stream/join-as-guest", guest),
                ("/api/v1/live-stream/join", audience),
            ):
                response = await client.post(path, json={"liveStreamId": sid}, headers=auth(token))
                assert response.status_code == 200, response.text
            key = await app.state.db["aioz_keys"].find_one({"_id": ObjectId(creator_id)})
            tokens = {
                "anonymous": None,
                "stranger": stranger,
                "creator": creator,
                "guest": guest,
                "audience": audience,
            }
            yield World(client, app.state.db, tokens, sid, key["streamKey"])
        if MONGODB_TEST_URL:
            await app.state.mongo_client.drop_database(settings.mongodb_db)


# (method, path, JSON body, roles refused with 403). Anonymous callers get 401 on every one of them.
ID = "{id}"
DENIED = [
    ("DELETE", f"/api/v1/live-stream/{ID}", None, {"stranger", "guest", "audience"}),
    ("POST", f"/api/v1/live-stream/{ID}/start", None, {"stranger", "guest", "audience"}),
    ("POST", f"/api/v1/live-stream/{ID}/end", None, {"stranger", "guest", "audience"}),
    ("POST", f"/api/v1/live-stream/{ID}/cancel", None, {"stranger", "audience"}),
    (
        "PATCH",
        f"/api/v1/live-stream/{ID}/replay-settings",
        {"replayCreditPrice": 5},
        {"stranger", "guest", "audience"},
    ),
    ("POST", "/api/v1/live-stream/join-as-creator", {"liveStreamId": ID}, {"stranger", "guest", "audience"}),
    ("POST", "/api/v1/live-stream/join-as-guest", {"liveStreamId": ID}, {"stranger", "creator", "audience"}),
    ("POST", "/api/v1/live-stream/join", {"liveStreamId": ID}, {"creator"}),
    ("POST", f"/api/v1/live-stream/{ID}/fund", {"amount": 1}, {"creator"}),
    ("POST", f"/api/v1/live-stream/{ID}/replay-rentals", None, {"creator", "guest"}),
]
CELLS = [
    pytest.param(method, path, body, role, 403 if role in refused else 401, id=f"{method} {path} as {role}")
    for method, path, body, refused in DENIED
    for role in ("anonymous", *sorted(refused))
]


async def everything(db: Any) -> dict[str, list[dict[str, Any]]]:
    names = sorted(await db.list_collection_names())
    return {name: await db[name].find({}).sort("_id", 1).to_list(None) for name in names}


@SHARED_LOOP
@pytest.mark.parametrize(("method", "path", "body", "role", "status"), CELLS)
async def test_refused(world: World, method: str, path: str, body: Any, role: str, status: int) -> None:
    url = path.replace(ID, world.stream)
    json = {k: (world.stream if v == ID else v) for k, v in body.items()} if body else None
    before = await everything(world.db)
    response = await world.client.request(method, url, json=json, headers=world.headers(role))
    assert_error(response, status, generic_message(status))
    assert await everything(world.db) == before


@SHARED_LOOP
@pytest.mark.parametrize("role", ROLES)
async def test_stream_key_reaches_the_creator_only(world: World, role: str) -> None:
    reads = [
        ("GET", f"/api/v1/live-stream/{world.stream}", None),
        ("GET", "/api/v1/live-stream", None),
        ("GET", "/api/v1/live-stream/featured", None),
        ("GET", "/api/v1/live-stream/catch-streamers", None),
        ("POST", "/api/v1/live-stream/join-as-creator", {"liveStreamId": world.stream}),
        ("POST", "/api/v1/live-stream/join-as-guest", {"liveStreamId": world.stream}),
        ("GET", f"/api/v1/live-stream/{world.stream}/viewers", None),
    ]
    answered = []
    for method, url, json in reads:
        response = await world.client.request(method, url, json=json, headers=world.headers(role))
        answered.append((url, response.status_code, world.stream_key in response.text))
    leaks = [(url, status) for url, status, leaked in answered if leaked]
    if role == "creator":
        assert leaks == [("/api/v1/live-stream/join-as-creator", 200)]
    else:
        assert leaks == []
        assert any(status == 200 for _, status, _ in answered)  # the reads really answered


@SHARED_LOOP
@pytest.mark.parametrize(
    ("path", "role"),
    [("join-as-creator", "creator"), ("join-as-guest", "guest"), ("join", "audience")],
)
async def test_join_answers_carry_credentials_and_are_not_cacheable(
    world: World, path: str, role: str
) -> None:
    response = await world.client.post(
        f"/api/v1/live-stream/{path}", json={"liveStreamId": world.stream}, headers=world.headers(role)
    )
    assert response.status_code == 200 and response.json()["data"]["token"]
    assert response.headers["cache-control"] == "no-store"
