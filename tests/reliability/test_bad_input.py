"""Bad-input catalogue: each class of malformed or hostile input gets a clear 4xx envelope, writes nothing.

"Nothing" is checked on the whole database (every document of every collection, not only counts, so a
credit debit or a `$inc` would show) and on the media directory (no stray upload).
"""

import base64
import io
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from bson import ObjectId
from PIL import Image

from app.core.config import Settings
from app.core.errors import generic_message
from app.main import create_app
from tests.conftest import MONGODB_TEST_URL, make_settings
from tests.helpers import assert_error, auth, create_stream, iso_in

MAX_REQUEST = 64 * 1024
MAX_THUMBNAIL = 32 * 1024


SHARED_LOOP = pytest.mark.asyncio(loop_scope="module")  # the tests share one app (see `world`)


@dataclass
class World:
    client: httpx.AsyncClient
    db: Any
    settings: Settings
    host: str  # token of a creator
    fan: str  # token of a user with 500 credits
    fundable: str  # id of a scheduled stream with a funding goal
    active: str  # id of an active stream
    deleted_user_token: str
    fan_id: str

    @property
    def fund_url(self) -> str:
        return f"/api/v1/live-stream/{self.fundable}/fund"

    async def fund_raw(
        self, body: bytes, content_type: str = "application/json", **headers: str
    ) -> httpx.Response:
        headers = {**auth(self.fan), "Content-Type": content_type, **headers}
        return await self.client.post(self.fund_url, content=body, headers=headers)

    async def fund_json(self, body: Any) -> httpx.Response:
        return await self.client.post(self.fund_url, json=body, headers=auth(self.fan))

    async def fund_with(self, authorization: str) -> httpx.Response:
        return await self.client.post(
            self.fund_url, json={"amount": 5}, headers={"Authorization": authorization}
        )

    async def create(self, files: dict[str, Any] | None = None, **form: str) -> httpx.Response:
        return await self.client.post(
            "/api/v1/live-stream/create",
            data={"title": "Valid title", **form},
            files=files or {"_": (None, "")},
            headers=auth(self.host),
        )

    def token(self, claims: dict[str, Any], key: str | None = None, algorithm: str = "HS256") -> str:
        secret = key if key is not None else self.settings.jwt_secret.get_secret_value()
        return jwt.encode(claims, secret, algorithm=algorithm)

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = datetime.now(UTC)
        claims = {"sub": self.fan_id, "iat": now, "exp": now + timedelta(hours=1), **changes}
        return {name: value for name, value in claims.items() if value is not None}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """One app for the whole catalogue: every case leaves the database as it found it (that is the test)."""
    settings = make_settings(
        media_dir=str(tmp_path_factory.mktemp("media")),
        # Small limits, so oversized bodies are cheap to build; the rules are the same at any size.
        max_request_bytes=MAX_REQUEST,
        max_thumbnail_bytes=MAX_THUMBNAIL,
        jwt_secret="s" * 64,  # long enough for the HS512 case to be about the algorithm, not the key
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield await _populate(app, client, settings)
        if MONGODB_TEST_URL:
            await app.state.mongo_client.drop_database(settings.mongodb_db)


async def _populate(app: Any, client: httpx.AsyncClient, settings: Settings) -> World:
    async def user(**fields: Any) -> tuple[str, str]:
        response = await client.post(
            "/api/v1/dev/users", json={"username": f"u{uuid.uuid4().hex[:12]}", **fields}
        )
        data = response.json()["data"]
        return data["user"]["_id"], data["accessToken"]

    _, host = await user()
    fan_id, fan = await user(credits=500)
    gone_id, gone = await user()
    db = app.state.db
    await db["users"].update_one({"_id": ObjectId(gone_id)}, {"$set": {"deletedAt": datetime.now(UTC)}})
    fundable = await create_stream(client, host, plannedStartDate=iso_in(hours=3), fundingGoal=1000)
    _, other_host = await user()
    active = await create_stream(client, other_host)
    started = await client.post(f"/api/v1/live-stream/{active['id']}/start", headers=auth(other_host))
    assert started.status_code == 200, started.text
    return World(client, db, settings, host, fan, fundable["id"], active["id"], gone, fan_id)


def _unsigned(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value, default=lambda v: int(v.timestamp())).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _spliced(token: str, signed: str) -> str:
    """`token`'s header and claims with the (valid) signature of another token."""
    header, claims, _ = token.split(".")
    return f"{header}.{claims}.{signed.split('.')[2]}"


def _png(size: tuple[int, int] = (4, 4), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return buffer.getvalue()


async def _chunks(total: int, chunk: int = 8192) -> AsyncIterator[bytes]:
    for _ in range(total // chunk + 1):
        yield b" " * chunk


Call = Callable[[World], Awaitable[httpx.Response]]

# (class of bad input, the request, expected status, expected detail after the generic message or None)
CATALOGUE: list[tuple[str, Call, int, str | None]] = [
    # --- malformed or oversized bodies ---
    ("malformed JSON", lambda w: w.fund_raw(b'{"amount": 5'), 400, "body: invalid JSON"),
    (
        "JSON array instead of object",
        lambda w: w.fund_json([5]),
        400,
        "body: Input should be a valid dictionary or object to",
    ),
    ("empty JSON body", lambda w: w.fund_raw(b""), 400, "body: Field required"),
    (
        "deeply nested JSON",
        lambda w: w.fund_raw(b'{"amount":' + b"[" * 3000 + b"]" * 3000 + b"}"),
        400,
        "There was an error parsing the body",
    ),
    (
        "oversized JSON with Content-Length",
        lambda w: w.fund_raw(b'{"amount": 5, "pad": "' + b"a" * MAX_REQUEST + b'"}'),
        413,
        "request body must be at most 65536 bytes",
    ),
    (
        "oversized chunked JSON (no Content-Length)",
        lambda w: w.client.post(
            w.fund_url,
            content=_chunks(MAX_REQUEST + 1),
            headers={**auth(w.fan), "Content-Type": "application/json"},
        ),
        413,
        "request body must be at most 65536 bytes",
    ),
    (
        "oversized body on a body-less endpoint",
        lambda w: w.client.post(
            f"/api/v1/live-stream/{w.fundable}/start", content=b"x" * (MAX_REQUEST + 1), headers=auth(w.host)
        ),
        413,
        "request body must be at most 65536 bytes",
    ),
    # --- wrong content type ---
    (
        "JSON sent as text/plain",
        lambda w: w.fund_raw(b'{"amount": 5}', "text/plain"),
        400,
        "body: Input should be a valid dictionary or object to",
    ),
    (
        "form where JSON is expected",
        lambda w: w.client.post(w.fund_url, data={"amount": "5"}, headers=auth(w.fan)),
        400,
        "body: Input should be a valid dictionary or object to",
    ),
    (
        "JSON where multipart is expected",
        lambda w: w.client.post("/api/v1/live-stream/create", json={"title": "x"}, headers=auth(w.host)),
        415,
        "multipart/form-data expected",
    ),
    # --- amounts ---
    ("negative amount", lambda w: w.fund_json({"amount": -5}), 400, "amount: Input should be greater than 0"),
    ("zero amount", lambda w: w.fund_json({"amount": 0}), 400, "amount: Input should be greater than 0"),
    (
        "fractional amount",
        lambda w: w.fund_json({"amount": 1.5}),
        400,
        "amount: Input should be a valid integer",
    ),
    (
        "integral float amount",
        lambda w: w.fund_json({"amount": 5.0}),
        400,
        "amount: Input should be a valid integer",
    ),
    ("NaN amount", lambda w: w.fund_raw(b'{"amount": NaN}'), 400, "amount: Input should be a valid integer"),
    (
        "1e309 (infinite) amount",
        lambda w: w.fund_raw(b'{"amount": 1e309}'),
        400,
        "amount: Input should be a valid integer",
    ),
    (
        "-Infinity amount",
        lambda w: w.fund_raw(b'{"amount": -Infinity}'),
        400,
        "amount: Input should be a valid integer",
    ),
    (
        "string amount",
        lambda w: w.fund_json({"amount": "10"}),
        400,
        "amount: Input should be a valid integer",
    ),
    (
        "boolean amount",
        lambda w: w.fund_json({"amount": True}),
        400,
        "amount: Input should be a valid integer",
    ),
    ("null amount", lambda w: w.fund_json({"amount": None}), 400, "amount: Input should be a valid integer"),
    (
        "amount beyond 64 bits",
        lambda w: w.fund_json({"amount": 10**30}),
        400,
        "amount: Input should be less than or equal to 1000000000",
    ),
    (
        "Mongo operator as amount",
        lambda w: w.fund_json({"amount": {"$inc": 5}}),
        400,
        "amount: Input should be a valid integer",
    ),
    (
        "unknown extra field (mass assignment)",
        lambda w: w.fund_json({"amount": 5, "userId": w.fan_id}),
        400,
        "userId: Extra inputs are not permitted",
    ),
    # --- ids ---
    (
        "non-ObjectId id in the path",
        lambda w: w.client.post(
            "/api/v1/live-stream/not-an-id/fund", json={"amount": 5}, headers=auth(w.fan)
        ),
        400,
        "path.id: Value error, must be a 24-character hex ObjectId",
    ),
    (
        "24 non-hex characters as path id",
        lambda w: w.client.post(
            f"/api/v1/live-stream/{'z' * 24}/fund", json={"amount": 5}, headers=auth(w.fan)
        ),
        400,
        "path.id: Value error, must be a 24-character hex ObjectId",
    ),
    (
        "non-ObjectId id in the body",
        lambda w: w.client.post(
            "/api/v1/live-stream/join", json={"liveStreamId": "123"}, headers=auth(w.fan)
        ),
        400,
        "liveStreamId: Value error, must be a 24-character hex",
    ),
    (
        "Mongo operator injection as body id",
        lambda w: w.client.post(
            "/api/v1/live-stream/join", json={"liveStreamId": {"$ne": None}}, headers=auth(w.fan)
        ),
        400,
        "liveStreamId: Value error, must be a 24-character hex",
    ),
    (
        "non-ObjectId guest id",
        lambda w: w.create(guests='["nope"]', liveStreamType="duoself"),
        400,
        "guests must contain 24-character hex user ids",
    ),
    # --- paging and query strings ---
    (
        "huge limit",
        lambda w: w.client.get(f"/api/v1/live-stream/{w.active}/viewers?limit=1000000", headers=auth(w.fan)),
        400,
        "query.limit: Input should be less than or equal to 100",
    ),
    (
        "huge page (beyond 64 bits)",
        lambda w: w.client.get("/api/v1/users/me/transactions?page=" + "9" * 30, headers=auth(w.fan)),
        400,
        "query.page: Input should be less than or equal to 1000000",
    ),
    (
        "negative limit",
        lambda w: w.client.get("/api/v1/live-stream/funded?limit=-1", headers=auth(w.fan)),
        400,
        "query.limit: Input should be greater than or equal to 1",
    ),
    (
        "duplicate query parameter",
        lambda w: w.client.get("/api/v1/live-stream/funded?limit=5&limit=6", headers=auth(w.fan)),
        400,
        "query parameter 'limit' must be given at most once",
    ),
    (
        "duplicate query parameter on a mutation",
        lambda w: w.client.post(f"{w.fund_url}?x=1&x=2", json={"amount": 5}, headers=auth(w.fan)),
        400,
        "query parameter 'x' must be given at most once",
    ),
    # --- unknown enum values ---
    (
        "unknown liveStreamType",
        lambda w: w.create(liveStreamType="trio"),
        400,
        "liveStreamType: Input should be 'solo', 'duocrowd' or",
    ),
    (
        "unknown status filter",
        lambda w: w.client.get("/api/v1/live-stream/guest-streams?status=paused", headers=auth(w.fan)),
        400,
        "query.status: Input should be 'active', 'ended',",
    ),
    (
        "unknown join role",
        lambda w: w.client.post(
            "/api/v1/live-stream/join", json={"liveStreamId": w.active, "role": "admin"}, headers=auth(w.fan)
        ),
        400,
        "role: Input should be 'host', 'guest' or 'audience'",
    ),
    (
        "host role through the audience join",
        lambda w: w.client.post(
            "/api/v1/live-stream/join", json={"liveStreamId": w.active, "role": "host"}, headers=auth(w.fan)
        ),
        400,
        "use join-as-guest or join-as-creator for other roles",
    ),
    # --- create form fields ---
    (
        "title over 150 characters",
        lambda w: w.create(title="é" * 151),
        400,
        "title: Value error, must be at most 150 characters after trimming",
    ),
    ("blank title", lambda w: w.create(title="   "), 400, "title must not be blank"),
    ("guests not JSON", lambda w: w.create(guests="[nope"), 400, "guests must be a JSON array of user ids"),
    ("NaN price", lambda w: w.create(price="nan"), 400, "price: Input should be a finite number"),
    ("infinite price", lambda w: w.create(price="1e309"), 400, "price: Input should be a finite number"),
    ("three-decimal price", lambda w: w.create(price="9.999"), 400, "price must have at most two decimals"),
    (
        "negative price",
        lambda w: w.create(price="-1"),
        400,
        "price: Input should be greater than or equal to 0",
    ),
    (
        "date without timezone",
        lambda w: w.create(plannedStartDate="2031-01-01T10:00:00"),
        400,
        "plannedStartDate must include a timezone, e.g.",
    ),
    (
        "date in the past",
        lambda w: w.create(plannedStartDate=iso_in(hours=-1)),
        400,
        "plannedStartDate must be in the future",
    ),
    (
        "date at the end of the calendar",
        lambda w: w.create(plannedStartDate="9999-12-31T23:59:59Z", durationGoal="1440"),
        400,
        "plannedStartDate must be within 730 days",
    ),
    # --- thumbnails ---
    (
        "oversized thumbnail",
        lambda w: w.create(files={"thumbnail": ("big.png", _png() + b"\0" * MAX_THUMBNAIL, "image/png")}),
        400,
        "thumbnail must be at most 32768 bytes",
    ),
    (
        "text posing as a PNG",
        lambda w: w.create(files={"thumbnail": ("fake.png", b"<?php echo 1; ?>", "image/png")}),
        400,
        "thumbnail must be a JPEG, PNG, WebP or GIF image",
    ),
    (
        "truncated PNG",
        lambda w: w.create(files={"thumbnail": ("cut.png", _png((64, 64))[:60], "image/png")}),
        400,
        "thumbnail must be a JPEG, PNG, WebP or GIF image",
    ),
    (
        "SVG thumbnail (script-capable)",
        lambda w: w.create(files={"thumbnail": ("x.svg", b"<svg><script>1</script></svg>", "image/svg+xml")}),
        400,
        "thumbnail must be a JPEG, PNG, WebP or GIF image",
    ),
    (
        "decompression bomb (48 Mpx in a few KB)",
        lambda w: w.create(files={"thumbnail": ("bomb.png", _png((8000, 6000), mode="1"), "image/png")}),
        400,
        "thumbnail dimensions are too large",
    ),
    # --- JWT tampering ---
    ("alg none", lambda w: w.fund_with(f"Bearer {_unsigned(w.claims())}"), 401, None),
    ("wrong signing key", lambda w: w.fund_with(f"Bearer {w.token(w.claims(), key='x' * 40)}"), 401, None),
    (
        "other algorithm than configured (HS512)",
        lambda w: w.fund_with(f"Bearer {w.token(w.claims(), algorithm='HS512')}"),
        401,
        None,
    ),
    (
        "expired token",
        lambda w: w.fund_with(f"Bearer {w.token(w.claims(exp=datetime.now(UTC) - timedelta(seconds=5)))}"),
        401,
        None,
    ),
    (
        "token not valid yet (nbf)",
        lambda w: w.fund_with(f"Bearer {w.token(w.claims(nbf=datetime.now(UTC) + timedelta(hours=1)))}"),
        401,
        None,
    ),
    ("token without sub", lambda w: w.fund_with(f"Bearer {w.token(w.claims(sub=None))}"), 401, None),
    ("token without exp", lambda w: w.fund_with(f"Bearer {w.token(w.claims(exp=None))}"), 401, None),
    ("sub not an ObjectId", lambda w: w.fund_with(f"Bearer {w.token(w.claims(sub='admin'))}"), 401, None),
    ("token of a deleted user", lambda w: w.fund_with(f"Bearer {w.deleted_user_token}"), 401, None),
    (
        "token for a user that never existed",
        lambda w: w.fund_with(f"Bearer {w.token(w.claims(sub=str(ObjectId())))}"),
        401,
        None,
    ),
    (
        "signature of another token spliced in",
        lambda w: w.fund_with(f"Bearer {_spliced(w.token(w.claims(sub=str(ObjectId()))), w.fan)}"),
        401,
        None,
    ),
    ("garbage token", lambda w: w.fund_with("Bearer abc.def.ghi"), 401, None),
    ("Basic instead of Bearer", lambda w: w.fund_with("Basic dXNlcjpwYXNz"), 401, None),
    ("raw token without scheme", lambda w: w.fund_with(w.fan), 401, None),
    # --- headers ---
    (
        "Idempotency-Key over 200 characters",
        lambda w: w.fund_raw(b'{"amount": 5}', **{"Idempotency-Key": "k" * 201}),
        400,
        "header.Idempotency-Key: String should have at most 200",
    ),
]


async def snapshot(world: World) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Every document of every collection, and every file under the media directory."""
    db = world.db
    collections = sorted(await db.list_collection_names())
    assert {"users", "live_streams", "aioz_keys"} <= set(collections)  # the snapshot sees the data
    docs = {name: await db[name].find({}).sort("_id", 1).to_list(None) for name in collections}
    return docs, _files(Path(world.settings.media_dir))


def _files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


@SHARED_LOOP
@pytest.mark.parametrize(
    ("call", "status", "detail"), [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE]
)
async def test_bad_input_is_refused_and_writes_nothing(
    world: World, call: Call, status: int, detail: str | None
) -> None:
    before = await snapshot(world)
    body = assert_error(await call(world), status, generic_message(status))
    if detail is None:  # authentication failures never say why (no oracle for token forgers)
        assert body["errors"] == [generic_message(status)]
    else:
        assert detail in body["errors"][1], body["errors"]
    assert await snapshot(world) == before


def test_the_body_limit_must_leave_room_for_a_thumbnail() -> None:
    with pytest.raises(ValueError, match="MAX_REQUEST_BYTES must be larger than MAX_THUMBNAIL_BYTES"):
        make_settings(max_request_bytes=1024, max_thumbnail_bytes=1024)


def test_catalogue_covers_at_least_twenty_classes() -> None:
    assert len({name for name, *_ in CATALOGUE}) == len(CATALOGUE) >= 20


@SHARED_LOOP
async def test_unicode_and_emoji_titles_are_fine(world: World) -> None:
    """The flip side of the length rules: any script, emoji included, up to AIOZ's 255 UTF-8 bytes."""
    for title in ("🎸🔥 Akşam jam — 夜のライブ", "é" * 127, "👩‍👩‍👧‍👦" * 10):
        response = await world.create(title=title)
        assert response.status_code == 201, response.text
        data = response.json()["data"]
        assert data["title"] == title
        stored = await world.db["live_streams"].find_one({"_id": ObjectId(data["id"])})
        assert stored["title"] == title and stored["channelName"].isascii()


@SHARED_LOOP
@pytest.mark.parametrize("bound", ["from", "to"])
@pytest.mark.parametrize("when", ["0001-01-01T00:03:00+01:01", "9999-12-31T23:59:00-05:00"])
async def test_dates_at_the_ends_of_the_calendar_are_valid_filters(
    world: World, bound: str, when: str
) -> None:
    """Found by fuzzing: converting these to UTC leaves the calendar; they used to answer 500."""
    url, headers = "/api/v1/users/me/transactions", auth(world.fan)
    response = await world.client.get(url, params={bound: when}, headers=headers)
    assert response.status_code == 200, response.text
    everything = (await world.client.get(url, headers=headers)).json()["data"]["list"]
    # From the first day, or up to the last one, is everything; the other way round, nothing.
    whole_calendar = (bound == "from") == when.startswith("0001")
    assert response.json()["data"]["list"] == (everything if whole_calendar else [])


@SHARED_LOOP
async def test_limits_are_in_the_openapi_document(world: World) -> None:
    document = (await world.client.get("/openapi.json")).json()
    fund = document["paths"]["/api/v1/live-stream/{id}/fund"]["post"]["responses"]
    assert fund["413"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
    assert "413" not in document["paths"]["/api/v1/live-stream/funded"]["get"]["responses"]


@SHARED_LOOP
async def test_a_body_just_under_the_limit_is_read(world: World) -> None:
    """The limit refuses only what is over it: a large but allowed body reaches validation."""
    padding = b" " * (MAX_REQUEST - 20)
    response = await world.fund_raw(b'{"amount": 1}' + padding)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["collectedFunding"] == 1
