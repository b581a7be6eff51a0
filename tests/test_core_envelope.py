"""The Allmine envelope on every answer: each error class and the success shape (docs/contract.md, "Envelope and errors")."""

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest
from bson import ObjectId
from bson.tz_util import utc as BSON_UTC
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from app.core.envelope import dumps
from app.core.errors import Conflict, Forbidden
from app.core.timeutils import iso_ms
from app.main import create_app
from tests.conftest import make_settings
from tests.helpers import assert_error, auth

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SECRET_TEXT = "db password is hunter2"


def assert_success(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"isSuccess", "statusCode", "data", "errors", "timestamp"}
    assert body["isSuccess"] is True
    assert body["statusCode"] == status
    assert body["errors"] == []
    assert TIMESTAMP.match(body["timestamp"]), body["timestamp"]
    return body


class TestSuccess:
    async def test_ok_answer(self, client):
        body = assert_success(await client.get("/health"))
        assert body["data"] == {"status": "ok"}

    async def test_create_answers_201_in_envelope(self, client):
        body = assert_success(await client.post("/api/v1/dev/users", json={"username": "alice"}), 201)
        assert body["data"]["user"]["username"] == "alice"


class TestRoutingErrors:
    async def test_unknown_route_404(self, client):
        body = assert_error(await client.get("/api/v1/does-not-exist"), 404, "Resource not found")
        assert TIMESTAMP.match(body["timestamp"])

    async def test_wrong_method_405(self, client):
        response = await client.put("/health")
        assert_error(response, 405, "Method not allowed")
        assert "GET" in response.headers["allow"]


class TestValidationErrors:
    async def test_body_field_invalid(self, client):
        response = await client.post("/api/v1/dev/users", json={"username": "x!"})
        body = assert_error(response, 400, "Validation failed")
        assert any(message.startswith("username:") for message in body["errors"][1:]), body["errors"]

    async def test_body_field_missing(self, client):
        body = assert_error(await client.post("/api/v1/dev/users", json={}), 400, "Validation failed")
        assert any("username" in message for message in body["errors"][1:]), body["errors"]

    async def test_malformed_json(self, client):
        response = await client.post(
            "/api/v1/dev/users", content=b'{"username": ', headers={"content-type": "application/json"}
        )
        assert_error(response, 400, "Validation failed")

    async def test_malformed_object_id_in_path(self, client, make_user):
        _, token = await make_user()
        response = await client.get("/api/v1/users/not-an-id/stats", headers=auth(token))
        body = assert_error(response, 400, "Validation failed")
        assert any(message.startswith("path.userId:") for message in body["errors"][1:]), body["errors"]

    async def test_malformed_object_id_in_body(self, client):
        response = await client.post("/api/v1/dev/token", json={"userId": "64d15f9e2e6c8f4d5a12345"})
        assert_error(response, 400, "Validation failed")

    async def test_query_out_of_range(self, client, make_user):
        _, token = await make_user()
        response = await client.get("/api/v1/users/me/transactions?limit=0", headers=auth(token))
        assert_error(response, 400, "Validation failed")


class TestAuthAndStateErrors:
    async def test_missing_token_401(self, client):
        assert_error(await client.get("/api/v1/users/me/transactions"), 401, "Authentication required")

    async def test_duplicate_409(self, client, make_user):
        await make_user("bob")
        response = await client.post("/api/v1/dev/users", json={"username": "bob"})
        assert_error(response, 409, "Resource already exists or cannot be changed in its current state")


@pytest.fixture
async def raising_client() -> AsyncIterator[httpx.AsyncClient]:
    """An app with throwaway routes that raise; built here so the real app never carries them."""
    application: FastAPI = create_app(make_settings())

    @application.get("/test-only/crash")
    async def crash() -> None:
        raise RuntimeError(SECRET_TEXT)

    @application.get("/test-only/forbidden")
    async def forbidden() -> None:
        raise Forbidden("only the creator may do this")

    @application.get("/test-only/conflict")
    async def conflict() -> None:
        raise Conflict()

    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


class TestServerAndAppErrors:
    async def test_unexpected_exception_500_leaks_nothing(self, raising_client):
        response = await raising_client.get("/test-only/crash")
        body = assert_error(response, 500, "Internal server error")
        assert body["errors"] == ["Internal server error"]
        assert SECRET_TEXT not in response.text
        assert "Traceback" not in response.text and "RuntimeError" not in response.text

    async def test_forbidden_403_generic_text_then_detail(self, raising_client):
        body = assert_error(await raising_client.get("/test-only/forbidden"), 403, "Insufficient permissions")
        assert body["errors"] == ["Insufficient permissions", "only the creator may do this"]

    async def test_conflict_without_detail_has_one_message(self, raising_client):
        body = assert_error(
            await raising_client.get("/test-only/conflict"),
            409,
            "Resource already exists or cannot be changed in its current state",
        )
        assert len(body["errors"]) == 1

    async def test_500_is_logged_and_answered_with_the_request_id(self, raising_client, caplog):
        request_id = "0f5b3a4e9c6d4b1fa2e37c8d9b0a1f2e"
        response = await raising_client.get("/test-only/crash", headers={"X-Request-ID": request_id})
        assert_error(response, 500, "Internal server error")
        assert response.headers.get("x-request-id") == request_id
        logged = [
            r.msg
            for r in caplog.records
            if isinstance(r.msg, dict) and r.msg.get("event") == "unhandled_error"
        ]
        assert logged and logged[0]["request_id"] == request_id
        assert logged[0]["path"] == "/test-only/crash"


class TestTimeAndIdEncoding:
    """`iso_ms` and the envelope's encoder: the fast paths (UTC fields, exact types) write what the general
    path writes (`astimezone` + `strftime`), for every zone and year."""

    @staticmethod
    def reference(value: datetime) -> str:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"

    @given(
        st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
        st.sampled_from(
            [None, UTC, BSON_UTC, timezone(timedelta(hours=5)), timezone(-timedelta(hours=9, minutes=30))]
        ),
    )
    def test_iso_ms_writes_what_strftime_writes(self, naive: datetime, zone: Any) -> None:
        value = naive.replace(tzinfo=zone)
        assert iso_ms(value) == self.reference(value)

    @settings(deadline=None)  # up to 160 values encoded twice: no per-example deadline on a busy machine
    @given(
        st.lists(
            st.tuples(
                st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
                st.sampled_from(
                    [None, UTC, BSON_UTC, timezone(timedelta(hours=5)), timezone(-timedelta(hours=2))]
                ),
            ),
            max_size=20,
        )
    )
    def test_remembered_time_text_is_each_values_own(self, values: list[tuple[datetime, Any]]) -> None:
        # The encoder remembers stored times' text: equal instants in other zones, naive fields equal
        # to an aware value's, or the same value twice must still each get their own exact text.
        stamps = [naive.replace(tzinfo=zone) for naive, zone in values]
        stamps += [stamp.astimezone(UTC) for stamp in stamps if stamp.tzinfo is not None]
        stamps += [stamp.replace(tzinfo=None) for stamp in stamps]
        for _ in range(2):
            assert orjson.loads(dumps(stamps)) == [self.reference(stamp) for stamp in stamps]

    def test_years_below_1000_keep_strftimes_text(self) -> None:
        value = datetime(987, 6, 5, 4, 3, 2, 1999, tzinfo=BSON_UTC)
        assert iso_ms(value) == self.reference(value) == f"{value:%Y}-06-05T04:03:02.001Z"

    def test_encoder_handles_subclasses_and_models_as_before(self) -> None:
        class Stamp(datetime):
            pass

        class Model(BaseModel):
            at: datetime

        oid = ObjectId()
        value = {
            "id": oid,
            "at": Stamp(2026, 1, 2, tzinfo=UTC),
            "m": Model(at=datetime(2026, 1, 2, tzinfo=UTC)),
        }
        assert orjson.loads(dumps(value)) == {
            "id": str(oid),
            "at": "2026-01-02T00:00:00.000Z",
            "m": {"at": "2026-01-02T00:00:00Z"},
        }
