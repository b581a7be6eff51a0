"""Input hygiene found by probing the documented API (issue 15): titles, guests JSON, uploads, JWTs."""

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from PIL import Image

from tests.helpers import assert_error, auth, create_stream, iso_in


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


async def post_create(client, token, files=None, **form):
    data = {"title": "Evening jam", **form}
    return await client.post(
        "/api/v1/live-stream/create", data=data, files=files or {"_": (None, "")}, headers=auth(token)
    )


@pytest.mark.parametrize(
    ("title", "reason"),
    [
        ("ş" * 128, "at most 255 bytes"),
        ("🎸" * 64, "at most 255 bytes"),
        ("bad\x00title", "control characters"),
        ("\u202eevil", "direction overrides"),
        ("mojibake \ufffd", "invalid text"),
    ],
)
async def test_titles_aioz_would_refuse_or_that_hide_text_are_400(client, make_user, title, reason):
    _, token = await make_user()
    body = assert_error(await post_create(client, token, title=title), 400, "Validation failed")
    assert reason in body["errors"][1]


async def test_title_within_255_bytes_is_accepted(client, make_user):
    _, token = await make_user()
    assert (await create_stream(client, token, title="ş" * 127))["title"] == "ş" * 127


async def test_deeply_nested_guests_json_is_400_not_500(client, make_user):
    _, token = await make_user()
    response = await post_create(client, token, guests="[" * 1000 + "]" * 1000)
    body = assert_error(response, 400, "Validation failed")
    assert body["errors"][1] == "guests must be a JSON array of user ids"


@pytest.mark.parametrize(
    "form",
    [
        {"plannedStartDate": "2001-01-01T00:00:00Z"},
        {"guests": '["64d15f9e2e6c8f4d5a123456"]', "liveStreamType": "duocrowd"},
        {"guests": "[nope"},
    ],
)
async def test_a_refused_create_leaves_no_thumbnail_behind(client, make_user, settings, form):
    _, token = await make_user()
    files = {"thumbnail": ("cover.png", png(), "image/png")}
    assert_error(await post_create(client, token, files=files, **form), 400, "Validation failed")
    assert not stored_files(Path(settings.media_dir))


async def test_uploaded_media_is_served_without_sniffing(client, make_user):
    _, token = await make_user()
    stream = await create_stream(
        client, token, plannedStartDate=iso_in(hours=1), files={"thumbnail": ("c.png", png(), "image/png")}
    )
    path = "/media/" + stream["thumbnailUrl"].split("/media/", 1)[1]
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]


class TestJwtHygiene:
    def token(self, settings, user_id: str, **claims) -> str:
        payload = {"sub": user_id, **claims}
        return jwt.encode(payload, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm)

    async def test_numeric_string_exp_is_401(self, client, make_user, settings):
        user, _ = await make_user()
        exp = str(int((datetime.now(UTC) + timedelta(hours=1)).timestamp()))
        response = await client.get(
            "/api/v1/users/me/transactions", headers=auth(self.token(settings, user["_id"], exp=exp))
        )
        assert_error(response, 401, "Authentication required")

    async def test_numeric_exp_is_fine(self, client, make_user, settings):
        user, _ = await make_user()
        exp = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
        response = await client.get(
            "/api/v1/users/me/transactions", headers=auth(self.token(settings, user["_id"], exp=exp))
        )
        assert response.status_code == 200

    async def test_two_authorization_headers_are_401(self, client, make_user):
        _, token = await make_user()
        headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
        response = await client.get("/api/v1/users/me/transactions", headers=headers)
        assert_error(response, 401, "Authentication required")
