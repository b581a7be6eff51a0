"""Assertion and request helpers shared by the tests."""

from typing import Any

import httpx


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, first_message: str) -> dict[str, Any]:
    """The documented error envelope: data null, errors[0] the generic text, ms-precision Z time."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["isSuccess"] is False
    assert body["statusCode"] == status
    assert body["data"] is None
    assert body["errors"][0] == first_message
    assert body["timestamp"].endswith("Z") and len(body["timestamp"]) == 24
    return body
