"""For You: live, scheduled and crowdfunding sections matched on the caller's interests."""

from datetime import timedelta

import pytest

from app.core.timeutils import iso_ms, utcnow
from tests.helpers import assert_error, auth, create_stream
from tests.streams import API, ids, set_fields, started_stream


async def scheduled(client, token, hours, **fields):
    return await create_stream(
        client, token, plannedStartDate=iso_ms(utcnow() + timedelta(hours=hours)), **fields
    )


async def test_live_section_matches_interests_newest_start_first(client, make_user, db):
    _, me = await make_user(interests=["music", "art", "music"])
    creators = [await make_user() for _ in range(4)]
    music = await started_stream(client, creators[0][1], interest="music")
    art = await started_stream(client, creators[1][1], interest="art")
    await started_stream(client, creators[2][1], interest="cooking")
    await scheduled(client, creators[3][1], 1, interest="music")  # not live
    now = utcnow()
    await set_fields(db, music["id"], startedAt=now - timedelta(minutes=5))
    await set_fields(db, art["id"], startedAt=now - timedelta(minutes=1))

    response = await client.get(f"{API}/for-you/live", headers=auth(me))
    assert response.status_code == 200
    data = response.json()["data"]
    assert ids(data["list"]) == [art["id"], music["id"]]
    assert {item["role"] for item in data["list"]} == {None}
    assert data["pagination"]["totalItems"] == 2


async def test_scheduled_and_crowdfunding_sections_soonest_first(client, make_user):
    _, me = await make_user(interests=["music"])
    _, creator_token = await make_user(interests=["music"])
    later = await scheduled(client, creator_token, 5, interest="music")
    funded_later = await scheduled(client, creator_token, 4, interest="music", fundingGoal=500)
    funded_soon = await scheduled(client, creator_token, 2, interest="music", fundingGoal=100)
    await scheduled(client, creator_token, 1, interest="cooking", fundingGoal=100)
    deleted = await scheduled(client, creator_token, 1, interest="music")
    assert (await client.delete(f"{API}/{deleted['id']}", headers=auth(creator_token))).status_code == 200
    await create_stream(client, creator_token, interest="music")  # preparing: in neither section

    sched = (await client.get(f"{API}/for-you/scheduled", headers=auth(me))).json()["data"]
    assert ids(sched["list"]) == [funded_soon["id"], funded_later["id"], later["id"]]
    crowd = (await client.get(f"{API}/for-you/crowdfunding", headers=auth(me))).json()["data"]
    assert ids(crowd["list"]) == [funded_soon["id"], funded_later["id"]]
    own = (await client.get(f"{API}/for-you/scheduled", headers=auth(creator_token))).json()["data"]
    assert {item["role"] for item in own["list"]} == {"host"}  # role is computed for the caller


@pytest.mark.parametrize("section", ["live", "scheduled", "crowdfunding"])
async def test_empty_interests_give_an_empty_page(client, make_user, section):
    _, creator = await make_user()
    await scheduled(client, creator, 1, interest="music", fundingGoal=10)
    _, me = await make_user()
    response = await client.get(f"{API}/for-you/{section}", headers=auth(me))
    assert response.status_code == 200
    assert response.json()["data"] == {
        "list": [],
        "pagination": {
            "currentPage": 1,
            "totalPages": 0,
            "totalItems": 0,
            "itemsPerPage": 10,
            "hasNextPage": False,
            "hasPrevPage": False,
        },
    }
    assert_error(await client.get(f"{API}/for-you/{section}"), 401, "Authentication required")


@pytest.mark.parametrize(
    "query, page, limit",
    [
        ("", 1, 10),
        ("page=0&limit=0", 1, 10),
        ("page=-3&limit=-7", 1, 10),
        ("page=2&limit=1", 2, 1),
        ("limit=100", 1, 100),
        ("limit=101", 1, 100),
        ("page=1&limit=100000", 1, 100),
    ],
)
async def test_clamping_table(client, make_user, query, page, limit):
    _, creator = await make_user()
    first = await scheduled(client, creator, 1, interest="music")
    second = await scheduled(client, creator, 2, interest="music")
    _, me = await make_user(interests=["music"])
    response = await client.get(f"{API}/for-you/scheduled?{query}", headers=auth(me))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["pagination"]["currentPage"] == page and data["pagination"]["itemsPerPage"] == limit
    assert data["pagination"]["totalItems"] == 2
    expected = [first["id"], second["id"]][(page - 1) * limit : page * limit]
    assert ids(data["list"]) == expected


async def test_non_numeric_paging_is_still_a_400(client, make_user):
    _, me = await make_user(interests=["music"])
    response = await client.get(f"{API}/for-you/live?page=first", headers=auth(me))
    assert_error(response, 400, "Validation failed")
