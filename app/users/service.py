"""Rules for follows and credit history."""

from datetime import datetime
from typing import Any

from bson import ObjectId

from app.core.errors import ValidationFailed
from app.core.pagination import PageParams, SortOrder
from app.core.sessions import causal
from app.core.timeutils import as_utc
from app.users.credits import CreditLedger, CreditTransactionRepository, Direction, TxStatus, TxType
from app.users.repository import FollowRepository, UserRepository
from app.users.schemas import transaction_out


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
        date_from = as_utc(date_from) if date_from else None
        date_to = as_utc(date_to) if date_to else None
        if date_from and date_to and date_from > date_to:
            raise ValidationFailed("from must not be after to")
        # Only movements that happened are history: a refused attempt (failed) or one still in flight
        # (pending) moved nothing, so asking for those statuses finds nothing (the ledger keeps them).
        if statuses and TxStatus.completed not in statuses:
            return page.page_of([], 0)
        # One causally consistent session for the page and the balances recomputed over it: after a
        # failover the balance chain is read no older than the page (app.core.sessions).
        async with causal(self.db):
            docs, total = await CreditTransactionRepository(self.db).history(
                user_id,
                types=types,
                direction=direction,
                date_from=date_from,
                date_to=date_to,
                descending=sort is SortOrder.desc,
                skip=page.skip,
                limit=page.limit,
            )
            docs = await CreditLedger(self.db).with_balances(user_id, docs)
        return page.page_of([transaction_out(doc) for doc in docs], total)
