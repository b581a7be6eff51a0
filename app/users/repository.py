"""Queries on users and follows."""

from typing import Any, cast

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from app.core.once import OnceHolder
from app.core.repository import Repository
from app.core.timeutils import utcnow
from app.users.documents import UserDocument

SUMMARY_FIELDS = ("username", "name", "surname", "profilePhoto", "availabilityStatus")
# What a request knows about its caller (`AuthenticatedUser.doc`): never the ledger's bookkeeping
# (`opInFlight`, `opVersion`) or the balance, which money code reads itself (docs/decisions.md, "Projections").
CALLER_FIELDS = (*SUMMARY_FIELDS, "expertise", "interests", "deletedAt")


class UserRepository(OnceHolder, Repository[UserDocument]):
    """Users; a user's `credits` change only through ledger decisions (`app.core.once`)."""

    collection_name = "users"
    durable = True  # money: w:"majority", majority reads, primary (docs/decisions.md)
    soft_delete = True
    indexes = [
        IndexModel([("usernameLower", ASCENDING)], unique=True, name="username_unique"),
        IndexModel([("opInFlightAt", ASCENDING)], sparse=True, name="ledger_sweep"),
    ]
    duplicate_messages = {"usernameLower": "this username is already taken"}

    async def create(self, fields: dict[str, Any]) -> UserDocument:
        now = utcnow()  # pragma: no mutate
        # The profile fields are not money: not mutated (docs/money.md, "Mutation score").
        doc: UserDocument = {
            "username": fields["username"],  # pragma: no mutate
            "usernameLower": fields["username"].lower(),  # pragma: no mutate
            "name": fields.get("name") or "",  # pragma: no mutate
            "surname": fields.get("surname") or "",  # pragma: no mutate
            "profilePhoto": fields.get("profilePhoto"),  # pragma: no mutate
            "availabilityStatus": fields.get("availabilityStatus") or "available",  # pragma: no mutate
            "expertise": fields.get("expertise"),  # pragma: no mutate
            "interests": sorted(set(fields.get("interests") or [])),  # pragma: no mutate
            "credits": int(fields.get("credits") or 0),
            "opVersion": 0,
            "opInFlight": {},
            "createdAt": now,  # pragma: no mutate
            "updatedAt": now,  # pragma: no mutate
            "deletedAt": None,
        }
        return await self.insert(doc)

    async def credits_of(self, user_id: ObjectId) -> int:
        doc = await self.collection.find_one({"_id": user_id}, {"credits": 1})
        return int(doc["credits"]) if doc else 0

    # pragma: no mutate block (not money: the caller, presentation, demo seed, guest and user search)
    async def get_caller(self, user_id: ObjectId) -> UserDocument | None:
        """The authenticated user of a request, with `CALLER_FIELDS` only; None when unknown or deleted."""
        doc = await self.collection.find_one(self.scoped({"_id": user_id}), dict.fromkeys(CALLER_FIELDS, 1))
        return cast(UserDocument | None, doc)

    async def summaries(
        self, ids: list[ObjectId], *, extra: tuple[str, ...] = (), include_deleted: bool = False
    ) -> dict[ObjectId, UserDocument]:
        """Batch load of users for presenting them: `SUMMARY_FIELDS` (+ `extra`) only."""
        return {
            doc["_id"]: doc
            for doc in await self.summary_docs(ids, extra=extra, include_deleted=include_deleted)
        }

    async def summary_docs(
        self, ids: list[ObjectId], *, extra: tuple[str, ...] = (), include_deleted: bool = False
    ) -> list[UserDocument]:
        """`summaries` as a list in no particular order, for callers that key the users themselves."""
        if not ids:
            return []
        # Distinct by the ids' bytes: hashing bytes is C, bson's `ObjectId.__hash__` is Python.
        distinct = list({user_id.binary: user_id for user_id in ids}.values())
        query = self.scoped({"_id": {"$in": distinct}}, include_deleted)
        return await self._all(self.collection.find(query, dict.fromkeys((*SUMMARY_FIELDS, *extra), 1)))

    async def any_exist(self) -> bool:
        """Whether the collection holds any user (deleted ones included): the demo seed runs on an empty one."""
        return await self.collection.estimated_document_count() > 0

    async def by_usernames(self, usernames: list[str]) -> list[UserDocument]:
        """The users, not deleted, with these usernames (any case)."""
        query = self.scoped({"usernameLower": {"$in": [name.lower() for name in usernames]}})
        return await self._all(self.collection.find(query))

    async def search_ids(self, ids: list[ObjectId], pattern: str) -> list[ObjectId]:
        """Ids among `ids` whose username, name or surname contains `pattern` (already regex-escaped)."""
        regex = {"$regex": pattern, "$options": "i"}
        docs = await self.collection.find(
            self.scoped(
                {
                    "_id": {"$in": ids},
                    "$or": [{"usernameLower": regex}, {"name": regex}, {"surname": regex}],
                }
            ),
            {"_id": 1},
        ).to_list()
        return [doc["_id"] for doc in docs]


# pragma: no mutate block (not money: follows)
class FollowRepository(Repository):
    """One document per relation, `_id` = "<followerId>:<followeeId>": "does A follow these users?"
    becomes an `_id` lookup, the cheapest query on both engines (and unique by construction)."""

    collection_name = "follows"
    shard_key = (("followerId", 1),)
    indexes = [
        IndexModel([("followerId", ASCENDING), ("followeeId", ASCENDING)], unique=True, name="follow_unique"),
        IndexModel([("followeeId", ASCENDING), ("createdAt", DESCENDING)], name="followers_of"),
    ]

    @staticmethod
    def key(follower_id: ObjectId, followee_id: ObjectId) -> str:
        return f"{follower_id}:{followee_id}"

    async def follow(self, follower_id: ObjectId, followee_id: ObjectId) -> bool:
        """Create the relation; returns True when it already existed."""
        try:
            await self.collection.insert_one(
                {
                    "_id": self.key(follower_id, followee_id),
                    "followerId": follower_id,
                    "followeeId": followee_id,
                    "createdAt": utcnow(),
                }
            )
        except DuplicateKeyError:
            return True
        return False

    async def unfollow(self, follower_id: ObjectId, followee_id: ObjectId) -> bool:
        # `followerId` is the shard key (docs/decisions.md, "Sharding plan"): a targeted delete.
        result = await self.collection.delete_one(
            {"followerId": follower_id, "_id": self.key(follower_id, followee_id)}
        )
        return result.deleted_count == 1

    async def followed_among(self, follower_id: ObjectId, candidate_ids: list[ObjectId]) -> set[ObjectId]:
        if not candidate_ids:
            return set()
        # `key()` of each candidate: the follower's half formatted once, each id's hex in C (`str()` of
        # an ObjectId is a Python call).
        prefix = f"{follower_id}:"
        keys = [prefix + candidate.binary.hex() for candidate in candidate_ids]
        query = {"followerId": follower_id, "_id": {"$in": keys}}  # targeted once sharded on followerId
        docs = await self.collection.find(query, {"followeeId": 1}).to_list()
        return {doc["followeeId"] for doc in docs}

    async def count_followers(self, user_id: ObjectId) -> int:
        return await self.collection.count_documents({"followeeId": user_id})

    async def count_following(self, user_id: ObjectId) -> int:
        return await self.collection.count_documents({"followerId": user_id})

    async def counts_for(self, user_ids: list[ObjectId]) -> dict[ObjectId, tuple[int, int]]:
        """(followers, following) for each user id, in two grouped queries."""
        if not user_ids:
            return {}
        followers = await self._grouped_count("followeeId", user_ids)
        following = await self._grouped_count("followerId", user_ids)
        return {uid: (followers.get(uid, 0), following.get(uid, 0)) for uid in user_ids}

    async def _grouped_count(self, field: str, user_ids: list[ObjectId]) -> dict[ObjectId, int]:
        cursor = await self.collection.aggregate(
            [{"$match": {field: {"$in": user_ids}}}, {"$group": {"_id": f"${field}", "n": {"$sum": 1}}}]
        )
        return {row["_id"]: row["n"] async for row in cursor}
