"""Replay fixtures: an ended stream with a recording, replay switched on at a price."""

from typing import Any

import pytest
from bson import ObjectId

from tests.helpers import auth
from tests.streams import API, ended_stream, set_fields

RECORDING = "https://cdn.example.com/stream/archive.mp4"


async def make_rentable(client: Any, db: Any, token: str, price: int = 50, **fields: Any) -> dict[str, Any]:
    stream = await ended_stream(client, token, **fields)
    await set_fields(db, stream["id"], recordingUrl=RECORDING)
    response = await client.patch(
        f"{API}/{stream['id']}/replay-settings",
        json={"isActiveReplayOnCreatorProfile": True, "replayCreditPrice": price},
        headers=auth(token),
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def credits_of(db: Any, user: dict[str, Any]) -> int:
    return (await db["users"].find_one({"_id": ObjectId(user["_id"])}))["credits"]


@pytest.fixture
async def solo(client, db, make_user):
    """(creator, creator token, rentable solo stream at 50 credits)."""
    creator, token = await make_user()
    return creator, token, await make_rentable(client, db, token)
