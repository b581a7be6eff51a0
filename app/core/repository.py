"""Repository base: one collection, its indexes, the soft-delete filter and duplicate-key conflicts.

Queries live in repositories only. Every query shape must be backed by an index declared in the
repository's `indexes` (brought about by the index migration, `app.core.migrations`, over the explicit
list in `app/repositories.py`). A `durable` repository (money: ledger, balances, fundings, rentals) pins
w:"majority", majority reads and the primary, whatever the connection string says.
"""

from typing import Any, ClassVar, cast

from bson import ObjectId
from pymongo import ReadPreference, ReturnDocument, WriteConcern
from pymongo.errors import DuplicateKeyError
from pymongo.operations import IndexModel
from pymongo.read_concern import ReadConcern

from app.core.db import Database
from app.core.errors import Conflict, NotFound
from app.core.timeutils import utcnow

_REGISTRY: list[type["Repository"]] = []

# Under the client's `timeoutMS` (always set, app.core.db) PyMongo bounds the majority wait by the
# operation's budget and drops `wtimeout`; it applies to a client without one.
DURABLE_WTIMEOUT_MS = 10_000
DURABLE_OPTIONS: dict[str, Any] = {
    "write_concern": WriteConcern(w="majority", wtimeout=DURABLE_WTIMEOUT_MS),
    "read_concern": ReadConcern("majority"),
    "read_preference": ReadPreference.PRIMARY,
}


def registered_repositories() -> list[type["Repository"]]:
    return list(_REGISTRY)


class Repository:
    collection_name: ClassVar[str]
    indexes: ClassVar[list[IndexModel]] = []
    soft_delete: ClassVar[bool] = False
    # Acknowledged writes survive a failover and reads see only those (docs/decisions.md, "Durable
    # collections"): set on the collections that hold money.
    durable: ClassVar[bool] = False
    # Conflict message per unique-indexed field, e.g. {"usernameLower": "this username is already taken"}.
    duplicate_messages: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "collection_name" in cls.__dict__:
            _REGISTRY.append(cls)

    def __init__(self, db: Database) -> None:
        self.db = db
        if self.durable:
            self.collection = db.get_collection(self.collection_name, **DURABLE_OPTIONS)
        else:
            self.collection = db[self.collection_name]

    def scoped(self, query: dict[str, Any], include_deleted: bool = False) -> dict[str, Any]:
        if self.soft_delete and not include_deleted and "deletedAt" not in query:
            return {**query, "deletedAt": None}
        return query

    async def get(self, _id: ObjectId | str, *, include_deleted: bool = False) -> dict[str, Any] | None:
        return await self.collection.find_one(self.scoped({"_id": _id}, include_deleted))

    async def get_or_404(self, _id: ObjectId, *, include_deleted: bool = False) -> dict[str, Any]:
        doc = await self.get(_id, include_deleted=include_deleted)
        if doc is None:
            raise NotFound()
        return doc

    async def get_many(
        self, ids: list[ObjectId], *, include_deleted: bool = False
    ) -> dict[ObjectId, dict[str, Any]]:
        """Batch load by id (one query per page, never one per item)."""
        if not ids:
            return {}
        query = self.scoped({"_id": {"$in": list(set(ids))}}, include_deleted)
        docs = await self.collection.find(query).to_list()
        return {doc["_id"]: doc for doc in docs}

    async def insert(self, doc: dict[str, Any]) -> dict[str, Any]:
        try:
            result = await self.collection.insert_one(doc)
        except DuplicateKeyError as exc:
            raise Conflict(_duplicate_detail(exc, self.duplicate_messages)) from None
        doc["_id"] = result.inserted_id
        return doc

    async def insert_or_existing(
        self, doc: dict[str, Any], unique_key: tuple[str, ...]
    ) -> tuple[dict[str, Any], bool]:
        """Insert `doc`, or return the document already holding its `unique_key`: (doc, created).

        The idempotency primitive: a retried request finds the document its first attempt wrote.
        """
        try:
            await self.collection.insert_one(doc)
            return doc, True
        except DuplicateKeyError:
            existing = await self.collection.find_one({field: doc[field] for field in unique_key})
            if existing is None:  # removed in between: never loop, let the caller retry later
                raise Conflict("the request is being processed") from None
            return existing, False

    async def upsert_returning(self, key: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
        """Upsert on a unique `key` and return the document after the update.

        Two concurrent first upserts can both try the insert; MongoDB then fails one with a duplicate
        key, and repeating it as a plain update is correct because the document now exists.
        """
        # The driver types the result Optional; with upsert and AFTER, or after such a clash, it is not.
        try:
            found = await self.collection.find_one_and_update(
                key, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            found = await self.collection.find_one_and_update(
                key, update, return_document=ReturnDocument.AFTER
            )
        return cast(dict[str, Any], found)

    async def _update(
        self, query: dict[str, Any], update: dict[str, Any], *, include_deleted: bool = False
    ) -> dict[str, Any] | None:
        """Atomic conditional update; returns the updated document or None when nothing matched.

        Protected: services call a repository's named methods (`claim_live_slot`, `close_before_start`,
        …), so every filter and update stays in the repositories."""
        update = {**update, "$set": {**update.get("$set", {}), "updatedAt": utcnow()}}
        try:
            return await self.collection.find_one_and_update(
                self.scoped(query, include_deleted), update, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError as exc:
            raise Conflict(_duplicate_detail(exc, self.duplicate_messages)) from None


def _duplicate_detail(exc: DuplicateKeyError, messages: dict[str, str]) -> str:
    """User-facing words for a unique-index clash; storage field names never leave the server."""
    fields = list((exc.details or {}).get("keyPattern", {}) or [])
    return next((messages[field] for field in fields if field in messages), "it already exists")
