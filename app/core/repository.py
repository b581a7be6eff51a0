"""Repository base: one collection, its indexes, the soft-delete filter and duplicate-key conflicts.

Queries live in repositories only. Every query shape must be backed by an index declared in the
repository's `indexes` (brought about by the index migration, `app.core.migrations`, over the explicit
list in `app/repositories.py`). A `durable` repository (money: ledger, balances, fundings, rentals) pins
w:"majority", majority reads and the primary, whatever the connection string says.
"""

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Generic, cast

from bson import ObjectId
from pymongo import ReadPreference, ReturnDocument, WriteConcern
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.errors import DuplicateKeyError
from pymongo.operations import IndexModel
from pymongo.read_concern import ReadConcern
from typing_extensions import TypeVar

from app.core.db import Collection, Database
from app.core.errors import Conflict, ErrorCode, NotFound
from app.core.sessions import SessionCollection, causal, current_session
from app.core.timeutils import utcnow

_REGISTRY: list[type["Repository[Any]"]] = []

# The stored document a repository reads and writes: a TypedDict where the document crosses module
# boundaries (`LiveStreamDocument`, `UserDocument`), a plain dict elsewhere.
DocumentT = TypeVar("DocumentT", bound=Mapping[str, Any], default=dict[str, Any])

# Under the client's `timeoutMS` (always set, app.core.db) PyMongo bounds the majority wait by the
# operation's budget and drops `wtimeout`; it applies to a client without one.
DURABLE_WTIMEOUT_MS = 10_000
DURABLE_OPTIONS: dict[str, Any] = {
    "write_concern": WriteConcern(w="majority", wtimeout=DURABLE_WTIMEOUT_MS),
    "read_concern": ReadConcern("majority"),
    "read_preference": ReadPreference.PRIMARY,
}


# Page totals and audience counts are counted up to this many items (docs/contract.md, "Pagination"):
# a busy list (chat, ledger, feeds, bans, rentals, viewers) or a crowded stream costs at most this many
# index keys per count, not one per item it holds.
PAGE_TOTAL_CAP = 10_000


def registered_repositories() -> list[type["Repository[Any]"]]:
    return list(_REGISTRY)


class Repository(Generic[DocumentT]):
    collection_name: ClassVar[str]
    indexes: ClassVar[list[IndexModel]] = []
    soft_delete: ClassVar[bool] = False
    # Acknowledged writes survive a failover and reads see only those (docs/decisions.md, "Durable
    # collections"): set on the collections that hold money.
    durable: ClassVar[bool] = False
    # The planned shard key (docs/decisions.md, "Sharding plan"), or None for a collection that stays
    # unsharded: a declared index must support it (tests/test_core_indexes.py) and the index
    # migration never drops an index that supports it.
    shard_key: ClassVar[tuple[tuple[str, int | str], ...] | None] = None
    # Unique indexes that exactly-once money rests on (idempotency keys, one rental per viewer): until
    # each exists as declared and is ready, /ready answers 503 and money writes are refused
    # (app.core.required_indexes).
    required_indexes: ClassVar[tuple[str, ...]] = ()
    # Conflict message per unique-indexed field, e.g. {"usernameLower": "this username is already taken"}.
    duplicate_messages: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "collection_name" in cls.__dict__:
            _REGISTRY.append(cls)

    def __init__(self, db: Database) -> None:
        self.db = db
        if self.durable:
            self._collection = db.get_collection(self.collection_name, **DURABLE_OPTIONS)
        else:
            self._collection = db[self.collection_name]
        self._majority: Collection | None = None

    @property
    def collection(self) -> Collection:
        """The collection, bound to the task's causal session inside a `causal` block (majority read
        and write concerns, primary), plain otherwise (app.core.sessions)."""
        session = current_session()
        if session is None:
            return self._collection
        if self._majority is None:
            durable = self.durable  # non-durable collections get majority concerns for the sequence
            self._majority = self._collection if durable else self._collection.with_options(**DURABLE_OPTIONS)
        return cast(Collection, SessionCollection(self._majority, session))

    def causal(self) -> AbstractAsyncContextManager[Any]:
        """A causally consistent session for a sequence of this repository's calls (app.core.sessions)."""
        return causal(self.db)

    def scoped(self, query: dict[str, Any], include_deleted: bool = False) -> dict[str, Any]:
        if self.soft_delete and not include_deleted and "deletedAt" not in query:
            return {**query, "deletedAt": None}
        return query

    async def _all(self, cursor: AsyncCursor[dict[str, Any]]) -> list[DocumentT]:
        """The documents a query of this repository's collection reads, typed as its documents."""
        return cast(list[DocumentT], await cursor.to_list())

    async def page_total(self, query: dict[str, Any], skip: int, limit: int) -> int:
        """`totalItems` of a page of `query`: exact up to `PAGE_TOTAL_CAP` items (or up to one past the
        page asked for, when that lies further), else that bound, read as "at least". `hasNextPage` stays
        exact, and the count never reads more keys than the page itself (skip + limit) or the cap."""
        return await self.collection.count_documents(query, limit=max(PAGE_TOTAL_CAP, skip + limit + 1))

    async def bounded_count(self, query: dict[str, Any]) -> int:
        """How many documents match `query`, exact up to `PAGE_TOTAL_CAP`, else that cap (read as "at
        least"): a count on every page or join of a crowded stream reads at most the cap in index keys."""
        return await self.collection.count_documents(query, limit=PAGE_TOTAL_CAP)

    async def get(self, _id: ObjectId | str, *, include_deleted: bool = False) -> DocumentT | None:
        return cast(
            DocumentT | None, await self.collection.find_one(self.scoped({"_id": _id}, include_deleted))
        )

    async def get_or_404(self, _id: ObjectId, *, include_deleted: bool = False) -> DocumentT:
        doc = await self.get(_id, include_deleted=include_deleted)
        if doc is None:
            raise NotFound()
        return doc

    async def get_many(
        self, ids: list[ObjectId], *, include_deleted: bool = False
    ) -> dict[ObjectId, DocumentT]:
        """Batch load by id (one query per page, never one per item)."""
        if not ids:
            return {}
        query = self.scoped({"_id": {"$in": list(set(ids))}}, include_deleted)
        return {doc["_id"]: doc for doc in await self._all(self.collection.find(query))}

    async def insert(self, doc: DocumentT) -> DocumentT:
        stored = cast(dict[str, Any], doc)  # the driver adds `_id` to the very dict it inserts
        try:
            result = await self.collection.insert_one(stored)
        except DuplicateKeyError as exc:
            raise Conflict(_duplicate_detail(exc, self.duplicate_messages)) from None
        stored["_id"] = result.inserted_id
        return doc

    async def insert_or_existing(self, doc: DocumentT, unique_key: tuple[str, ...]) -> tuple[DocumentT, bool]:
        """Insert `doc`, or return the document already holding its `unique_key`: (doc, created).

        The idempotency primitive: a retried request finds the document its first attempt wrote.
        """
        try:
            await self.collection.insert_one(cast(dict[str, Any], doc))
            return doc, True
        except DuplicateKeyError:
            existing = await self.collection.find_one({field: doc[field] for field in unique_key})
            if existing is None:  # removed in between: never loop, let the caller retry later
                raise Conflict("the request is being processed", code=ErrorCode.REQUEST_IN_PROGRESS) from None
            return cast(DocumentT, existing), False

    async def upsert_returning(self, key: dict[str, Any], update: dict[str, Any]) -> DocumentT:
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
        return cast(DocumentT, found)

    async def _update(
        self, query: dict[str, Any], update: dict[str, Any], *, include_deleted: bool = False
    ) -> DocumentT | None:
        """Atomic conditional update; returns the updated document or None when nothing matched.

        Protected: services call a repository's named methods (`claim_live_slot`, `close_before_start`,
        …), so every filter and update stays in the repositories."""
        update = {**update, "$set": {**update.get("$set", {}), "updatedAt": utcnow()}}
        try:
            found = await self.collection.find_one_and_update(
                self.scoped(query, include_deleted), update, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError as exc:
            raise Conflict(_duplicate_detail(exc, self.duplicate_messages)) from None
        return cast(DocumentT | None, found)


def _duplicate_detail(exc: DuplicateKeyError, messages: dict[str, str]) -> str:
    """User-facing words for a unique-index clash; storage field names never leave the server."""
    fields = list((exc.details or {}).get("keyPattern", {}) or [])
    return next((messages[field] for field in fields if field in messages), "it already exists")
