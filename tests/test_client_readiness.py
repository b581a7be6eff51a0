"""What web and mobile clients branch on (issue 24): the error envelope's `code`, RFC 6750 challenges,
CORS answers (the browser itself is in tests/browser/), both `guests` forms and Allmine's `9.99` price."""

import json

import httpx
import jwt
import pytest
from bson import ObjectId

from app.core.config import Settings
from app.core.cors import ALLOWED_HEADERS
from app.core.errors import ErrorCode
from app.core.origins import CorsPolicy
from app.core.security import create_access_token
from app.main import create_app
from tests.conftest import make_settings
from tests.helpers import assert_error, auth
from tests.streams import API, started_stream

PREFLIGHT = {
    "Origin": "http://localhost:5173",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, x-request-id",
}


# --- error codes ---------------------------------------------------------------------------------------


async def test_401_tells_a_missing_token_from_an_invalid_or_expired_one(client, make_user, settings):
    user, _ = await make_user()
    missing = assert_error(await client.get("/api/v1/users/me/transactions"), 401, "Authentication required")
    assert missing["code"] == "TOKEN_MISSING"

    invalid = await client.get("/api/v1/users/me/transactions", headers=auth("not.a.jwt"))
    assert assert_error(invalid, 401, "Authentication required")["code"] == "TOKEN_INVALID"
    assert invalid.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token", error_description="')

    claims = jwt.decode(
        create_access_token(settings, ObjectId(user["_id"])), options={"verify_signature": False}
    )
    claims["exp"] = claims["iat"] - 10
    expired_token = jwt.encode(
        claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm
    )
    expired = await client.get("/api/v1/users/me/transactions", headers=auth(expired_token))
    assert assert_error(expired, 401, "Authentication required")["code"] == "TOKEN_EXPIRED"
    assert 'error_description="the access token expired"' in expired.headers["WWW-Authenticate"]

    # RFC 6750 §3.1: no error attribute when the request carried no credentials.
    assert (await client.get("/api/v1/users/me/transactions")).headers["WWW-Authenticate"] == "Bearer"
    # A token for a user that does not exist is invalid, not missing.
    ghost = create_access_token(settings, ObjectId())
    unknown = await client.get("/api/v1/users/me/transactions", headers=auth(ghost))
    assert unknown.json()["code"] == "TOKEN_INVALID"


async def test_domain_errors_carry_their_codes_and_keep_their_texts(client, make_user):
    _, host = await make_user()
    _, poor = await make_user(credits=5)
    live = await started_stream(client, host)
    not_open = await client.post(f"{API}/{live['id']}/fund", json={"amount": 10}, headers=auth(poor))
    body = assert_error(not_open, 409, "Resource already exists or cannot be changed in its current state")
    assert body["code"] == "STREAM_NOT_OPEN_FOR_FUNDING"
    assert body["errors"][1] == "this stream is not open for funding"

    superlike = await client.post(f"{API}/{live['id']}/chat/superlike", headers=auth(poor))
    body = assert_error(superlike, 400, "Validation failed")
    assert body["code"] == "INSUFFICIENT_CREDITS" and body["errors"][1] == "Insufficient credits"

    chat = f"{API}/{live['id']}/chat/messages"
    # Five messages per fixed 10 s window: a window boundary may fall among the first six on a slow
    # host, so send until refused (at most two windows' worth + 1).
    for n in range(11):
        answer = await client.post(chat, json={"content": f"m{n}"}, headers=auth(poor))
        if answer.status_code != 201:
            break
    limited = assert_error(answer, 429, "Too many requests")
    assert limited["code"] == "RATE_LIMITED" and int(answer.headers["Retry-After"]) >= 1

    unknown = await client.get(f"{API}/{ObjectId()}", headers=auth(poor))
    assert assert_error(unknown, 404, "Resource not found")["code"] == "NOT_FOUND"
    bad = await client.get(f"{API}/not-an-id", headers=auth(poor))
    assert assert_error(bad, 400, "Validation failed")["code"] == "VALIDATION_FAILED"
    no_route = await client.get("/api/v1/nothing-here")
    assert assert_error(no_route, 404, "Resource not found")["code"] == "NOT_FOUND"


async def test_success_answers_keep_the_five_envelope_fields(client, make_user):
    _, token = await make_user()
    body = (await client.get("/api/v1/users/me/transactions", headers=auth(token))).json()
    assert list(body) == ["isSuccess", "statusCode", "data", "errors", "timestamp"]


async def test_json_sent_to_create_says_multipart_is_expected(client, make_user, db):
    _, token = await make_user()
    answer = await client.post(f"{API}/create", json={"title": "x"}, headers=auth(token))
    body = assert_error(answer, 415, "Unsupported media type")
    assert body["errors"][1] == "multipart/form-data expected" and body["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert await db["live_streams"].count_documents({}) == 0


def test_every_status_the_app_answers_has_a_default_code():
    from app.core.errors import GENERIC_MESSAGES, status_code_of

    for status in GENERIC_MESSAGES:
        assert status_code_of(status) in ErrorCode


# --- CORS ----------------------------------------------------------------------------------------------


async def test_preflight_from_a_local_dev_server_is_allowed_in_development(client):
    answer = await client.options(f"{API}/join", headers=PREFLIGHT)
    assert answer.status_code == 204 and answer.content == b""
    assert answer.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert {"POST", "PATCH", "DELETE"} <= set(answer.headers["Access-Control-Allow-Methods"].split(", "))
    allowed = {header.lower() for header in answer.headers["Access-Control-Allow-Headers"].split(", ")}
    assert {header.lower() for header in ALLOWED_HEADERS} <= allowed
    simple = await client.get(f"{API}/featured", headers={"Origin": "http://127.0.0.1:3000"})
    assert simple.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:3000"
    exposed = simple.headers["Access-Control-Expose-Headers"]
    assert "Retry-After" in exposed and "X-Request-ID" in exposed


async def test_answers_vary_on_origin_and_only_allowed_origins_get_cors_headers(client):
    plain = await client.get(f"{API}/featured")  # a mobile app: no Origin
    assert plain.headers["Vary"] == "Origin" and "Access-Control-Allow-Origin" not in plain.headers
    allowed = await client.get(f"{API}/featured", headers={"Origin": "http://[::1]:4200"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://[::1]:4200"
    assert allowed.headers["Vary"] == "Origin"


async def test_any_origin_with_a_star(tmp_path):
    app = create_app(make_settings(cors_allow_origins="*", media_dir=str(tmp_path)))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api") as http,
    ):
        answer = await http.get(f"{API}/featured", headers={"Origin": "https://anywhere.example"})
        assert answer.status_code == 200
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        preflight = await http.options(
            f"{API}/join", headers={**PREFLIGHT, "Origin": "https://anywhere.example"}
        )
        assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == "*"


async def test_socketio_answers_its_own_cors_once(client):
    """Engine.IO sets its CORS headers itself (same policy); the REST middleware must not add a second
    `Access-Control-Allow-Origin`, which browsers refuse."""
    handshake = await client.get(
        "/socket.io/?EIO=4&transport=polling", headers={"Origin": "http://localhost:5173"}
    )
    assert handshake.status_code == 200
    assert handshake.headers.get_list("Access-Control-Allow-Origin") == ["http://localhost:5173"]


async def test_a_refused_preflight_answers_the_envelope(client):
    answer = await client.options(f"{API}/join", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    body = assert_error(answer, 400, "Validation failed")
    assert body["errors"][1] == "CORS preflight refused: origin not allowed"
    assert "Access-Control-Allow-Origin" not in answer.headers
    other = await client.get(f"{API}/featured", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize(
    ("raw", "production", "allowed", "refused"),
    [
        (
            None,
            False,
            ["http://localhost:5173", "http://127.0.0.1:8080", "http://[::1]:3000"],
            ["https://x.io"],
        ),
        (None, True, [], ["http://localhost:5173"]),
        (
            "https://app.example.com, https://admin.example.com",
            True,
            ["https://admin.example.com"],
            ["http://localhost:5173"],
        ),
        ('["https://app.example.com"]', False, ["https://app.example.com"], ["http://localhost:5173"]),
        ("*", True, ["https://anything.example"], []),
        ("", False, [], ["http://localhost:5173"]),
    ],
)
def test_cors_policy_from_the_setting(raw, production, allowed, refused):
    policy = CorsPolicy.from_setting(raw, production=production)
    assert all(policy.allows(origin) for origin in allowed)
    assert not any(policy.allows(origin) for origin in refused)
    assert policy.enabled == bool(allowed)


@pytest.mark.parametrize("raw", ["https://app.example.com/path", "app.example.com", '["https://a.io", 3]'])
def test_a_malformed_origin_list_is_refused_at_start(raw):
    with pytest.raises(ValueError, match="CORS_ALLOW_ORIGINS"):
        Settings(_env_file=None, cors_allow_origins=raw)


async def test_production_without_a_list_answers_no_cors_and_sockets_refuse_other_origins(tmp_path):
    app = create_app(make_settings(cors_allow_origins="", media_dir=str(tmp_path)))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api") as http,
    ):
        preflight = await http.options(f"{API}/join", headers=PREFLIGHT)
        assert preflight.status_code == 405 and "Access-Control-Allow-Origin" not in preflight.headers
        handshake = "/socket.io/?EIO=4&transport=polling"
        refused = await http.get(handshake, headers={"Origin": "http://localhost:5173"})
        assert refused.status_code == 400
        same_origin = await http.get(handshake, headers={"Origin": "http://api"})
        assert same_origin.status_code == 200 and same_origin.text.startswith("0{")
        no_origin = await http.get(handshake)  # a mobile app or a server: no Origin, not concerned
        assert no_origin.status_code == 200


# --- guests and price ----------------------------------------------------------------------------------


async def create(client, token, fields):
    return await client.post(f"{API}/create", data=fields, files={"unused": ("", b"")}, headers=auth(token))


@pytest.mark.parametrize(
    "encode",
    [
        lambda ids: {"guests": ids},  # one form field per id (Swagger UI, generated clients)
        lambda ids: {"guests": json.dumps(ids)},  # Allmine's JSON-array string
        lambda ids: {"guests": ",".join(ids)},  # several ids in one field
    ],
    ids=["repeated-fields", "json-string", "comma-separated"],
)
async def test_guests_in_either_form(client, make_user, encode):
    _, token = await make_user()
    guest, _ = await make_user()
    answer = await create(
        client, token, {"title": "Duo", "liveStreamType": "duoself", **encode([guest["_id"]])}
    )
    assert answer.status_code == 201, answer.text
    assert [g["_id"] for g in answer.json()["data"]["guests"]] == [guest["_id"]]


async def test_two_repeated_guest_fields_are_two_guests(client, make_user):
    _, token = await make_user()
    first, _ = await make_user()
    second, _ = await make_user()
    answer = await create(
        client,
        token,
        {"title": "Trio?", "liveStreamType": "duoself", "guests": [first["_id"], second["_id"]]},
    )
    body = assert_error(answer, 400, "Validation failed")
    assert body["errors"][1] == "a duoself stream takes exactly one guest"


async def test_allmines_decimal_price_is_echoed_and_charged_rounded_up(client, make_user, db):
    _, host = await make_user()
    fan, fan_token = await make_user(credits=25)
    created = await create(client, host, {"title": "Paid", "price": "9.99"})
    assert created.status_code == 201, created.text
    stream = created.json()["data"]
    assert (stream["price"], stream["accessType"]) == (9.99, "paid")
    whole = (await create(client, fan_token, {"title": "Whole", "price": "10"})).json()["data"]
    assert whole["price"] == 10 and isinstance(whole["price"], int)
    await client.post(f"{API}/{stream['id']}/start", headers=auth(host))
    joined = await client.post(f"{API}/join", json={"liveStreamId": stream["id"]}, headers=auth(fan_token))
    assert joined.status_code == 200, joined.text
    after = await db["users"].find_one({"_id": ObjectId(fan["_id"])})
    assert after["credits"] == 15  # 9.99 charges 10 whole credits
