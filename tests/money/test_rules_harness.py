"""Issue 26's proof: rules that are not money, explored like money (tests/money/harness.py) - every
crash point of a flow, and a competitor run to completion before each of its database steps.

* "at most 3 open mini crowd-fundings" × concurrent creates: ≤ 3 open, one slot each;
* BLOCK ban × join, REST and Socket.IO, in both directions: once both finished (and recovery ran),
  the blocked viewer holds no present participation, no room and no presence, and a refused join
  charged nothing.

Each scenario's schedule count is printed in the "money harness" summary.
"""

from typing import Any

import pytest

from app.bans.schemas import BanAction
from tests.money.harness import POINTS, Scenario, assert_explored, explore, test_id
from tests.money.rules_world import (
    ban,
    check_no_blocked_presence,
    check_open_minis,
    create_mini,
    creates,
    live_stream_setup,
    recover_after_checking,
    rest_join,
    socket_join,
)
from tests.money.world import Ctx


async def with_open_minis(db: Any, n: int) -> Ctx:
    ctx = await live_stream_setup(db)
    for i in range(n):
        assert await create_mini(db, ctx, f"open {i}") == "created"
    return ctx


MINI_CREATES = [
    Scenario(
        "mini create × creates (1 open)",
        setup=lambda db: with_open_minis(db, 1),
        flow=create_mini,
        competitors={"two creates": lambda db, ctx: creates(db, ctx, 2)},
        check=check_open_minis,
    ),
    Scenario(
        "mini create × create (2 open)",
        setup=lambda db: with_open_minis(db, 2),
        flow=create_mini,
        competitors={"create": create_mini},
        check=check_open_minis,
    ),
]


@pytest.mark.parametrize("scenario", MINI_CREATES, ids=test_id)
async def test_issue26_item1_at_most_three_open_under_races_and_crashes(scenario: Scenario) -> None:
    report = await explore(scenario)
    assert_explored(report)
    assert report.steps >= 2 and (POINTS is not None or report.total >= 2 * report.steps)


def paid(viewer_joined: bool = False) -> Any:
    return lambda db: live_stream_setup(db, price=30, viewer_joined=viewer_joined)


async def chat_only_banned(db: Any) -> Ctx:
    ctx = await live_stream_setup(db, price=30)
    await ban(db, ctx, BanAction.chat_only)
    return ctx


BAN_AND_JOIN = [
    Scenario(
        "REST join × ban",
        setup=paid(),
        flow=rest_join,
        competitors={"ban": ban},
        check=check_no_blocked_presence,
        recover=recover_after_checking,
    ),
    Scenario(
        "ban × REST join",
        setup=paid(),
        flow=ban,
        competitors={"join": rest_join},
        check=check_no_blocked_presence,
        recover=recover_after_checking,
    ),
    Scenario(
        "ban (viewer present) × REST rejoin",
        setup=paid(viewer_joined=True),
        flow=ban,
        competitors={"rejoin": rest_join},
        check=check_no_blocked_presence,
        recover=recover_after_checking,
    ),
    Scenario(
        "REST join × CHAT_ONLY→BLOCK upgrade",
        setup=chat_only_banned,
        flow=rest_join,
        competitors={"upgrade": ban},
        check=check_no_blocked_presence,
        recover=recover_after_checking,
    ),
    Scenario(
        "socket join × ban",
        setup=paid(),
        flow=socket_join,
        competitors={"ban": ban},
        check=check_no_blocked_presence,
        recover=recover_after_checking,
    ),
    Scenario(
        "ban × socket join",
        setup=paid(),
        flow=ban,
        competitors={"socket join": socket_join},
        check=check_no_blocked_presence,
        recover=recover_after_checking,
    ),
]


@pytest.mark.parametrize("scenario", BAN_AND_JOIN, ids=test_id)
async def test_issue26_item2_block_ban_and_join_are_ordered(scenario: Scenario) -> None:
    report = await explore(scenario)
    assert_explored(report)
    assert report.steps >= 2 and (POINTS is not None or report.total >= 2 * report.steps)
