"""Rules for follows and credit history."""

from datetime import datetime
from typing import Any

from bson import ObjectId

from app.core.errors import ValidationFailed
from app.core.pagination import PageParams
from app.core.timeutils import as_utc
from app.users.credits import CreditTransactionRepository, Direction, TxStatus, TxType
from app.users.repository import FollowRepository, UserRepository
from app.users.schemas import SortOrder, transaction_out


class UserService:
    def __init__(self, db: Any) -> None:
        self.db = db
        self.users = UserRepository(db)
        self.follows = FollowRepository(db)

    async def follow(self, follower_id: ObjectId, target_id: ObjectId) -> dict[str, bool]:
        if follower_id == target_id:
            raise ValidationFailed("you cannot follow yourself")
        await self.users.get_or_404(target_id)
        previously = await self.follows.follow(follower_id, target_id)
        return {"isFollowing": True, "previouslyFollowing": previously}

    async def unfollow(self, follower_id: ObjectId, target_id: ObjectId) -> dict[str, bool]:
        if follower_id == target_id:
            raise ValidationFailed("you cannot unfollow yourself")
        await self.users.get_or_404(target_id)
        previously = await self.follows.unfollow(follower_id, target_id)
        return {"isFollowing": False, "previouslyFollowing": previously}

    async def transactions(
        self,
        user_id: ObjectId,
        page: PageParams,
        *,
        types: list[TxType] | None,
        statuses: list[TxStatus] | None,
        direction: Direction | None,
        date_from: datetime | None,
        date_to: datetime | None,
        sort: SortOrder,
    ) -> dict[str, Any]:
        query: dict[str, Any] = {"userId": user_id}
        if types:
            query["type"] = {"$in": [t.value for t in types]}
        # Only movements that happened are history: a refused attempt (failed) or one still in flight
        # (pending) moved nothing, and a debit given straight back because its funding was never
        # counted (voided, with its refund) did not happen for the user either. Both stay in the ledger.
        shown = [s.value for s in (statuses or [TxStatus.completed]) if s is TxStatus.completed]
        query["status"] = {"$in": shown}
        query["voided"] = {"$ne": True}
        if direction:
            query["direction"] = direction.value
        date_from = as_utc(date_from) if date_from else None
        date_to = as_utc(date_to) if date_to else None
        if date_from or date_to:
            if date_from and date_to and date_from > date_to:
                raise ValidationFailed("from must not be after to")
            query["occurredAt"] = {
                **({"$gte": date_from} if date_from else {}),
                **({"$lte": date_to} if date_to else {}),
            }
        docs, total = await CreditTransactionRepository(self.db).page(
            query, descending=sort is SortOrder.desc, skip=page.skip, limit=page.limit
        )
        return page.page_of([transaction_out(doc) for doc in docs], total)
