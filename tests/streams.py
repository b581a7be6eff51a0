"""Put streams into the states the feed, reminder and replay tests need, through the HTTP API."""

from typing import Any

import httpx
from bson import ObjectId

from tests.helpers import auth, create_stream

API = "/api/v1/live-stream"


async def started_stream(client: httpx.AsyncClient, token: str, **fields: Any) -> dict[str, Any]:
    stream = await create_stream(client, token, **fields)
    response = await client.post(f"{API}/{stream['id']}/start", headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def ended_stream(client: httpx.AsyncClient, token: str, **fields: Any) -> dict[str, Any]:
    stream = await started_stream(client, token, **fields)
    response = await client.post(f"{API}/{stream['id']}/end", headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def join_as_audience(client: httpx.AsyncClient, token: str, stream_id: str) -> None:
    response = await client.post(f"{API}/join", json={"liveStreamId": stream_id}, headers=auth(token))
    assert response.status_code == 200, response.text


async def join_as_guest(client: httpx.AsyncClient, token: str, stream_id: str) -> None:
    response = await client.post(
        f"{API}/join-as-guest", json={"liveStreamId": stream_id}, headers=auth(token)
    )
    assert response.status_code == 200, response.text


async def set_fields(db: Any, stream_id: str, **fields: Any) -> None:
    """Stand-in for what the API cannot do quickly (e.g. the recording AIOZ produces later)."""
    await db["live_streams"].update_one({"_id": ObjectId(stream_id)}, {"$set": fields})


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]
