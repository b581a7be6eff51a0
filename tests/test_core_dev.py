"""Development endpoints: `POST /api/v1/dev/users` and `POST /api/v1/dev/token`."""

from bson import ObjectId

from app.core.envelope import Envelope
from app.dev.router import DevToken, DevUserCreated
from tests.helpers import assert_error, auth

CONFLICT = "Resource already exists or cannot be changed in its current state"


class TestCreateDevUser:
    async def test_minimal_body(self, client, db):
        response = await client.post("/api/v1/dev/users", json={"username": "alice"})
        assert response.status_code == 201, response.text
        body = Envelope[DevUserCreated].model_validate(response.json())
        data = response.json()["data"]
        assert set(data) == {"user", "accessToken"}
        assert data["user"] == {
            "_id": data["user"]["_id"],
            "username": "alice",
            "name": "",
            "surname": "",
            "profilePhoto": None,
            "availabilityStatus": "available",
            "expertise": None,
            "interests": [],
            "credits": 0,
        }
        assert body.statusCode == 201
        stored = await db.users.find_one({"_id": ObjectId(data["user"]["_id"])})
        assert stored["usernameLower"] == "alice" and stored["deletedAt"] is None

    async def test_full_body(self, client, db):
        response = await client.post(
            "/api/v1/dev/users",
            json={
                "username": "Ayse_Y",
                "name": " Ayşe ",
                "surname": "Yılmaz",
                "expertise": "Musician",
                "interests": ["music", "art", "music"],
                "credits": 250,
            },
        )
        user = response.json()["data"]["user"]
        assert response.status_code == 201
        assert (user["username"], user["name"], user["surname"]) == ("Ayse_Y", "Ayşe", "Yılmaz")
        assert user["expertise"] == "Musician"
        assert user["interests"] == ["art", "music"]
        assert user["credits"] == 250
        stored = await db.users.find_one({"_id": ObjectId(user["_id"])})
        assert stored["credits"] == 250 and stored["usernameLower"] == "ayse_y"

    async def test_token_works(self, client):
        response = await client.post("/api/v1/dev/users", json={"username": "carol"})
        token = response.json()["data"]["accessToken"]
        assert (await client.get("/api/v1/users/me/transactions", headers=auth(token))).status_code == 200

    async def test_duplicate_username_case_insensitive(self, client, db, make_user):
        await make_user("Dave")
        for username in ("Dave", "dave", "DAVE"):
            response = await client.post("/api/v1/dev/users", json={"username": username})
            assert_error(response, 409, CONFLICT)
        assert await db.users.count_documents({"usernameLower": "dave"}) == 1

    async def test_invalid_fields(self, client):
        for body in ({"username": "ab"}, {"username": "a" * 31}, {"username": "white space"},
                     {"username": "okname", "credits": -1}, {"username": "okname", "interests": "music"}):  # fmt: skip
            assert_error(await client.post("/api/v1/dev/users", json=body), 400, "Validation failed")


class TestDevToken:
    async def test_token_for_existing_user(self, client, make_user):
        user, _ = await make_user()
        response = await client.post("/api/v1/dev/token", json={"userId": user["_id"]})
        assert response.status_code == 200, response.text
        token = Envelope[DevToken].model_validate(response.json()).data.accessToken
        assert (await client.get("/api/v1/users/me/transactions", headers=auth(token))).status_code == 200

    async def test_unknown_user_404(self, client):
        response = await client.post("/api/v1/dev/token", json={"userId": str(ObjectId())})
        assert_error(response, 404, "Resource not found")

    async def test_soft_deleted_user_404(self, client, db, make_user):
        user, _ = await make_user()
        await db.users.update_one(
            {"_id": ObjectId(user["_id"])}, {"$set": {"deletedAt": ObjectId().generation_time}}
        )
        response = await client.post("/api/v1/dev/token", json={"userId": user["_id"]})
        assert_error(response, 404, "Resource not found")

    async def test_malformed_user_id_400(self, client):
        assert_error(
            await client.post("/api/v1/dev/token", json={"userId": "nope"}), 400, "Validation failed"
        )
