"""Follows (`/api/v1/follow/{userId}`) and user stats (`/api/v1/users/{userId}/stats`)."""

from datetime import UTC, datetime

from bson import ObjectId

from app.core.envelope import Envelope
from app.creators.schemas import UserStats
from app.users.schemas import FollowResult
from tests.helpers import assert_error, auth


async def follow_count(db, follower: dict, followee: dict) -> int:
    return await db.follows.count_documents(
        {"followerId": ObjectId(follower["_id"]), "followeeId": ObjectId(followee["_id"])}
    )


class TestFollow:
    async def test_anonymous(self, client, make_user):
        target, _ = await make_user()
        assert_error(await client.post(f"/api/v1/follow/{target['_id']}"), 401, "Authentication required")

    async def test_follow_then_follow_again(self, client, db, make_user):
        me, token = await make_user()
        target, _ = await make_user()
        first = await client.post(f"/api/v1/follow/{target['_id']}", headers=auth(token))
        assert first.status_code == 200, first.text
        assert Envelope[FollowResult].model_validate(first.json()).data == FollowResult(
            isFollowing=True, previouslyFollowing=False
        )
        again = await client.post(f"/api/v1/follow/{target['_id']}", headers=auth(token))
        assert again.json()["data"] == {"isFollowing": True, "previouslyFollowing": True}
        assert await follow_count(db, me, target) == 1

    async def test_follow_yourself_400(self, client, db, make_user):
        me, token = await make_user()
        response = await client.post(f"/api/v1/follow/{me['_id']}", headers=auth(token))
        assert_error(response, 400, "Validation failed")
        assert await db.follows.count_documents({}) == 0

    async def test_unknown_user_404(self, client, db, make_user):
        _, token = await make_user()
        response = await client.post(f"/api/v1/follow/{ObjectId()}", headers=auth(token))
        assert_error(response, 404, "Resource not found")
        assert await db.follows.count_documents({}) == 0

    async def test_soft_deleted_user_404(self, client, db, make_user):
        _, token = await make_user()
        target, _ = await make_user()
        await db.users.update_one(
            {"_id": ObjectId(target["_id"])}, {"$set": {"deletedAt": datetime.now(UTC)}}
        )
        response = await client.post(f"/api/v1/follow/{target['_id']}", headers=auth(token))
        assert_error(response, 404, "Resource not found")

    async def test_malformed_id_400(self, client, make_user):
        _, token = await make_user()
        response = await client.post("/api/v1/follow/123", headers=auth(token))
        assert_error(response, 400, "Validation failed")


class TestUnfollow:
    async def test_unfollow_then_unfollow_again(self, client, db, make_user):
        me, token = await make_user()
        target, _ = await make_user()
        await client.post(f"/api/v1/follow/{target['_id']}", headers=auth(token))
        first = await client.delete(f"/api/v1/follow/{target['_id']}", headers=auth(token))
        assert first.status_code == 200, first.text
        assert first.json()["data"] == {"isFollowing": False, "previouslyFollowing": True}
        assert await follow_count(db, me, target) == 0
        again = await client.delete(f"/api/v1/follow/{target['_id']}", headers=auth(token))
        assert again.json()["data"] == {"isFollowing": False, "previouslyFollowing": False}

    async def test_refollow_after_unfollow_is_fresh(self, client, make_user):
        _, token = await make_user()
        target, _ = await make_user()
        url = f"/api/v1/follow/{target['_id']}"
        await client.post(url, headers=auth(token))
        await client.delete(url, headers=auth(token))
        response = await client.post(url, headers=auth(token))
        assert response.json()["data"] == {"isFollowing": True, "previouslyFollowing": False}

    async def test_yourself_400_and_unknown_404(self, client, make_user):
        me, token = await make_user()
        assert_error(
            await client.delete(f"/api/v1/follow/{me['_id']}", headers=auth(token)), 400, "Validation failed"
        )
        response = await client.delete(f"/api/v1/follow/{ObjectId()}", headers=auth(token))
        assert_error(response, 404, "Resource not found")


class TestStats:
    async def test_counts(self, client, db, make_user):
        star, star_token = await make_user()
        fans = [await make_user() for _ in range(3)]
        for _, token in fans:
            await client.post(f"/api/v1/follow/{star['_id']}", headers=auth(token))
        await client.post(f"/api/v1/follow/{fans[0][0]['_id']}", headers=auth(star_token))
        creator_id = ObjectId(star["_id"])
        await db.live_streams.insert_many(
            [
                {"creatorId": creator_id, "channelName": "one", "status": "ended", "deletedAt": None},
                {"creatorId": creator_id, "channelName": "two", "status": "scheduled", "deletedAt": None},
                {
                    "creatorId": creator_id,
                    "channelName": "gone",
                    "status": "ended",
                    "deletedAt": datetime.now(UTC),
                },
                {"creatorId": ObjectId(), "channelName": "other", "status": "ended", "deletedAt": None},
            ]
        )

        response = await client.get(f"/api/v1/users/{star['_id']}/stats", headers=auth(fans[1][1]))
        assert response.status_code == 200, response.text
        stats = Envelope[UserStats].model_validate(response.json()).data
        assert stats == UserStats(followers=3, following=1, totalLiveStreams=2)

        fan_stats = await client.get(f"/api/v1/users/{fans[0][0]['_id']}/stats", headers=auth(star_token))
        assert fan_stats.json()["data"] == {"followers": 1, "following": 1, "totalLiveStreams": 0}

    async def test_new_user_has_zero_counts(self, client, make_user):
        me, token = await make_user()
        response = await client.get(f"/api/v1/users/{me['_id']}/stats", headers=auth(token))
        assert response.json()["data"] == {"followers": 0, "following": 0, "totalLiveStreams": 0}

    async def test_anonymous_401(self, client, make_user):
        me, _ = await make_user()
        assert_error(await client.get(f"/api/v1/users/{me['_id']}/stats"), 401, "Authentication required")

    async def test_unknown_user_404(self, client, make_user):
        _, token = await make_user()
        response = await client.get(f"/api/v1/users/{ObjectId()}/stats", headers=auth(token))
        assert_error(response, 404, "Resource not found")
