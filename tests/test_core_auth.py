"""Bearer JWT authentication: every failure mode is a 401 envelope, on required and optional endpoints."""

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from bson import ObjectId
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.core import security
from app.core.config import DEFAULT_JWT_SECRET
from app.core.errors import NotAuthenticated
from app.core.security import create_access_token
from app.main import create_app
from tests.conftest import make_settings
from tests.helpers import assert_error, auth

ENDPOINT = "/api/v1/users/me/transactions"
OPTIONAL_ENDPOINT = "/api/v1/live-stream/most-watched-creators"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """Build a token byte by byte, for shapes PyJWT refuses to produce (alg none, HS256 with a PEM)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if key is None:
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def claims_for(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + 3600}
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def hs256(claims: dict[str, Any], secret: str = DEFAULT_JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


async def test_valid_token_is_accepted(client, make_user):
    _, token = await make_user()
    response = await client.get(ENDPOINT, headers=auth(token))
    assert response.status_code == 200, response.text


class TestAuthFailures:
    """Every bad token is a 401 on a required endpoint and on an optional-auth one alike."""

    @pytest.fixture(params=[ENDPOINT, OPTIONAL_ENDPOINT], ids=["required", "optional"])
    def endpoint(self, request):
        return request.param

    async def test_no_header(self, client, endpoint):
        response = await client.get(endpoint)
        if endpoint == OPTIONAL_ENDPOINT:
            assert response.status_code == 200 and response.json()["isSuccess"] is True
        else:
            assert_error(response, 401, "Authentication required")

    @pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "Bearer ", "eyJhbGci"])
    async def test_header_not_bearer_token(self, endpoint, client, make_user, value):
        await make_user()
        response = await client.get(endpoint, headers={"Authorization": value})
        assert_error(response, 401, "Authentication required")

    @pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "ä.ö.ü"])
    async def test_malformed_token(self, endpoint, client, token):
        response = await client.get(endpoint, headers={"Authorization": f"Bearer {token}".encode()})
        assert_error(response, 401, "Authentication required")

    async def test_expired_token(self, endpoint, client, make_user):
        user, _ = await make_user()
        past = int((datetime.now(UTC) - timedelta(minutes=5)).timestamp())
        token = hs256(claims_for(user["_id"], iat=past - 3600, exp=past))
        assert_error(await client.get(endpoint, headers=auth(token)), 401, "Authentication required")

    async def test_wrong_signature(self, endpoint, client, make_user):
        user, _ = await make_user()
        token = hs256(claims_for(user["_id"]), secret="another-secret-of-the-same-rough-length!")
        assert_error(await client.get(endpoint, headers=auth(token)), 401, "Authentication required")

    async def test_tampered_payload(self, endpoint, client, make_user):
        _, token = await make_user()
        other, _ = await make_user()
        header, _, signature = token.split(".")
        forged = f"{header}.{_b64(json.dumps(claims_for(other['_id'])).encode())}.{signature}"
        assert_error(await client.get(endpoint, headers=auth(forged)), 401, "Authentication required")

    @pytest.mark.parametrize("alg", ["none", "None", "NONE"])
    async def test_alg_none(self, endpoint, client, make_user, alg):
        user, _ = await make_user()
        token = hand_signed({"alg": alg, "typ": "JWT"}, claims_for(user["_id"]), None)
        assert_error(await client.get(endpoint, headers=auth(token)), 401, "Authentication required")

    @pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
    async def test_other_algorithm_same_secret(self, endpoint, client, make_user):
        user, _ = await make_user()
        token = hs256(claims_for(user["_id"]), algorithm="HS512")
        assert_error(await client.get(endpoint, headers=auth(token)), 401, "Authentication required")

    async def test_missing_sub(self, endpoint, client):
        token = hs256(claims_for("ignored", sub=None))
        assert_error(await client.get(endpoint, headers=auth(token)), 401, "Authentication required")

    async def test_missing_exp(self, endpoint, client, make_user):
        user, _ = await make_user()
        token = hs256(claims_for(user["_id"], exp=None))
        assert_error(await client.get(endpoint, headers=auth(token)), 401, "Authentication required")

    @pytest.mark.parametrize("sub", ["alice", "64d15f9e2e6c8f4d5a12345", 12345])
    async def test_sub_not_an_object_id(self, endpoint, client, sub):
        token = hs256(claims_for("ignored", sub=sub))
        assert_error(await client.get(endpoint, headers=auth(token)), 401, "Authentication required")

    async def test_unknown_user(self, endpoint, client, settings):
        token = create_access_token(settings, ObjectId())
        assert_error(await client.get(endpoint, headers=auth(token)), 401, "Authentication required")

    async def test_soft_deleted_user(self, endpoint, client, db, make_user):
        user, token = await make_user()
        assert (await client.get(endpoint, headers=auth(token))).status_code == 200
        await db.users.update_one({"_id": ObjectId(user["_id"])}, {"$set": {"deletedAt": datetime.now(UTC)}})
        assert_error(await client.get(endpoint, headers=auth(token)), 401, "Authentication required")


class TestIssuerAndAudience:
    @pytest.fixture
    def settings(self, tmp_path):
        return make_settings(jwt_issuer="https://id.allmine.test", jwt_audience="allmine-live")

    async def test_minted_token_carries_and_passes_both(self, client, make_user):
        _, token = await make_user()
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["iss"] == "https://id.allmine.test" and claims["aud"] == "allmine-live"
        assert (await client.get(ENDPOINT, headers=auth(token))).status_code == 200

    @pytest.mark.parametrize(
        "overrides",
        [
            {"iss": "https://evil.test", "aud": "allmine-live"},
            {"iss": "https://id.allmine.test", "aud": "another-api"},
            {"aud": "allmine-live"},
            {"iss": "https://id.allmine.test"},
        ],
    )
    async def test_wrong_or_missing_issuer_or_audience(self, client, make_user, overrides):
        user, _ = await make_user()
        token = hs256(claims_for(user["_id"], **overrides))
        assert_error(await client.get(ENDPOINT, headers=auth(token)), 401, "Authentication required")


def _rsa_pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    return _rsa_pem_pair()


class TestRS256:
    @pytest.fixture
    async def client(self, rsa_keys) -> AsyncIterator[httpx.AsyncClient]:
        private, public = rsa_keys
        application = create_app(
            make_settings(jwt_algorithm="RS256", jwt_public_key=public, jwt_private_key=private)
        )
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield http

    async def test_rs256_token_works(self, client, make_user):
        _, token = await make_user()
        assert jwt.get_unverified_header(token)["alg"] == "RS256"
        assert (await client.get(ENDPOINT, headers=auth(token))).status_code == 200

    async def test_hs256_signed_with_the_public_key_is_rejected(self, client, make_user, rsa_keys):
        user, _ = await make_user()
        _, public = rsa_keys
        forged = hand_signed({"alg": "HS256", "typ": "JWT"}, claims_for(user["_id"]), public.encode())
        assert_error(await client.get(ENDPOINT, headers=auth(forged)), 401, "Authentication required")

    async def test_token_of_another_key_pair_is_rejected(self, client, make_user):
        user, _ = await make_user()
        other_private, _ = _rsa_pem_pair()
        token = jwt.encode(claims_for(user["_id"]), other_private, algorithm="RS256")
        assert_error(await client.get(ENDPOINT, headers=auth(token)), 401, "Authentication required")

    async def test_hs256_with_the_default_secret_is_rejected(self, client, make_user):
        user, _ = await make_user()
        token = hs256(claims_for(user["_id"]))
        assert_error(await client.get(ENDPOINT, headers=auth(token)), 401, "Authentication required")


def test_rs256_without_public_key_is_refused():
    with pytest.raises(ValueError, match="JWT_PUBLIC_KEY"):
        make_settings(jwt_algorithm="RS256")


class TestVerifiedTokenMemory:
    """A token is verified once per key; expiry still counts on every request."""

    async def test_a_remembered_token_expires_on_time(self, client, make_user, monkeypatch):
        user, _ = await make_user()
        token = hs256(claims_for(user["_id"], exp=int(datetime.now(UTC).timestamp()) + 60))
        assert (await client.get(ENDPOINT, headers=auth(token))).status_code == 200
        monkeypatch.setattr(security.time, "time", lambda: datetime.now(UTC).timestamp() + 61)
        assert_error(await client.get(ENDPOINT, headers=auth(token)), 401, "Authentication required")

    async def test_the_signature_is_checked_once_per_token_and_key(self, client, make_user, monkeypatch):
        user, _ = await make_user()
        token = hs256(claims_for(user["_id"]))
        verified: list[str] = []
        decode = jwt.decode
        monkeypatch.setattr(
            jwt, "decode", lambda token, *a, **kw: verified.append(token) or decode(token, *a, **kw)
        )
        for _ in range(3):
            assert (await client.get(ENDPOINT, headers=auth(token))).status_code == 200
        assert verified == [token]
        settings = make_settings(jwt_secret="another-secret-of-enough-length-0123456789")
        assert security.decode_subject(
            settings, hs256(claims_for(user["_id"]), settings.jwt_secret.get_secret_value())
        )
        with pytest.raises(NotAuthenticated):  # the same token under another key is verified again, and fails
            security.decode_subject(settings, token)
        assert verified[-1] == token and len(verified) == 3
