"""Bans over HTTP: create/upgrade/list/check/lift, and enforcement on join, join-as-guest and chat."""

import json

from bson import ObjectId

from app.bans.service import active_ban
from tests.helpers import assert_error, auth, create_stream, iso_in
from tests.streams import join_as_audience, started_stream

API = "/api/v1/live-stream-ban"
CONFLICT = "Resource already exists or cannot be changed in its current state"
FORBIDDEN = "Insufficient permissions"


async def create_ban(client, token, target_id, stream_id, action="BLOCK", **extra):
    body = {"targetUserId": target_id, "liveStreamId": stream_id, "actionType": action, **extra}
    return await client.post(API, json=body, headers=auth(token))


async def viewer_count(client, token, stream_id):
    response = await client.get(f"/api/v1/live-stream/{stream_id}/viewer-count", headers=auth(token))
    return response.json()["data"]["viewerCount"]


async def join(client, token, stream_id, path="join"):
    return await client.post(
        f"/api/v1/live-stream/{path}", json={"liveStreamId": stream_id}, headers=auth(token)
    )


class TestCreate:
    async def test_anonymous(self, client, make_user):
        target, _ = await make_user()
        response = await client.post(
            API, json={"targetUserId": target["_id"], "liveStreamId": str(ObjectId()), "actionType": "BLOCK"}
        )
        assert_error(response, 401, "Authentication required")

    async def test_valid(self, client, make_user, db):
        creator, host = await make_user()
        target, _ = await make_user(name="Tom")
        stream = await create_stream(client, host, plannedStartDate=iso_in(hours=2))
        response = await create_ban(
            client, host, target["_id"], stream["id"], "CHAT_ONLY", reason="  Spamming  "
        )
        assert response.status_code == 201
        ban = response.json()["data"]
        assert list(ban) == [
            "_id", "targetUserId", "targetUser", "liveStreamId", "actionType", "reason",
            "createdBy", "deletedAt", "deletedBy", "createdAt", "updatedAt",
        ]  # fmt: skip
        assert ban["targetUserId"] == target["_id"] and ban["targetUser"]["name"] == "Tom"
        assert ban["liveStreamId"] == stream["id"] and ban["actionType"] == "CHAT_ONLY"
        assert ban["reason"] == "Spamming" and ban["createdBy"] == creator["_id"]
        assert ban["deletedAt"] is None and ban["deletedBy"] is None
        found = await active_ban(db, ObjectId(stream["id"]), ObjectId(target["_id"]))
        assert found["actionType"] == "CHAT_ONLY"

    async def test_rules(self, client, make_user):
        _, host = await make_user()
        target, target_token = await make_user()
        stream = await create_stream(client, host)
        sid = stream["id"]
        assert_error(
            await create_ban(client, target_token, target["_id"], sid), 403, FORBIDDEN
        )  # not creator
        creator_id = stream["creator"]["_id"]
        body = assert_error(await create_ban(client, host, creator_id, sid), 400, "Validation failed")
        assert "creator" in body["errors"][1]
        assert_error(await create_ban(client, host, str(ObjectId()), sid), 404, "Resource not found")
        assert_error(
            await create_ban(client, host, target["_id"], str(ObjectId())), 404, "Resource not found"
        )
        assert_error(await create_ban(client, host, target["_id"], sid, "MUTE"), 400, "Validation failed")
        assert_error(await create_ban(client, host, "bad", sid), 400, "Validation failed")
        assert_error(
            await create_ban(client, host, target["_id"], sid, reason="x" * 501), 400, "Validation failed"
        )
        assert_error(await create_ban(client, host, target["_id"], sid, extra=1), 400, "Validation failed")

    async def test_one_active_ban_and_the_chat_only_to_block_upgrade(self, client, make_user):
        _, host = await make_user()
        target, _ = await make_user()
        sid = (await create_stream(client, host))["id"]
        first = (await create_ban(client, host, target["_id"], sid, "CHAT_ONLY")).json()["data"]
        assert_error(await create_ban(client, host, target["_id"], sid, "CHAT_ONLY"), 409, CONFLICT)
        upgraded = await create_ban(client, host, target["_id"], sid, "BLOCK", reason="worse")
        assert upgraded.status_code == 200
        data = upgraded.json()["data"]
        assert data["_id"] == first["_id"] and data["actionType"] == "BLOCK" and data["reason"] == "worse"
        body = assert_error(await create_ban(client, host, target["_id"], sid, "CHAT_ONLY"), 409, CONFLICT)
        assert body["errors"][1] == "this user already has an active ban on this stream"
        assert_error(await create_ban(client, host, target["_id"], sid, "BLOCK"), 409, CONFLICT)
        await client.delete(f"{API}/{first['_id']}", headers=auth(host))
        assert (
            await create_ban(client, host, target["_id"], sid, "CHAT_ONLY")
        ).status_code == 201  # after lift


class TestEnforcement:
    async def test_block_removes_a_present_viewer_and_refuses_joins_until_lifted(self, client, make_user):
        _, host = await make_user()
        viewer, token = await make_user()
        stream = await started_stream(client, host)
        await join_as_audience(client, token, stream["id"])
        assert await viewer_count(client, host, stream["id"]) == 1
        ban = (await create_ban(client, host, viewer["_id"], stream["id"], "BLOCK")).json()["data"]
        assert await viewer_count(client, host, stream["id"]) == 0
        body = assert_error(await join(client, token, stream["id"]), 403, FORBIDDEN)
        assert body["errors"][1] == "you are banned from this stream"
        assert (await client.delete(f"{API}/{ban['_id']}", headers=auth(host))).status_code == 200
        assert (await join(client, token, stream["id"])).status_code == 200
        assert await viewer_count(client, host, stream["id"]) == 1

    async def test_chat_only_may_still_join(self, client, make_user):
        _, host = await make_user()
        viewer, token = await make_user()
        stream = await started_stream(client, host)
        await create_ban(client, host, viewer["_id"], stream["id"], "CHAT_ONLY")
        assert (await join(client, token, stream["id"])).status_code == 200

    async def test_block_refuses_join_as_guest(self, client, make_user):
        _, host = await make_user()
        guest, guest_token = await make_user()
        stream = await started_stream(
            client, host, liveStreamType="duoself", guests=json.dumps([guest["_id"]])
        )
        assert (await join(client, guest_token, stream["id"], "join-as-guest")).status_code == 200
        await create_ban(client, host, guest["_id"], stream["id"], "BLOCK")
        assert_error(await join(client, guest_token, stream["id"], "join-as-guest"), 403, FORBIDDEN)

    async def test_blocked_viewer_of_a_paid_stream_is_not_charged(self, client, make_user):
        _, host = await make_user()
        viewer, token = await make_user(credits=100)
        stream = await started_stream(client, host, price=10)
        await create_ban(client, host, viewer["_id"], stream["id"], "BLOCK")
        assert_error(await join(client, token, stream["id"]), 403, FORBIDDEN)
        me = await client.get("/api/v1/users/me/transactions", headers=auth(token))
        assert me.json()["data"]["list"] == []


class TestListCheckLift:
    async def test_list_filters_and_pagination(self, client, make_user):
        _, host = await make_user()
        alice, _ = await make_user("alice_b")
        bob, _ = await make_user("bob_b")
        _, other_host = await make_user()
        s1 = (await create_stream(client, host))["id"]
        s2 = (await create_stream(client, host, plannedStartDate=iso_in(hours=1)))["id"]
        other = (await create_stream(client, other_host))["id"]
        await create_ban(client, host, alice["_id"], s1, "BLOCK")
        await create_ban(client, host, bob["_id"], s1, "CHAT_ONLY")
        lifted = (await create_ban(client, host, alice["_id"], s2, "CHAT_ONLY")).json()["data"]
        await client.delete(f"{API}/{lifted['_id']}", headers=auth(host))
        await create_ban(client, host, bob["_id"], s2, "BLOCK")
        await create_ban(client, other_host, alice["_id"], other, "BLOCK")  # someone else's stream

        async def listed(token=host, **params):
            response = await client.get(API, params=params, headers=auth(token))
            assert response.status_code == 200, response.text
            return response.json()["data"]

        everything = await listed()
        assert [(b["targetUser"]["username"], b["liveStreamId"]) for b in everything["list"]] == [
            ("bob_b", s2), ("bob_b", s1), ("alice_b", s1),
        ]  # fmt: skip
        assert everything["pagination"] == {
            "currentPage": 1, "totalPages": 1, "totalItems": 3, "itemsPerPage": 10,
            "hasNextPage": False, "hasPrevPage": False,
        }  # fmt: skip
        page = await listed(limit=2, page=2)
        assert len(page["list"]) == 1 and page["pagination"]["hasPrevPage"] is True
        assert {b["targetUserId"] for b in (await listed(targetUserId=alice["_id"]))["list"]} == {
            alice["_id"]
        }
        assert len((await listed(targetUser="BOB_B"))["list"]) == 2
        assert len((await listed(targetUser=bob["_id"]))["list"]) == 2
        assert (await listed(targetUser="nobody"))["list"] == []
        assert (await listed(targetUser="bob_b", targetUserId=alice["_id"]))["list"] == []
        assert len((await listed(liveStreamId=s1))["list"]) == 2
        assert [b["actionType"] for b in (await listed(actionType="CHAT_ONLY"))["list"]] == ["CHAT_ONLY"]
        newest = everything["list"][0]["createdAt"]
        assert [b["createdAt"] for b in (await listed(**{"from": newest}))["list"]] == [newest]
        assert len((await listed(to=newest))["list"]) == 3
        assert (await listed(to="2000-01-01T00:00:00Z"))["list"] == []
        assert len((await listed(token=other_host))["list"]) == 1
        for params in (
            {"limit": 101},
            {"page": 0},
            {"actionType": "MUTE"},
            {"liveStreamId": "x"},
            {"from": "soon"},
        ):
            assert_error(await client.get(API, params=params, headers=auth(host)), 400, "Validation failed")
        assert_error(await client.get(API), 401, "Authentication required")

    async def test_check(self, client, make_user):
        _, host = await make_user()
        target, target_token = await make_user()
        _, stranger = await make_user()
        sid = (await create_stream(client, host))["id"]
        url = f"{API}/check/{target['_id']}"
        clean = await client.get(url, params={"liveStreamId": sid}, headers=auth(target_token))
        assert clean.json()["data"] == {"isBanned": False, "ban": None}
        ban = (await create_ban(client, host, target["_id"], sid, "CHAT_ONLY")).json()["data"]
        for token in (host, target_token):
            data = (await client.get(url, params={"liveStreamId": sid}, headers=auth(token))).json()["data"]
            assert data["isBanned"] is True and data["ban"]["_id"] == ban["_id"]
        assert_error(
            await client.get(url, params={"liveStreamId": sid}, headers=auth(stranger)), 403, FORBIDDEN
        )
        assert_error(await client.get(url, headers=auth(host)), 400, "Validation failed")
        missing = await client.get(url, params={"liveStreamId": str(ObjectId())}, headers=auth(host))
        assert_error(missing, 404, "Resource not found")
        assert_error(await client.get(url, params={"liveStreamId": sid}), 401, "Authentication required")

    async def test_lift(self, client, make_user):
        creator, host = await make_user()
        target, target_token = await make_user()
        sid = (await create_stream(client, host))["id"]
        ban = (await create_ban(client, host, target["_id"], sid, "BLOCK")).json()["data"]
        assert_error(await client.delete(f"{API}/{ban['_id']}", headers=auth(target_token)), 403, FORBIDDEN)
        assert_error(await client.delete(f"{API}/{ban['_id']}"), 401, "Authentication required")
        response = await client.delete(f"{API}/{ban['_id']}", headers=auth(host))
        assert response.status_code == 200
        lifted = response.json()["data"]
        assert lifted["_id"] == ban["_id"] and lifted["deletedBy"] == creator["_id"] and lifted["deletedAt"]
        assert_error(
            await client.delete(f"{API}/{ban['_id']}", headers=auth(host)), 404, "Resource not found"
        )
        assert_error(
            await client.delete(f"{API}/{ObjectId()}", headers=auth(host)), 404, "Resource not found"
        )
        assert_error(await client.delete(f"{API}/nope", headers=auth(host)), 400, "Validation failed")
        check = await client.get(
            f"{API}/check/{target['_id']}", params={"liveStreamId": sid}, headers=auth(host)
        )
        assert check.json()["data"]["isBanned"] is False
