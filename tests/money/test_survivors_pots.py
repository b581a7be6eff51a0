"""Named checks that kill surviving mutants of the pots (`pots.py`, `funding.py`, `mini_crowd_fundings.py`,
`entries.py`; docs/money.md "Survivors of pots"): each pins a money rule at a boundary no scenario reached.
Oracles are the documented rules (balances, which rows exist), never the code's own records."""

from datetime import timedelta
from typing import Any

import pytest

from app.core.errors import Conflict
from app.core.timeutils import utcnow
from tests.money import invariants
from tests.money.harness import database_client, exploring, fresh_database
from tests.money.world import Ctx, add_stream, add_user, fund, fund_mini, open_mini, start


async def credits(db: Any, ctx: Ctx, role: str) -> int:
    user = await db["users"].find_one({"_id": ctx.id(role)})
    assert user is not None
    return int(user["credits"])


async def test_only_a_stream_with_a_funding_goal_is_fundable_a_goal_of_one_included() -> None:
    """A scheduled stream without a funding goal takes no funding (refused before anything is written);
    one whose goal is a single credit does."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = Ctx()
            await add_user(db, ctx, "host")
            await add_user(db, ctx, "fan", credits=100)
            await add_stream(db, ctx, goal=None)
            with pytest.raises(Conflict):
                await fund(db, ctx, "fan", 5, "f-no-goal")
            assert await credits(db, ctx, "fan") == 100
            assert await db["fundings"].count_documents({}) == 0
            assert await db["credit_transactions"].count_documents({"userId": ctx.id("fan")}) == 0

            await add_stream(db, ctx, goal=1)
            answer = await fund(db, ctx, "fan", 1, "f-goal-1")
            assert answer["collectedFunding"] == 1, answer
            assert await credits(db, ctx, "fan") == 99
            await invariants.check_all(db)


async def test_a_mini_crowd_funding_takes_nothing_at_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Contributions are taken before the deadline only: one arriving exactly at it is refused before
    anything moves (the clock of the mini crowd-funding rules frozen at the deadline)."""
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = Ctx()
            await add_user(db, ctx, "host")
            await add_user(db, ctx, "fan", credits=100)
            await add_stream(db, ctx, goal=None, scheduled=False)
            await start(db, ctx)
            await open_mini(db, ctx, goal=50)
            deadline = utcnow() + timedelta(minutes=1)
            await db["mini_crowd_fundings"].update_one({"_id": ctx.extra["mini"]}, {"$set": {"deadline": deadline}})
            monkeypatch.setattr("app.live_streams.mini_crowd_fundings.utcnow", lambda: deadline)
            with pytest.raises(Conflict):
                await fund_mini(db, ctx, "fan", 10, "m-at-deadline")
            monkeypatch.undo()
            assert await credits(db, ctx, "fan") == 100
            assert await db["mini_crowd_funding_contributions"].count_documents({}) == 0
            assert await db["credit_transactions"].count_documents({"userId": ctx.id("fan")}) == 0
