"""Issue 11's proof: every money flow crashed at each of its database steps, and raced at each step by
the operations that compete with it, then recovered and checked (tests/money/harness.py).

Each scenario explores: N crash points (+ the uncrashed run) and, per competitor, N+1 interleaving
points, on a fresh database each. The issue's reproductions and items 3, 6 and 8 follow as named tests.
"""

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from app.core.errors import Conflict, InsufficientCredits
from app.core.timeutils import utcnow
from app.replays.repository import ReplayRentalRepository
from app.replays.settlement import RentalSettlement
from app.users.credits import Direction, TxType
from tests.helpers import auth, create_stream, iso_in
from tests.money import invariants
from tests.money.harness import (
    Scenario,
    assert_explored,
    count_steps,
    crash_at,
    database_client,
    explore,
    exploring,
    fresh_database,
    recover,
    run_schedule,
    shifted_clock,
    stepped,
    test_id,
)
from tests.money.world import (
    Ctx,
    add_stream,
    add_user,
    apply,
    cancel,
    crash_after,
    delete,
    end,
    expire,
    fund,
    fund_mini,
    http_cancel,
    http_delete,
    http_fund,
    http_fund_mini,
    http_join,
    http_open_mini,
    http_rent,
    http_superlike,
    join,
    make_overdue,
    make_rentable,
    open_mini,
    overdue_then_expire,
    pending_rental,
    rent,
    settlement_pass,
    start,
    stream_doc,
    superlike,
    use_app,
    with_before,
)

# --- funding ------------------------------------------------------------------------------------------


def one_outcome(ctx: Ctx) -> list[str]:
    """Two runs of one Idempotency-Key give one outcome ("being processed, try again" is no outcome)."""
    o = ctx.outcome
    if "crashed" in (o.flow, o.competitor) or "not run" in (o.flow, o.competitor):
        return []  # a crashed request answered nothing
    undecided = [  # "come back later" answers: the client retries with the same key
        e
        for e in (o.flow_error, o.competitor_error)
        if (isinstance(e, Conflict) or getattr(e, "status_code", None) == 409)  # HTTP409 through the app
        and any(w in str(e.detail) for w in ("processed", "in progress", "try again"))
    ]
    if undecided or o.flow == o.competitor:
        return []
    return [
        f"one key, two outcomes: the request got {o.flow} ({o.flow_error}), "
        f"its retry {o.competitor} ({o.competitor_error})"
    ]


async def check_fund(db: Any, ctx: Ctx) -> None:
    problems = invariants.violations(await invariants.load(db))
    if ctx.outcome.competitor_name == "same key":
        problems += one_outcome(ctx)
    assert not problems, "; ".join(problems)


async def fund_setup(db: Any) -> Ctx:
    ctx = Ctx()
    await add_user(db, ctx, "host")
    await add_user(db, ctx, "fan", credits=100)
    await add_user(db, ctx, "other", credits=100)
    await add_stream(db, ctx, goal=1000)
    await fund(db, ctx, "other", 30, "other-1")  # the stream already holds someone's money
    return ctx


FUND = Scenario(
    "fund",
    setup=fund_setup,
    flow=lambda db, ctx: fund(db, ctx, "fan", 40, "fund-1"),
    competitors={
        "cancel": cancel,
        "delete": delete,
        "expire": overdue_then_expire,
        "same key": lambda db, ctx: fund(db, ctx, "fan", 40, "fund-1"),
        "fund by same user": lambda db, ctx: fund(db, ctx, "fan", 70, "fund-2"),
    },
    check=check_fund,
    # Held while scheduled; 3 days later the stream never started: expired, everyone refunded in full.
    balances={"fan": 100, "other": 100, "host": 0},
)


async def stale_entries_setup(db: Any) -> Ctx:
    """Two fundings whose requests died ten minutes ago, before any recovery pass ran: `other`'s after
    it was made final but before its entry left the stream's `opInFlight` (a final entry: prunable),
    `fan2`'s right after its decision (applied, still pending: its entry IS the decision)."""
    ctx = Ctx()
    await add_user(db, ctx, "host")
    for role in ("fan", "other", "fan2"):
        await add_user(db, ctx, role, credits=100)
    await add_stream(db, ctx, goal=1000)
    with shifted_clock(utcnow() - timedelta(minutes=10)):
        await crash_after(db, lambda sdb: fund(sdb, ctx, "other", 30, "o-1"), "fundings", "update_one")
        await crash_after(
            db, lambda sdb: fund(sdb, ctx, "fan2", 25, "f2-1"), "live_streams", "find_one_and_update"
        )
    stream = await db["live_streams"].find_one({"_id": ctx.stream})
    assert len(stream["opInFlight"]) == 2, stream.get("opInFlight")
    return ctx


# The next decision on the stream prunes `other`'s old final entry in its own write, and must keep fan2's
# (pruned, fan2's funding would be decided - and counted - a second time by its recovery).
FUND_PAST_STALE_ENTRIES = Scenario(
    "fund past stale in-flight entries",
    setup=stale_entries_setup,
    flow=lambda db, ctx: fund(db, ctx, "fan", 40, "fund-1"),
    balances={"fan": 100, "other": 100, "fan2": 100, "host": 0},  # expired 3 days later: all refunded
    combinations=False,
)


async def funded_setup(db: Any, overdue: bool = False) -> Ctx:
    ctx = Ctx()
    await add_user(db, ctx, "host")
    for role, credits in (("fan1", 60), ("fan2", 50), ("late", 100)):
        await add_user(db, ctx, role, credits=credits)
    await add_stream(db, ctx, goal=1000)
    await fund(db, ctx, "fan1", 40, "f1")
    await fund(db, ctx, "fan2", 25, "f2")
    if overdue:
        await make_overdue(db, ctx.stream)
    return ctx


LATE_FUND = {"fund": lambda db, ctx: fund(db, ctx, "late", 25, "late-1")}

REFUNDED = {"fan1": 60, "fan2": 50, "late": 100, "host": 0}
CANCEL = Scenario("cancel", setup=funded_setup, flow=cancel, competitors=LATE_FUND, balances=REFUNDED)
DELETE = Scenario(
    "delete (funded, scheduled)",
    setup=funded_setup,
    flow=lambda db, ctx: delete(db, ctx),
    competitors=LATE_FUND,
    balances=REFUNDED,
)
EXPIRE = Scenario(
    "expire",
    setup=lambda db: funded_setup(db, overdue=True),
    flow=expire,
    competitors=LATE_FUND,
    balances=REFUNDED,
)


@pytest.mark.parametrize("scenario", [FUND, FUND_PAST_STALE_ENTRIES, CANCEL, DELETE, EXPIRE], ids=test_id)
async def test_funding_flows_under_crashes_and_races(scenario: Scenario) -> None:
    assert_explored(await explore(scenario))


# --- stream end: payout of the collected funding (item 7) --------------------------------------------


async def live_funded_setup(db: Any, goal: int, guest: bool = True) -> Ctx:
    """A duo (or solo) stream funded 60 + 50 by two fans, started through the lifecycle on the AIOZ fake;
    `late` (100 credits) funds nothing yet."""
    ctx = Ctx()
    await add_user(db, ctx, "host")
    await add_user(db, ctx, "guest")
    await add_user(db, ctx, "fan1", credits=100)
    await add_user(db, ctx, "fan2", credits=100)
    await add_user(db, ctx, "late", credits=100)
    await add_stream(db, ctx, guest="guest" if guest else None, goal=goal)
    await fund(db, ctx, "fan1", 60, "f1")
    await fund(db, ctx, "fan2", 50, "f2")
    await start(db, ctx)
    return ctx


async def end_twice(db: Any, ctx: Ctx) -> Any:
    """A second POST /end (a retry, another tab) racing the first."""
    return await end(db, ctx)


END_COMPETITORS = {
    "end again": end_twice,
    "late fund": lambda db, ctx: fund(db, ctx, "late", 30, "late-1"),  # the stream is live: refused
}
# 110 collected: duo reached 44 + 44 (platform 22); missed: both fans get everything back; solo exactly
# at its goal of 110: 80 % = 88 to the creator.
END_GOAL_REACHED = Scenario(
    "end (goal reached: payout)",
    setup=lambda db: live_funded_setup(db, 100),
    flow=end,
    competitors=END_COMPETITORS,
    balances={"host": 44, "guest": 44, "fan1": 40, "fan2": 50, "late": 100},
)
END_GOAL_MISSED = Scenario(
    "end (goal missed: refunds)",
    setup=lambda db: live_funded_setup(db, 1000),
    flow=end,
    competitors=END_COMPETITORS,
    balances={"host": 0, "guest": 0, "fan1": 100, "fan2": 100},
)
END_SOLO_AT_GOAL = Scenario(
    "end (solo, exactly at its goal)",
    setup=lambda db: live_funded_setup(db, 110, guest=False),
    flow=end,
    competitors={"end again": end_twice},
    balances={"host": 88, "guest": 0, "fan1": 40, "fan2": 50},
)
END_SOLO_ONE_SHORT = Scenario(
    "end (solo, one credit short)",
    setup=lambda db: live_funded_setup(db, 111, guest=False),
    flow=end,
    balances={"host": 0, "fan1": 100, "fan2": 100},
    combinations=False,
)


@pytest.mark.parametrize(
    "scenario",
    [END_GOAL_REACHED, END_GOAL_MISSED, END_SOLO_AT_GOAL, END_SOLO_ONE_SHORT],
    ids=test_id,
)
async def test_issue11_item7_stream_end_pays_out_or_refunds_collected_funding(scenario: Scenario) -> None:
    assert_explored(await explore(scenario))


# --- paid entry (issue 13 item 10): charged on the first join, paid out at end ------------------------


async def live_paid_setup(db: Any) -> Ctx:
    """A live duo stream with a 30-credit entry; fan1 already joined (paid), fan2 has not."""
    ctx = Ctx()
    await add_user(db, ctx, "host")
    await add_user(db, ctx, "guest")
    await add_user(db, ctx, "fan1", credits=100)
    await add_user(db, ctx, "fan2", credits=100)
    await add_stream(db, ctx, guest="guest", goal=None, scheduled=False, price=30)
    await start(db, ctx)
    await join(db, ctx, "fan1")
    return ctx


async def drain(db: Any, ctx: Ctx, role: str = "fan1") -> Any:
    """Another request of the same user spends everything they have (a plain ledger movement)."""
    balance = (await db["users"].find_one({"_id": ctx.id(role)}))["credits"]
    if balance > 0:
        await apply(db, ctx.id(role), balance, Direction.debit, f"ext:drain-{role}", TxType.replay_rental)


def one_per_key(ctx: Ctx, world: invariants.World) -> list[str]:
    return one_outcome(ctx) if ctx.outcome.competitor_name in ("same key", "same join again") else []


async def check_one_outcome(db: Any, ctx: Ctx) -> None:
    problems = invariants.violations(await invariants.load(db))
    problems += one_per_key(ctx, await invariants.load(db))
    assert not problems, "; ".join(problems)


# fan2 pays the 30-credit entry: held until the end (fan1 paid in setup).
JOIN_PAID = Scenario(
    "join paid stream",
    setup=live_paid_setup,
    flow=lambda db, ctx: join(db, ctx, "fan2"),
    competitors={
        "end": end,
        "same join again": lambda db, ctx: join(db, ctx, "fan2"),
        "drain": lambda db, ctx: drain(db, ctx, "fan2"),
    },
    balances={"fan1": 70, "fan2": 70, "host": 0, "guest": 0},
)


async def paid_then_broke_setup(db: Any) -> Ctx:
    """fan1 paid the entry, then spent everything else: a re-join is free, so it must still succeed."""
    ctx = await live_paid_setup(db)
    await drain(db, ctx, "fan1")
    return ctx


REJOIN_PAID = Scenario(
    "rejoin paid stream (no credits left)",
    setup=paid_then_broke_setup,
    flow=lambda db, ctx: join(db, ctx, "fan1"),
    competitors={"end": end},
    balances={"fan1": 0, "fan2": 100, "host": 0, "guest": 0},
)


async def refused_then_topped_up_setup(db: Any) -> Ctx:
    """fan2's first join passed the balance pre-check, then another request of fan2 spent everything
    before the entry's debit: the debit was refused (the entry is rejected, nothing moved). fan2 then
    bought 50 credits. The next join is a new attempt and must charge the entry once."""
    ctx = await live_paid_setup(db)

    async def spend_everything() -> None:
        await drain(db, ctx, "fan2")

    # Right after the last balance check: the entry's insert.
    with contextlib.suppress(InsufficientCredits):
        await with_before(
            db, lambda sdb: join(sdb, ctx, "fan2"), "stream_entries", "insert_one", spend_everything
        )
        raise AssertionError("the drained join was not refused")
    entries = await db["stream_entries"].find({"userId": ctx.id("fan2")}).to_list()
    assert [e["status"] for e in entries] == ["rejected"], entries
    await apply(db, ctx.id("fan2"), 50, Direction.credit, "top-up-fan2", TxType.grant)
    return ctx


# The retry after a refused debit: a new attempt (`entry:{stream}:1`), charged 30 once; fan2 had 100,
# spent 100 elsewhere, bought 50: 20 left, the 30 held by the (still live) stream.
JOIN_AFTER_REFUSED_DEBIT = Scenario(
    "join paid after a refused entry debit",
    setup=refused_then_topped_up_setup,
    flow=lambda db, ctx: join(db, ctx, "fan2"),
    competitors={"same join again": lambda db, ctx: join(db, ctx, "fan2")},
    check=check_one_outcome,
    balances={"fan1": 70, "fan2": 20, "host": 0, "guest": 0},
    combinations=False,
)


async def one_entry_of_credits_setup(db: Any) -> Ctx:
    ctx = await live_paid_setup(db)
    await apply(db, ctx.id("fan2"), 50, Direction.debit, "ext:spent-fan2", TxType.replay_rental)
    return ctx  # fan2: 50 credits, one 30-credit entry's worth


async def test_concurrent_first_joins_of_a_viewer_with_credits_for_one_entry_both_get_in() -> None:
    """Bug found by the scenario above: a second join arriving while the first was paying the entry
    (or right after it paid) answered 'Insufficient credits' - its balance check saw the credits the
    first join had just taken - and undid the viewer's participation. Both joins share one entry."""
    scenario = Scenario(
        "two first joins, credits for one entry",
        setup=one_entry_of_credits_setup,
        flow=lambda db, ctx: join(db, ctx, "fan2"),
        competitors={"same join": lambda db, ctx: join(db, ctx, "fan2")},
    )
    with exploring():
        async with database_client() as client:
            trace = await count_steps(scenario, client)
            steps = [(collection, op) for _, collection, op in trace]
            debited = steps.index(("users", "find_one_and_update")) + 1  # 1-based: the step after it
            points = {
                "the flow's balance check, after the other join paid": steps.index(("users", "find_one")) + 1,
                "the flow's entry pending, its debit applied": debited + 1,
            }
            for what, at in points.items():
                failure, outcome = await run_schedule(scenario, client, competitor="same join", at=at)
                assert failure is None, failure
                answers = (outcome.flow, outcome.competitor)
                assert answers == ("ok", "ok"), f"{what} (step {at}): {answers} {outcome.flow_error or ''}"
                assert outcome.competitor_error is None, outcome.competitor_error


async def live_free_setup(db: Any) -> Ctx:
    ctx = Ctx()
    await add_user(db, ctx, "host")
    await add_user(db, ctx, "fan1", credits=100)
    await add_stream(db, ctx, goal=None, scheduled=False)  # no entry price
    await start(db, ctx)
    return ctx


# A free stream's join moves nothing and needs no credits.
JOIN_FREE = Scenario(
    "join free stream",
    setup=live_free_setup,
    flow=lambda db, ctx: join(db, ctx, "fan1"),
    balances={"fan1": 100, "host": 0},
)
# 30 of entries: 12 + 12 to the payees, 6 the platform's.
END_PAID = Scenario(
    "end (paid entries: payout)",
    setup=live_paid_setup,
    flow=end,
    competitors={"join": lambda db, ctx: join(db, ctx, "fan2"), "end again": end_twice},
    balances={"host": 12, "guest": 12, "fan1": 70, "fan2": 100},
)


# fan1 (70 after the entry) sends 10: 4 + 4 to the payees.
async def live_paid_liked_setup(db: Any) -> Ctx:
    """live_paid_setup, and fan2 already sent a superlike (the stream has more than one)."""
    ctx = await live_paid_setup(db)
    await superlike(db, ctx, "fan2", key="tap-fan2")
    return ctx


def own_superlike(answer: Any, ctx: Ctx) -> list[str]:
    """The answer is the superlike this request sent: its stream, its sender."""
    want = {"streamId": ctx.stream, "senderId": ctx.id("fan1"), "price": 10}
    return [f"{k} is {answer.get(k)!r}, expected {v!r}" for k, v in want.items() if answer.get(k) != v]


SUPERLIKE = Scenario(
    "superlike (duo)",
    setup=live_paid_liked_setup,
    flow=superlike,
    competitors={"same key": superlike, "end": end, "drain the sender": drain},
    check=check_one_outcome,
    # fan2's earlier superlike: 4 + 4 to the payees too.
    balances={"fan1": 60, "fan2": 90, "host": 8, "guest": 8},
    answer=own_superlike,
)


async def live_solo_setup(db: Any) -> Ctx:
    ctx = Ctx()
    await add_user(db, ctx, "host")
    await add_user(db, ctx, "fan1", credits=10)  # exactly one superlike's price
    await add_stream(db, ctx, goal=None, scheduled=False)
    await start(db, ctx)
    return ctx


SUPERLIKE_SOLO = Scenario(
    "superlike (solo)",
    setup=live_solo_setup,
    flow=superlike,
    competitors={
        "drain the sender": drain,
        "another superlike": lambda db, ctx: superlike(db, ctx, key="tap-2"),
    },
    balances={"fan1": 0, "host": 8},
)


async def live_mini_setup(db: Any, goal: int, second: int = 0) -> Ctx:
    """A live duo stream with a mini crowd-funding of `goal`; fan1 already put 60 in (and fan2 `second`)."""
    ctx = await live_paid_setup(db)
    await open_mini(db, ctx, goal)
    await fund_mini(db, ctx, "fan1", 60, "m1")
    if second:
        await fund_mini(db, ctx, "fan2", second, "m2")
    return ctx


FUND_MINI = Scenario(
    "fund mini crowd-funding",
    setup=lambda db: live_mini_setup(db, 100),
    flow=lambda db, ctx: fund_mini(db, ctx, "fan2", 40, "m2"),
    competitors={
        "end": end,
        "same key": lambda db, ctx: fund_mini(db, ctx, "fan2", 40, "m2"),
        "drain": lambda db, ctx: drain(db, ctx, "fan2"),
    },
    check=check_one_outcome,
    # 100 reached when the mini closes (3 days later at the latest): 40 + 40 to the payees.
    balances={"fan1": 10, "fan2": 60, "host": 40, "guest": 40},
)
END_MINI_COMPETITORS = {"fund mini": lambda db, ctx: fund_mini(db, ctx, "fan2", 40, "m-late")}
# Exactly at its goal of 60: 24 + 24.
END_MINI_REACHED = Scenario(
    "end (mini goal reached exactly)",
    setup=lambda db: live_mini_setup(db, 60),
    flow=end,
    competitors=END_MINI_COMPETITORS,
    balances={"fan1": 10, "fan2": 100, "host": 24 + 12, "guest": 24 + 12},
)
# Two contributions (60 + 30) below 500: both refunded in full.
END_MINI_MISSED = Scenario(
    "end (mini goal missed: 2 refunds)",
    setup=lambda db: live_mini_setup(db, 500, second=30),
    flow=end,
    competitors=END_MINI_COMPETITORS,
    balances={"fan1": 70, "fan2": 100, "host": 12, "guest": 12},
)


@pytest.mark.parametrize(
    "scenario",
    [
        JOIN_PAID,
        JOIN_AFTER_REFUSED_DEBIT,
        REJOIN_PAID,
        JOIN_FREE,
        END_PAID,
        SUPERLIKE,
        SUPERLIKE_SOLO,
        FUND_MINI,
        END_MINI_REACHED,
        END_MINI_MISSED,
    ],
    ids=test_id,
)
async def test_paid_entry_under_crashes_and_races(scenario: Scenario) -> None:
    assert_explored(await explore(scenario))


# --- rentals --------------------------------------------------------------------------------------------


async def rentable_setup(db: Any) -> Ctx:
    ctx = Ctx()
    await add_user(db, ctx, "host")
    await add_user(db, ctx, "renter", credits=120)
    await add_stream(db, ctx, goal=None, scheduled=False)
    await make_rentable(db, ctx.stream, price=50)
    return ctx


async def check_rent(db: Any, ctx: Ctx) -> None:
    problems = invariants.violations(await invariants.load(db))
    if ctx.outcome.competitor_name == "same key":
        problems += one_outcome(ctx)
    assert not problems, "; ".join(problems)


RENT = Scenario(
    "rent",
    setup=rentable_setup,
    flow=rent,
    competitors={
        "delete": delete,
        "settlement pass": settlement_pass,
        "same key": lambda db, ctx: rent(db, ctx, "renter", key="rent-1"),
        "drain": lambda db, ctx: drain(db, ctx, "renter"),
    },
    check=check_rent,
    balances={"renter": 70, "host": 40},  # 50 charged; the window closed: 80 % to the (solo) creator
)


async def rentals_setup(db: Any) -> Ctx:
    """Two active rentals and one a crashed request left pending (claimed, not charged)."""
    ctx = await rentable_setup(db)
    for role in ("r1", "r2", "r3"):
        await add_user(db, ctx, role, credits=100)
    await rent(db, ctx, "r1", key="rent-r1")
    await rent(db, ctx, "r2", key="rent-r2")
    await pending_rental(db, ctx, "r3")
    return ctx


DELETE_RENTED = Scenario(
    "delete (rented replay)",
    setup=rentals_setup,
    flow=delete,
    balances={"r1": 100, "r2": 100, "r3": 100, "renter": 120, "host": 0},
)


async def pending_charge_setup(db: Any) -> Ctx:
    ctx = await rentable_setup(db)
    ctx.extra["rental"] = await pending_rental(db, ctx, "renter")
    return ctx


async def refund_claim(db: Any, ctx: Ctx) -> None:
    """Settlement's refund of the period, as a delete's refund pass does it (the stream is marked
    deleted first, so the rules owe the renter the period back)."""
    await db["live_streams"].update_one({"_id": ctx.stream}, {"$set": {"deletedAt": utcnow()}})
    rental = await ReplayRentalRepository(db).claim_refund(ctx.extra["rental"], utcnow())
    if rental is not None:
        await RentalSettlement(db).refund(rental, utcnow())


RENTAL_CHARGE = Scenario(
    "rental charge",
    setup=pending_charge_setup,
    flow=lambda db, ctx: RentalSettlement(db).complete(ctx.extra["rental"], utcnow()),
    competitors={"settlement refund": refund_claim, "settlement pass": settlement_pass},
    balances={"renter": 70, "host": 40},
)


async def delete_dying_after_its_claim(db: Any, ctx: Ctx) -> None:
    """The host's DELETE dies right after its refund follow-up claimed the rental for a refund: the
    claim is written, the refund is not (recovery, or whoever finds the claim, finishes it)."""
    await crash_after(db, lambda sdb: delete(sdb, ctx), "replay_rentals", "find_one_and_update")


async def check_refused_rent_gave_back(db: Any, ctx: Ctx) -> None:
    """Right after the request: a rental charge refused because its stream was deleted answers 404 and
    has given back what it took - refunded and the period settled - without waiting for recovery."""
    o = ctx.outcome
    if o.flow in ("ok", "crashed", "not run"):
        return
    rental = ctx.extra["rental"]
    world = await invariants.load(db)
    row = next(r for r in world.rentals if r["_id"] == rental["_id"])
    period = {"rental": rental["_id"], "n": rental["rentalNumber"]}
    charged = world.tx(rental["userId"], invariants.RENTAL_CHARGE.format(**period))
    refunded = world.tx(rental["userId"], invariants.RENTAL_REFUND.format(**period))
    problems = []
    if o.flow != "NotFound":
        problems.append(f"the charge answered {o.flow} ({o.flow_error}); its stream is deleted: 404 expected")
    if charged and not (refunded and row.get("settledAt")):
        problems.append(
            f"the refused charge took {charged['amount']} and left refund={bool(refunded)}, "
            f"settledAt={row.get('settledAt')} to recovery"
        )
    assert not problems, "; ".join(problems)


# The charge racing a delete whose refund pass died after claiming the rental: the charge finds the
# claim when it activates, and must give back what it took itself (crash points: RENTAL_CHARGE).
RENTAL_CHARGE_STALLED_DELETE = Scenario(
    "rental charge × delete dying after its claim",
    setup=pending_charge_setup,
    flow=lambda db, ctx: RentalSettlement(db).complete(ctx.extra["rental"], utcnow()),
    competitors={"delete dying after its claim": delete_dying_after_its_claim},
    after_flow=check_refused_rent_gave_back,
    crashes=False,
    combinations=False,
    balances={"renter": 70, "host": 40},
)


@pytest.mark.parametrize(
    "scenario", [RENT, DELETE_RENTED, RENTAL_CHARGE, RENTAL_CHARGE_STALLED_DELETE], ids=test_id
)
async def test_rental_flows_under_crashes_and_races(scenario: Scenario) -> None:
    assert_explored(await explore(scenario))


# --- the ledger -------------------------------------------------------------------------------------------


async def ledger_setup(db: Any) -> Ctx:
    ctx = Ctx()
    await add_user(db, ctx, "payer", credits=100)
    return ctx


def move(key: str, amount: int = 30, direction: Direction = Direction.debit) -> Any:
    """A plain ledger movement of the payer (an "ext:" key: money leaving/entering the system)."""
    return lambda db, ctx: apply(db, ctx.id("payer"), amount, direction, f"ext:{key}", TxType.replay_rental)


LEDGER = Scenario(
    "ledger apply",
    setup=ledger_setup,
    flow=move("move-1"),
    competitors={
        "same movement": move("move-1"),
        "another movement": move("move-2", 50),
        # A request of the payer dies between applying its movement and making it final.
        "another movement dying midway": lambda db, ctx: crash_after(
            db, lambda sdb: move("move-3", 20)(sdb, ctx), "users", "find_one_and_update"
        ),
    },
    balances={"payer": 70},
    # A movement applied but not final yet (a crash), one decided before the flow's own although it
    # started after it (stored balanceAfter out of order): the history shows the visible chain right
    # after the flow and after recovery, in every schedule.
    history=True,
)


async def test_ledger_apply_under_crashes_and_races() -> None:
    assert_explored(await explore(LEDGER))


# --- item 3: the "failed" decision is atomic with the balance ---------------------------------------------


async def short_payer_setup(db: Any) -> Ctx:
    """20 credits, and a 30-credit debit a crashed request left pending."""
    ctx = Ctx()
    await add_user(db, ctx, "payer", credits=20)
    await crash_after(db, lambda sdb: move("move-1")(sdb, ctx), "credit_transactions", "insert_one")
    return ctx


async def grant_then_retry(db: Any, ctx: Ctx) -> Any:
    """A grant lands, then the same pending movement is run again (retry / resume_stale)."""
    await apply(db, ctx.id("payer"), 50, Direction.credit, "grant-1", TxType.grant)
    return await move("move-1")(db, ctx)


async def check_answers_match_the_movement(db: Any, ctx: Ctx) -> None:
    tx = await db["credit_transactions"].find_one({"userId": ctx.id("payer"), "idempotencyKey": "ext:move-1"})
    problems = invariants.violations(await invariants.load(db))
    o = ctx.outcome
    for who, answer in (("the run", o.flow), ("the second run", o.competitor)):
        if answer == "InsufficientCredits" and tx["status"] != "failed":
            problems.append(f"{who} was told 'Insufficient credits' but the movement is {tx['status']}")
        if answer == "ok" and tx["status"] != "completed":
            problems.append(f"{who} was told 'paid' but the movement is {tx['status']}")
    assert not problems, "; ".join(problems)


async def test_issue11_item3_failed_decision_is_atomic_with_the_balance() -> None:
    scenario = Scenario(
        "ledger insufficient × grant+retry",
        setup=short_payer_setup,
        flow=move("move-1"),
        competitors={"grant then second run": grant_then_retry},
        check=check_answers_match_the_movement,
        crashes=False,
        expect="InsufficientCredits",
    )
    assert_explored(await explore(scenario))


# --- (a) item 1: a funding racing a cancel is refunded ------------------------------------------------------


async def test_issue11_item1_funding_racing_cancel_is_refunded() -> None:
    """Funder 100 funds 40 while the host cancels: whatever the interleaving, the funder ends at 100."""

    async def setup(db: Any) -> Ctx:
        ctx = Ctx()
        await add_user(db, ctx, "host")
        await add_user(db, ctx, "fan", credits=100)
        await add_stream(db, ctx, goal=1000)
        return ctx

    async def check(db: Any, ctx: Ctx) -> None:
        await invariants.check_all(db)
        if ctx.outcome.competitor != "ok":
            return  # the plain run, or the cancel crashed: nothing to refund yet
        fan = await db["users"].find_one({"_id": ctx.id("fan")})
        funding = await db["fundings"].find_one({"userId": ctx.id("fan")})
        assert fan["credits"] == 100, (
            f"funder has {fan['credits']} credits, funding {funding and funding['status']}"
        )

    scenario = Scenario(
        "fund × cancel (item 1)",
        setup=setup,
        flow=lambda db, ctx: fund(db, ctx, "fan", 40, "fund-1"),
        competitors={"cancel": cancel},
        check=check,
        crashes=False,
        balances={"fan": 100},
    )
    assert_explored(await explore(scenario))


# --- (b) item 4: a movement resumed behind 64 later ones is applied once --------------------------------


async def test_issue11_item4_resume_behind_64_later_movements_applies_once() -> None:
    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = Ctx()
            user = await add_user(db, ctx, "payer", credits=0)
            baseline = await invariants.snapshot(db)
            credit_80 = move("bonus-80", 80, Direction.credit)
            # The request dies right after the balance update, before the movement is marked completed.
            await crash_after(db, lambda sdb: credit_80(sdb, ctx), "users", "find_one_and_update")
            for i in range(64):
                await apply(db, user, 1, Direction.credit, f"later-{i}", TxType.grant)
            await credit_80(db, ctx)  # the retry (or resume_stale) of the interrupted movement
            credits = (await db["users"].find_one({"_id": user}))["credits"]
            assert credits == 144, f"expected 80 + 64 = 144 credits, got {credits}"
            await recover(db)
            await invariants.check_all(db)
            await invariants.check_conservation(db, baseline)


# --- (c) item 5: renters racing a DELETE over HTTP are refunded -----------------------------------------


async def test_issue11_item5_renters_racing_delete_are_refunded(client, make_user, db) -> None:
    from tests.replays.conftest import make_rentable as make_rentable_http

    api = "/api/v1/live-stream"
    _, token = await make_user()
    for round_ in range(4):
        stream = await make_rentable_http(client, db, token, price=50)
        renters = [await make_user(credits=100) for _ in range(8)]
        calls = [client.post(f"{api}/{stream['id']}/replay-rentals", headers=auth(t)) for _, t in renters]
        calls.insert(round_ * 2, client.delete(f"{api}/{stream['id']}", headers=auth(token)))
        answers = await asyncio.gather(*calls)
        assert any(a.status_code == 200 for a in answers if a.request.method == "DELETE")
        await recover(db)
        for user, _ in renters:
            credits = (await db["users"].find_one({"_id": ObjectId(user["_id"])}))["credits"]
            assert credits == 100, (
                f"round {round_}: a renter of the deleted stream has {credits} of 100 credits"
            )
        await invariants.check_all(db)


# --- item 6: one Idempotency-Key, one outcome, and collectedFunding == what was paid ------------------------


async def test_issue11_item6_one_key_one_outcome_amid_many_small_fundings(client, make_user, db) -> None:
    """The issue's numbers: 1180 credits; three requests with one key for 1000 sent first, then 180
    fundings of 1. Before the fix: 200 then 409 twice, 1000 debited and refunded, collectedFunding 1180
    for 180 paid."""
    _, host = await make_user()
    fan, token = await make_user(credits=1180)
    stream = await create_stream(client, host, plannedStartDate=iso_in(hours=5), fundingGoal=100_000)
    url = f"/api/v1/live-stream/{stream['id']}/fund"
    keyed = [
        client.post(url, json={"amount": 1000}, headers={**auth(token), "Idempotency-Key": "big-1"})
        for _ in range(3)
    ]
    small = [client.post(url, json={"amount": 1}, headers=auth(token)) for _ in range(180)]
    answers = await asyncio.gather(*keyed, *small)
    same_key = answers[:3]
    outcomes = Counter((a.status_code, str(a.json()["errors"])) for a in same_key)
    assert len(outcomes) == 1, f"one Idempotency-Key got several outcomes: {dict(outcomes)}"

    user_id = ObjectId(fan["_id"])
    for when in ("after the requests", "after recovery"):
        stream_doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
        txs = await db["credit_transactions"].find({"userId": user_id, "status": "completed"}).to_list()
        paid = -sum(invariants.signed(tx) for tx in txs)  # the funder's only movements are fundings
        assert stream_doc["collectedFunding"] == paid, (
            f"{when}: collectedFunding {stream_doc['collectedFunding']} but the funder paid {paid}"
        )
        user = await db["users"].find_one({"_id": user_id})
        assert user["credits"] == 1180 - paid
        await recover(db)
    await invariants.check_all(db)


# --- item 8: a refused funding leaves no credit movement in the history ---------------------------------


async def test_issue11_item8_insufficient_credits_fund_leaves_no_history(client, make_user) -> None:
    _, host = await make_user()
    _, token = await make_user(credits=10)
    stream = await create_stream(client, host, plannedStartDate=iso_in(hours=5), fundingGoal=1000)
    refused = await client.post(
        f"/api/v1/live-stream/{stream['id']}/fund", json={"amount": 50}, headers=auth(token)
    )
    assert refused.status_code == 400, refused.text
    history = await client.get("/api/v1/users/me/transactions", headers=auth(token))
    assert history.status_code == 200, history.text
    items = history.json()["data"]["list"]
    assert items == [], f"a refused funding shows in the credit history: {items}"


# --- what ONE recovery pass must finish (the harness runs several, which would hide a pass that stops early) ---


async def test_one_follow_up_pass_runs_every_kind_past_a_failure_and_says_what_is_left() -> None:
    """`FollowUpRunner.run`: a handler that fails (the database blips) or that this replica does not
    have (a rolling deploy) leaves its kind for a later pass, and the pass still runs every other kind;
    it answers True only when nothing is left; a failure postpones the stream's next look."""
    from pymongo.errors import AutoReconnect

    from app import flows
    from app.live_streams.follow_ups import FollowUp, FollowUpRunner
    from app.live_streams.repository import LiveStreamRepository

    async def blip(stream: Any) -> None:
        raise AutoReconnect("primary stepped down")

    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await live_funded_setup(db, 100)
            await crash_after(db, lambda sdb: end(sdb, ctx), "live_streams", "find_one_and_update")
            handlers = dict(flows.follow_up_runner(db).handlers)
            streams = LiveStreamRepository(db)

            async def one_pass(
                failing: str | None = None, missing: str | None = None
            ) -> tuple[bool, set[str]]:
                wiring = {k: blip if k == failing else h for k, h in handlers.items() if k != missing}
                stream = await stream_doc(db, ctx.stream)
                done = await FollowUpRunner(streams, wiring).run(stream)
                return done, set((await stream_doc(db, ctx.stream)).get("followUps") or {})

            kinds = list((await stream_doc(db, ctx.stream))["followUps"])
            assert len(kinds) >= 3, kinds
            first, second = FollowUp(kinds[0]), FollowUp(kinds[1])
            assert await one_pass(failing=first, missing=second) == (False, {first, second})
            assert await one_pass(missing=first) == (False, {first})
            before = utcnow()
            assert await one_pass(failing=first) == (False, {first})
            assert (await stream_doc(db, ctx.stream))["followUpAt"] > before, "a failure must postpone it"
            assert await one_pass() == (True, set())
            await invariants.check_all(db)
            balances = {
                role: (await db["users"].find_one({"_id": ctx.id(role)}))["credits"] for role in ctx.users
            }
            assert balances == {"host": 44, "guest": 44, "fan1": 40, "fan2": 50, "late": 100}, balances


async def test_a_pot_total_read_behind_its_contributions_is_retried_not_settled() -> None:
    """A payout that reads the pot's total older than the contributions it just saw completed (a lagging
    read: here the stream as it was before its only funding, 1 credit, was counted) answers 503 and
    leaves the follow-up due; settling on it would refund nothing and close the pot for good. The next
    pass, reading fresh, refunds the missed goal."""
    from app import flows
    from app.live_streams.follow_ups import FollowUp, FollowUpRunner
    from app.live_streams.funding import FundingService
    from app.live_streams.repository import LiveStreamRepository

    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = Ctx()
            await add_user(db, ctx, "host")
            await add_user(db, ctx, "fan", credits=100)
            await add_stream(db, ctx, goal=1000)
            before_funding = await stream_doc(db, ctx.stream)
            await fund(db, ctx, "fan", 1, "f-1")
            await start(db, ctx)
            await crash_after(db, lambda sdb: end(sdb, ctx), "live_streams", "find_one_and_update")

            class LaggingStreams(LiveStreamRepository):
                async def get(self, _id: Any, *, include_deleted: bool = False) -> Any:
                    return before_funding

            lagging = FundingService(db)
            lagging.pot.holders = LaggingStreams(db)
            handlers = dict(flows.follow_up_runner(db).handlers)
            streams = LiveStreamRepository(db)
            stale_pass = FollowUpRunner(streams, {**handlers, FollowUp.payout_fundings: lagging.pay_out})
            assert not await stale_pass.run(await stream_doc(db, ctx.stream))
            left = (await stream_doc(db, ctx.stream)).get("followUps") or {}
            assert FollowUp.payout_fundings in left, f"the stale pass settled the pot: {left}"
            assert await FollowUpRunner(streams, handlers).run(await stream_doc(db, ctx.stream))
            fan = await db["users"].find_one({"_id": ctx.id("fan")})
            assert fan["credits"] == 100, f"the fan's 1 credit of a missed goal: {fan['credits']} of 100"
            await invariants.check_all(db)


async def test_sweep_drops_final_entries_and_looks_again_at_a_holder_still_in_flight() -> None:
    """`OnceHolder.sweep` on a holder idle for ten minutes with two entries: one of a movement made final
    (its request died before `forget`) and one of a movement applied but not final (its request died
    after the decision) - what the sweep finds when the ledger's resume pass stopped at its batch limit.
    The final one's entry goes; the other's stays (it IS its decision) and the holder is looked at again
    later, not on every pass; recovery then finishes everything once."""
    from app.core.once import IN_FLIGHT, SWEEP_AT
    from app.users.credits import CreditTransactionRepository
    from app.users.repository import UserRepository

    with exploring():
        async with database_client() as client, fresh_database(client) as db:
            ctx = await ledger_setup(db)
            with shifted_clock(utcnow() - timedelta(minutes=10)):
                made_final = move("final-1", 10)
                await crash_after(db, lambda sdb: made_final(sdb, ctx), "credit_transactions", "update_one")
                applied = move("applied-1", 20)
                await crash_after(db, lambda sdb: applied(sdb, ctx), "users", "find_one_and_update")
            txs = {t["idempotencyKey"]: t for t in await db["credit_transactions"].find({}).to_list()}
            final_id, pending_id = str(txs["ext:final-1"]["_id"]), str(txs["ext:applied-1"]["_id"])
            payer = await db["users"].find_one({"_id": ctx.id("payer")})
            assert set(payer[IN_FLIGHT]) == {final_id, pending_id}, payer[IN_FLIGHT]
            swept_at = utcnow()
            looked_at = await UserRepository(db).sweep(
                swept_at - timedelta(minutes=6), CreditTransactionRepository(db).final_among
            )
            payer = await db["users"].find_one({"_id": ctx.id("payer")})
            assert looked_at == 1 and set(payer[IN_FLIGHT]) == {pending_id}, payer[IN_FLIGHT]
            assert payer[SWEEP_AT] > swept_at - timedelta(seconds=1), (
                f"not looked at again later: {SWEEP_AT} {payer[SWEEP_AT]}"
            )
            await recover(db)
            await invariants.check_all(db)
            payer = await db["users"].find_one({"_id": ctx.id("payer")})
            assert payer["credits"] == 70, payer["credits"]


# --- the harness itself -----------------------------------------------------------------------------------


async def test_harness_crash_stops_the_flow_and_counts_steps() -> None:
    """Self-test: crashing before step k runs exactly k-1 steps, and nothing after."""
    async with database_client() as client, fresh_database(client) as db:
        ctx = await ledger_setup(db)
        counted = stepped(db)
        await move("m")(counted, ctx)
        n = counted.steps
        assert n >= 3
        for k in range(1, n + 1):
            probe = stepped(db, crash_at(k))
            with pytest.raises(BaseException) as caught:
                await move(f"m{k}")(probe, ctx)
            assert type(caught.value).__name__ == "Crash" and probe.steps == k


async def test_harness_runs_a_competitor_before_the_chosen_step() -> None:
    async with database_client() as client:
        failure, outcome = await run_schedule(LEDGER, client, competitor="another movement", at=1)
    assert outcome.competitor == "ok" and outcome.flow == "ok", (failure, outcome)


# --- every money endpoint through the ASGI app (routers, Idempotency-Key header, stored answers) ---------


def same_answer(ctx: Ctx) -> list[str]:
    """Two requests with one Idempotency-Key that both succeeded got the same (stored) answer."""
    o = ctx.outcome
    if o.competitor_name != "same key" or (o.flow, o.competitor) != ("ok", "ok"):
        return one_outcome(ctx) if o.competitor_name == "same key" else []
    if o.flow_result != o.competitor_result:
        return [f"one Idempotency-Key, two answers: {o.flow_result} then {o.competitor_result}"]
    return []


OTHER_BODY = "same key, other request"


def other_body_refused(ctx: Ctx) -> list[str]:
    """An Idempotency-Key reused with a different request (another amount, another stream) is refused
    (409): the two requests cannot both be accepted - one of them would get the other's answer."""
    o = ctx.outcome
    if o.competitor_name != OTHER_BODY or (o.flow, o.competitor) != ("ok", "ok"):
        return []
    return ["one Idempotency-Key, two different requests, both accepted (200): one got the other's answer"]


async def check_http(db: Any, ctx: Ctx) -> None:
    problems = invariants.violations(await invariants.load(db)) + same_answer(ctx) + other_body_refused(ctx)
    assert not problems, "; ".join(problems)


def http_scenario(name: str, setup: Any, flow: Any, **kwargs: Any) -> Scenario:
    # A request through the app costs several schedules through the services: 6 crash points and 6
    # points per competitor, sampled (every point of these flows is explored at the service level above).
    return Scenario(f"HTTP {name}", setup=setup, flow=flow, check=check_http, points=6, **kwargs)


async def http_mini_setup(db: Any) -> Ctx:
    """As live_mini_setup, the mini crowd-funding opened through POST /{id}/mini-crowd-fundings."""
    ctx = await live_paid_setup(db)
    await http_open_mini(db, ctx, 100)
    await fund_mini(db, ctx, "fan1", 60, "m1")
    return ctx


async def two_live_streams_setup(db: Any) -> Ctx:
    """live_paid_setup, and another creator's stream live at the same time (`ctx.extra["other stream"]`)."""
    ctx = await live_paid_setup(db)
    first = ctx.stream
    await add_user(db, ctx, "host2")
    await add_stream(db, ctx, creator="host2", goal=None, scheduled=False)
    await start(db, ctx, "host2")
    ctx.extra["other stream"], ctx.stream = ctx.stream, first
    return ctx


SNAPSHOT_FIELDS = {"_id", "username", "name", "surname", "profilePhoto"}


def superlike_answer(answer: Any, ctx: Ctx) -> list[str]:
    """The documented answer: {streamId, senderId, senderSnapshot{...}, price: 10, timestamp}."""
    fan = ctx.users["fan1"]
    want = {"streamId": str(ctx.stream), "senderId": str(fan["_id"]), "price": 10}
    bad = [f"{k} is {answer.get(k)!r}, expected {v!r}" for k, v in want.items() if answer.get(k) != v]
    snapshot = answer.get("senderSnapshot") or {}
    if set(snapshot) != SNAPSHOT_FIELDS or snapshot.get("username") != fan["username"]:
        bad.append(f"senderSnapshot {snapshot} is not the sender's")
    return bad + ([] if answer.get("timestamp") else ["no timestamp"])


def funded_answer(collected: int) -> Any:
    """The stream as this funding left it."""

    def check(answer: Any, ctx: Ctx) -> list[str]:
        want = {"id": str(ctx.stream), "collectedFunding": collected}
        return [f"{k} is {answer.get(k)!r}, expected {v!r}" for k, v in want.items() if answer.get(k) != v]

    return check


def mini_answer(answer: Any, ctx: Ctx) -> list[str]:
    want = {"_id": str(ctx.extra["mini"]), "goal": 100, "collected": 100, "percentage": 100, "status": "open"}
    return [f"{k} is {answer.get(k)!r}, expected {v!r}" for k, v in want.items() if answer.get(k) != v]


def rental_answer(answer: Any, ctx: Ctx) -> list[str]:
    want = {"liveStreamId": str(ctx.stream), "status": "active", "price": 50, "rentalNumber": 1}
    bad = [f"{k} is {answer.get(k)!r}, expected {v!r}" for k, v in want.items() if answer.get(k) != v]
    return bad + ([] if answer.get("expiresAt") and answer.get("rentedAt") else ["no rental window"])


HTTP_SCENARIOS = [
    http_scenario(
        "POST /{id}/fund",
        fund_setup,
        lambda db, ctx: http_fund(db, ctx, "fan", 40, "fund-1"),
        competitors={
            "same key": lambda db, ctx: http_fund(db, ctx, "fan", 40, "fund-1"),
            OTHER_BODY: lambda db, ctx: http_fund(db, ctx, "fan", 50, "fund-1"),  # another amount
            "cancel": http_cancel,
        },
        balances={"fan": 100, "other": 100, "host": 0},
        answer=funded_answer(70),  # the stream as this funding left it: 30 + 40
    ),
    http_scenario(
        "POST /join (paid)",
        live_paid_setup,
        lambda db, ctx: http_join(db, ctx, "fan2"),
        competitors={"same join again": lambda db, ctx: http_join(db, ctx, "fan2")},
        balances={"fan1": 70, "fan2": 70, "host": 0, "guest": 0},
    ),
    http_scenario(
        "POST /{id}/chat/superlike",
        two_live_streams_setup,
        lambda db, ctx: http_superlike(db, ctx, "fan1", "tap-1"),
        competitors={
            "same key": lambda db, ctx: http_superlike(db, ctx, "fan1", "tap-1"),
            OTHER_BODY: lambda db, ctx: http_superlike(db, ctx, "fan1", "tap-1", ctx.extra["other stream"]),
        },
        balances={"fan1": 60, "host": 4, "guest": 4},
        answer=superlike_answer,
    ),
    http_scenario(
        "POST /{id}/mini-crowd-fundings/{mid}/fund",
        http_mini_setup,
        lambda db, ctx: http_fund_mini(db, ctx, "fan2", 40, "m2"),
        competitors={"same key": lambda db, ctx: http_fund_mini(db, ctx, "fan2", 40, "m2")},
        balances={"fan1": 10, "fan2": 60, "host": 40, "guest": 40},
        answer=mini_answer,
    ),
    http_scenario(
        "POST /{id}/replay-rentals",
        rentable_setup,
        lambda db, ctx: http_rent(db, ctx, "renter", "rent-1"),
        competitors={
            "same key": lambda db, ctx: http_rent(db, ctx, "renter", "rent-1"),
            "delete": http_delete,
        },
        balances={"renter": 70, "host": 40},
        answer=rental_answer,
    ),
    http_scenario(
        "POST /{id}/cancel (funded)",
        funded_setup,
        lambda db, ctx: http_cancel(db, ctx),
        competitors={"fund": lambda db, ctx: http_fund(db, ctx, "late", 25, "late-1")},
        balances=REFUNDED,
    ),
    http_scenario(
        "DELETE /{id} (rented replay)",
        rentals_setup,
        lambda db, ctx: http_delete(db, ctx),
        balances={"r1": 100, "r2": 100, "r3": 100, "renter": 120, "host": 0},
    ),
]


@pytest.mark.parametrize("scenario", HTTP_SCENARIOS, ids=test_id)
async def test_money_endpoints_through_the_app_under_crashes_and_races(app: Any, scenario: Scenario) -> None:
    use_app(app)
    assert_explored(await explore(scenario))
