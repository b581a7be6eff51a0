"""What must hold after any schedule once the recovery passes have run (read from the raw collections).

Two kinds of checks:

* `check_conservation(db, baseline)`: money is neither lost nor minted.
      money = Σ user balances + Σ held by streams + Σ held by rentals + Σ platform fees
  is the same as right after setup, and every user's balance equals their balance at setup plus the
  net of the ledger movements completed since (exactly-once: a movement counted in the ledger moved
  the balance once, an uncompleted one not at all).
* `check_all(db, ctx)`: the states a recovery must leave: nothing pending or in flight, every funding
  and rental period final exactly once with its ledger rows consistent, nothing counted on a stream
  that can no longer use it.

The ledger keys and the "who holds what" rules are spelled out once below; adapt them there when the
money flows change.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

# --- ledger keys of the money flows (idempotencyKey of credit_transactions) ----------------------------
FUNDING_DEBIT = "funding:{id}"
FUNDING_REFUND = "funding-refund:{id}"
FUNDING_PAYOUT = "funding-payout:{stream}:{payee}"  # payee: creator | guest
ENTRY_DEBIT = "entry:{id}"
ENTRY_REFUND = "entry-refund:{id}"
ENTRY_PAYOUT = "entry-payout:{stream}:{payee}"  # payee: creator | guest
MINI_DEBIT = "mini-funding:{id}"
MINI_REFUND = "mini-funding-refund:{id}"
MINI_PAYOUT = "mini-funding-payout:{mini}:{payee}"  # payee: creator | guest
SUPERLIKE_DEBIT = "superlike:{superlike}"
SUPERLIKE_REVENUE = "superlike-revenue:{superlike}:{payee}"  # payee: creator | guest
RENTAL_CHARGE = "replay-rental:{rental}:{n}"
RENTAL_REFUND = "rental-refund:{rental}:{n}"
RENTAL_REVENUE = "rental-revenue:{rental}:{n}:{payee}"

# Movements across the system's boundary: credits granted from outside (purchases, gifts), and the
# harness's own plain ledger movements ("ext:" keys) that belong to no stream or rental.
EXTERNAL_TYPES = {"grant"}
EXTERNAL_KEY_PREFIX = "ext:"

COMPLETED, FAILED, PENDING = "completed", "failed", "pending"
FUNDING_FINAL = {"completed", "rejected", "refunded"}
SCHEDULED, PREPARING, ACTIVE, ENDED, EXPIRED = "scheduled", "preparing", "active", "ended", "expired"
CANCELLED = {"cancelled_by_host", "cancelled_by_guest"}
NOT_STARTED = {SCHEDULED, PREPARING}


# --- reading everything once ---------------------------------------------------------------------------


@dataclass
class World:
    users: list[dict[str, Any]]
    txs: list[dict[str, Any]]
    fundings: list[dict[str, Any]]
    entries: list[dict[str, Any]]
    superlikes: list[dict[str, Any]]
    minis: list[dict[str, Any]]
    mini_contributions: list[dict[str, Any]]
    streams: list[dict[str, Any]]
    rentals: list[dict[str, Any]]
    completed: dict[tuple[ObjectId, str], dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.completed = {(t["userId"], t["idempotencyKey"]): t for t in self.txs if t["status"] == COMPLETED}

    def tx(self, user_id: ObjectId | None, key: str) -> dict[str, Any] | None:
        """The completed movement of `key` for `user_id`, or None."""
        return self.completed.get((user_id, key)) if user_id is not None else None

    def completed_with_prefix(self, prefix: str) -> list[dict[str, Any]]:
        return [t for t in self.txs if t["status"] == COMPLETED and t["idempotencyKey"].startswith(prefix)]

    def fundings_of(self, stream_id: ObjectId) -> list[dict[str, Any]]:
        return [f for f in self.fundings if f["liveStreamId"] == stream_id]


async def load(db: Any) -> World:
    async def everything(name: str) -> list[dict[str, Any]]:
        return await db[name].find({}).to_list()

    return World(
        users=await everything("users"),
        txs=await everything("credit_transactions"),
        fundings=await everything("fundings"),
        entries=await everything("stream_entries"),
        superlikes=await everything("superlikes"),
        minis=await everything("mini_crowd_fundings"),
        mini_contributions=await everything("mini_crowd_funding_contributions"),
        streams=await everything("live_streams"),
        rentals=await everything("replay_rentals"),
    )


# --- conservation --------------------------------------------------------------------------------------


def signed(tx: dict[str, Any]) -> int:
    return tx["amount"] if tx["direction"] == "credit" else -tx["amount"]


def is_external(tx: dict[str, Any]) -> bool:
    return tx["type"] in EXTERNAL_TYPES or tx["idempotencyKey"].startswith(EXTERNAL_KEY_PREFIX)


def goal_reached(stream: dict[str, Any]) -> bool:
    return (stream.get("collectedFunding") or 0) >= (stream.get("fundingGoal") or 0)


def paid_out(stream: dict[str, Any]) -> bool:
    return bool((stream.get("fundingPayout") or {}).get("paidAt"))


def funds_held_by_stream(stream: dict[str, Any]) -> int:
    """Credits a stream holds for its funders: taken from them, not yet given back nor paid out.

    * paid out at end: nothing (the creator/guest got their shares, the platform's is a fee);
    * cancelled, expired, or deleted before it ended: nothing - everything is owed back to the funders,
      so their refunds must have restored their balances;
    * ended with its goal unmet: nothing - funders are refunded instead (all-or-nothing);
    * otherwise (scheduled, preparing, active, ended awaiting its payout): `collectedFunding`.
    """
    if paid_out(stream):
        return 0
    if stream["status"] == ENDED:
        return stream.get("collectedFunding") or 0 if goal_reached(stream) else 0
    if stream.get("deletedAt") is not None or stream["status"] in CANCELLED or stream["status"] == EXPIRED:
        return 0
    return stream.get("collectedFunding") or 0


def entries_held_by_stream(stream: dict[str, Any]) -> int:
    """Paid entries are held by the stream until its payout at end (they can only be taken while it is
    active, so nothing is ever owed back)."""
    return 0 if (stream.get("entryPayout") or {}).get("paidAt") else stream.get("entryRevenue") or 0


def stream_fees(stream: dict[str, Any]) -> int:
    funding = int((stream.get("fundingPayout") or {}).get("platform") or 0) if paid_out(stream) else 0
    return funding + int((stream.get("entryPayout") or {}).get("platform") or 0)


@dataclass
class Period:
    """One rental period (a rental row is reused: period n = rentalNumber n) and its ledger rows."""

    rental: dict[str, Any]
    n: int
    charge: int
    refund: int
    revenue: dict[str, int]  # payee -> credited
    current: bool

    @property
    def key(self) -> str:
        return f"{self.rental['_id']}:{self.n}"

    @property
    def settled_as_revenue(self) -> bool:
        if not self.current:  # an earlier period: settled (a row is only reused once settled)
            return not self.refund
        return self.rental.get("settlement") == "revenue"

    @property
    def held(self) -> int:
        """Charged, not refunded, not (fully) paid out: held for the renter or the payees."""
        if not self.charge or self.refund or (self.settled_as_revenue and self.rental.get("settledAt")):
            return 0
        return self.charge - sum(self.revenue.values())

    @property
    def fee(self) -> int:
        """The platform's share of a period paid out to its payees."""
        if not self.charge or self.refund or not self.settled_as_revenue:
            return 0
        if self.current and not self.rental.get("settledAt"):
            return 0
        return self.charge - sum(self.revenue.values())


def periods(world: World) -> Iterable[Period]:
    for rental in world.rentals:
        for n in range(1, rental["rentalNumber"] + 1):
            ids = {"rental": rental["_id"], "n": n}
            payees = {"creator": rental.get("creatorId"), "guest": rental.get("guestId")}
            revenue = {}
            for payee, user_id in payees.items():
                tx = world.tx(user_id, RENTAL_REVENUE.format(**ids, payee=payee))
                if tx:
                    revenue[payee] = tx["amount"]
            charge = world.tx(rental["userId"], RENTAL_CHARGE.format(**ids))
            refund = world.tx(rental["userId"], RENTAL_REFUND.format(**ids))
            yield Period(
                rental,
                n,
                charge=charge["amount"] if charge else 0,
                refund=refund["amount"] if refund else 0,
                revenue=revenue,
                current=n == rental["rentalNumber"],
            )


@dataclass
class Money:
    balances: int
    held_by_streams: int
    held_by_rentals: int
    platform_fees: int
    external: int  # net credits that entered (+) or left (-) the system through external movements
    ledger_baseline: dict[ObjectId, int]  # per user: balance minus the net of completed movements

    @property
    def total(self) -> int:
        return (
            self.balances + self.held_by_streams + self.held_by_rentals + self.platform_fees - self.external
        )

    def __str__(self) -> str:
        return (
            f"{self.total} = balances {self.balances} + held by streams {self.held_by_streams}"
            f" + held by rentals {self.held_by_rentals} + platform fees {self.platform_fees}"
            f" - external {self.external}"
        )


def superlike_split(world: World, superlike: dict[str, Any]) -> tuple[int, int]:
    """(held, fee) of one superlike: what left the sender and has not reached a payee yet, and the
    platform's share of a finished one."""
    if not world.tx(superlike["senderId"], SUPERLIKE_DEBIT.format(superlike=superlike["_id"])):
        return 0, 0
    passed_on = 0
    for payee, user_id in superlike["payees"].items():
        tx = world.tx(user_id, SUPERLIKE_REVENUE.format(superlike=superlike["_id"], payee=payee))
        passed_on += tx["amount"] if tx else 0
    rest = superlike["price"] - passed_on
    return (0, rest) if superlike["status"] == "completed" else (rest, 0)


def mini_split(mini: dict[str, Any]) -> tuple[int, int]:
    """(held, fee) of a mini crowd-funding: its pot until settled; the platform's share once paid."""
    if mini["status"] == "paid":
        return 0, int(mini["payout"]["platform"])
    if mini["status"] == "refunded":
        return 0, 0
    return int(mini.get("collected") or 0), 0


def money(world: World) -> Money:
    net: dict[ObjectId, int] = defaultdict(int)
    for tx in world.completed.values():
        net[tx["userId"]] += signed(tx)
    all_periods = list(periods(world))
    return Money(
        balances=sum(u.get("credits") or 0 for u in world.users),
        held_by_streams=sum(funds_held_by_stream(s) + entries_held_by_stream(s) for s in world.streams),
        held_by_rentals=sum(p.held for p in all_periods)
        + sum(mini_split(m)[0] for m in world.minis)
        + sum(superlike_split(world, s)[0] for s in world.superlikes),
        platform_fees=sum(stream_fees(s) for s in world.streams)
        + sum(p.fee for p in all_periods)
        + sum(superlike_split(world, s)[1] for s in world.superlikes)
        + sum(mini_split(m)[1] for m in world.minis),
        external=sum(signed(t) for t in world.completed.values() if is_external(t)),
        ledger_baseline={u["_id"]: (u.get("credits") or 0) - net[u["_id"]] for u in world.users},
    )


async def snapshot(db: Any) -> Money:
    return money(await load(db))


def assert_none(problems: list[str]) -> None:
    assert not problems, "; ".join(problems)


async def check_conservation(db: Any, before: Money) -> None:
    assert_none(conservation_problems(await load(db), before))


def conservation_problems(world: World, before: Money) -> list[str]:
    after = money(world)
    problems = []
    names = {u["_id"]: u.get("username", str(u["_id"])) for u in world.users}
    for user_id, baseline in after.ledger_baseline.items():
        expected = before.ledger_baseline.get(user_id, 0)
        if baseline != expected:
            balance = next(u.get("credits") for u in world.users if u["_id"] == user_id)
            problems.append(
                f"ledger exactly-once broken for {names[user_id]}: balance {balance} but setup balance "
                f"{expected} + completed movements give {balance - baseline + expected}"
            )
    if after.total != before.total:
        problems.append(f"money not conserved: before {before}; after {after}")
    return problems


# --- states after recovery -----------------------------------------------------------------------------


def ledger_states(world: World) -> list[str]:
    bad = [f"movement {t['idempotencyKey']} left {t['status']}" for t in world.txs if t["status"] == PENDING]
    bad += [
        f"{u.get('username')} has a negative balance {u['credits']}"
        for u in world.users
        if u.get("credits", 0) < 0
    ]
    return bad


def nothing_in_flight(world: World) -> list[str]:
    bad = []
    for kind, docs in (("user", world.users), ("stream", world.streams), ("mini crowd-funding", world.minis)):
        for doc in docs:
            if doc.get("opInFlight"):
                bad.append(f"{kind} {doc['_id']} still has opInFlight {sorted(doc['opInFlight'])}")
    for stream in world.streams:
        if stream.get("followUps"):
            bad.append(
                f"stream {stream['_id']} ({stream['status']}) still has followUps {sorted(stream['followUps'])}"
            )
    return bad


def contribution_states(
    world: World, kind: str, docs: list[dict[str, Any]], debit: str, refund: str
) -> list[str]:
    """Contributions to a pot (fundings, paid entries, mini crowd-funding contributions): final exactly
    once, with ledger rows matching the status. `debit`/`refund` are key formats taking `{id}`."""
    bad = []
    for c in docs:
        debited = world.tx(c["userId"], debit.format(id=c["_id"]))
        refunded = world.tx(c["userId"], refund.format(id=c["_id"]))
        name = f"{kind} {c['_id']} ({c['amount']})"
        if c["status"] not in FUNDING_FINAL:
            bad.append(f"{name} left {c['status']}")
        elif c["status"] == "completed" and (not debited or refunded):
            bad.append(f"{name} completed with debit={bool(debited)} refund={bool(refunded)}")
        elif c["status"] == "refunded" and not (debited and refunded):
            bad.append(f"{name} refunded with debit={bool(debited)} refund={bool(refunded)}")
        elif c["status"] == "rejected" and debited and not refunded:
            bad.append(f"{name} rejected but its debit completed and was never refunded")
        if refunded and not debited:
            bad.append(f"{name} refunded without having been debited")
    return bad


def funding_states(world: World) -> list[str]:
    return contribution_states(world, "funding", world.fundings, FUNDING_DEBIT, FUNDING_REFUND)


def stream_funding_states(world: World) -> list[str]:
    """What each stream counts matches the fundings it kept; nothing is kept where it cannot be used."""
    bad = []
    for s in world.streams:
        fundings = world.fundings_of(s["_id"])
        kept = [f for f in fundings if f["status"] == "completed"]
        kept_total = sum(f["amount"] for f in kept)
        collected = s.get("collectedFunding") or 0
        what = f"stream {s['_id']} ({s['status']}{', deleted' if s.get('deletedAt') else ''})"
        gone = s["status"] in CANCELLED or s["status"] == EXPIRED
        gone = gone or (s.get("deletedAt") is not None and s["status"] != ENDED)
        if gone and kept:
            bad.append(f"{what} keeps {len(kept)} funding(s) ({kept_total}) without their refund")
        elif s["status"] in (*NOT_STARTED, ACTIVE) and not gone and collected != kept_total:
            bad.append(
                f"{what} counts collectedFunding {collected} but its completed fundings total {kept_total}"
            )
        elif s["status"] == ENDED and collected:
            bad += payout_states(world, s, kept_total, what)
    return bad


def payout_states(world: World, s: dict[str, Any], kept_total: int, what: str) -> list[str]:
    collected = s.get("collectedFunding") or 0
    if not goal_reached(s):
        if kept_total:
            return [f"{what} ended below its goal but keeps {kept_total} of fundings unrefunded"]
        return []
    if not paid_out(s):
        return [f"{what} ended with {collected} collected, never paid out"]
    if collected != kept_total:
        return [f"{what} paid out {collected} but its completed fundings total {kept_total}"]
    payout = s["fundingPayout"]
    bad = []
    if payout.get("creator", 0) + payout.get("guest", 0) + payout.get("platform", 0) != collected:
        bad.append(f"{what} payout {payout} does not add up to {collected}")
    guest_id = (s.get("guestIds") or [None])[0]
    for payee, user_id in (("creator", s["creatorId"]), ("guest", guest_id)):
        owed = payout.get(payee) or 0
        tx = world.tx(user_id, FUNDING_PAYOUT.format(stream=s["_id"], payee=payee))
        if owed and (tx is None or tx["amount"] != owed):
            bad.append(f"{what} owes {payee} {owed} but the ledger shows {tx and tx['amount']}")
    return bad


def rental_states(world: World) -> list[str]:
    bad = []
    streams = {s["_id"]: s for s in world.streams}
    for r in world.rentals:
        stream = streams.get(r["liveStreamId"]) or {}
        what = f"rental {r['_id']}#{r['rentalNumber']} ({r['status']})"
        deleted_at = stream.get("deletedAt")
        if r["status"] == "pending":
            bad.append(f"{what} left pending")
        if r.get("settlement") and not r.get("settledAt"):
            bad.append(f"{what} claimed for {r['settlement']} but never settled")
        if deleted_at is not None:
            if r["status"] in ("active", "pending") and r.get("settlement") is None:
                bad.append(f"{what} still {r['status']} on a deleted stream")
            if r.get("settlement") == "revenue" and r.get("expiresAt") and deleted_at < r["expiresAt"]:
                bad.append(f"{what} paid out although its stream was deleted inside its window")
    for p in periods(world):
        what = f"rental period {p.key}"
        if p.refund and p.revenue:
            bad.append(f"{what} both refunded and paid out")
        if p.refund and p.refund != p.charge:
            bad.append(f"{what} refunded {p.refund} for a charge of {p.charge}")
        if p.revenue and not p.charge:
            bad.append(f"{what} paid out {p.revenue} without a charge")
        if sum(p.revenue.values()) > p.charge:
            bad.append(f"{what} paid out {p.revenue}, more than its charge {p.charge}")
        if p.current and p.rental["status"] == "refunded" and p.charge and not p.refund:
            bad.append(f"{what} marked refunded but the renter never got the {p.charge} back")
        if p.current and p.rental["status"] == "expired" and p.charge and p.rental.get("settledAt"):
            shares = p.rental.get("revenueShares") or {}
            for payee in ("creator", "guest"):
                if (shares.get(payee) or 0) != p.revenue.get(payee, 0):
                    bad.append(
                        f"{what} owes {payee} {shares.get(payee)} but the ledger shows {p.revenue.get(payee)}"
                    )
    return bad


def entry_states(world: World) -> list[str]:
    """Paid entries: final, ledger rows matching, the stream's pot equal to what it kept, paid out at end."""
    bad = contribution_states(world, "entry", world.entries, ENTRY_DEBIT, ENTRY_REFUND)
    for s in world.streams:
        kept = sum(
            e["amount"] for e in world.entries if e["liveStreamId"] == s["_id"] and e["status"] == "completed"
        )
        pot = s.get("entryRevenue") or 0
        if pot != kept:
            bad.append(f"stream {s['_id']} counts entryRevenue {pot} but its completed entries total {kept}")
        if s["status"] == ENDED and pot:
            payout = s.get("entryPayout") or {}
            if not payout.get("paidAt"):
                bad.append(f"stream {s['_id']} ended with {pot} of paid entries never paid out")
            elif sum(payout.get(k, 0) for k in ("creator", "guest", "platform")) != pot:
                bad.append(f"stream {s['_id']} entry payout {payout} does not add up to {pot}")
            guest_id = (s.get("guestIds") or [None])[0]
            for payee, user_id in (("creator", s["creatorId"]), ("guest", guest_id)):
                owed = payout.get(payee) or 0
                tx = world.tx(user_id, ENTRY_PAYOUT.format(stream=s["_id"], payee=payee))
                if owed and (tx is None or tx["amount"] != owed):
                    bad.append(
                        f"stream {s['_id']} owes the {payee} {owed} of entries but paid {tx and tx['amount']}"
                    )
    return bad


def superlike_states(world: World) -> list[str]:
    bad = []
    for s in world.superlikes:
        debit = world.tx(s["senderId"], SUPERLIKE_DEBIT.format(superlike=s["_id"]))
        name = f"superlike {s['_id']}"
        if s["status"] == "pending":
            bad.append(f"{name} left pending")
        elif s["status"] == "rejected" and debit:
            bad.append(f"{name} rejected but the sender was debited")
        elif s["status"] == "completed":
            for payee, user_id in s["payees"].items():
                owed = s["shares"][payee] if user_id else 0
                tx = world.tx(user_id, SUPERLIKE_REVENUE.format(superlike=s["_id"], payee=payee))
                if not debit or (tx["amount"] if tx else 0) != owed:
                    bad.append(f"{name} completed but the {payee} got {tx and tx['amount']} of {owed}")
    return bad


def mini_states(world: World) -> list[str]:
    """Mini crowd-fundings: contributions final with matching ledger rows; each pot equals what it kept;
    settled ones paid out (goal reached) or fully refunded."""
    bad = contribution_states(world, "mini contribution", world.mini_contributions, MINI_DEBIT, MINI_REFUND)
    for m in world.minis:
        kept = [
            c
            for c in world.mini_contributions
            if c["miniCrowdFundingId"] == m["_id"] and c["status"] == "completed"
        ]
        kept_total = sum(c["amount"] for c in kept)
        name = f"mini crowd-funding {m['_id']} ({m['status']})"
        if m["status"] == "refunded" and kept:
            bad.append(f"{name} keeps {kept_total} unrefunded")
        elif m["status"] != "refunded" and (m.get("collected") or 0) != kept_total:
            bad.append(
                f"{name} counts {m.get('collected')} but its completed contributions total {kept_total}"
            )
        if m["status"] == "paid":
            payout = m["payout"]
            if sum(payout.get(k, 0) for k in ("creator", "guest", "platform")) != kept_total:
                bad.append(f"{name} payout {payout} does not add up to {kept_total}")
            guest_id = (m.get("guestIds") or [None])[0]
            for payee, user_id in (("creator", m["creatorId"]), ("guest", guest_id)):
                owed = payout.get(payee) or 0
                tx = world.tx(user_id, MINI_PAYOUT.format(mini=m["_id"], payee=payee))
                if owed and (tx is None or tx["amount"] != owed):
                    bad.append(f"{name} owes the {payee} {owed} but paid {tx and tx['amount']}")
    return bad


def whole_credits(world: World) -> list[str]:
    """Credits are whole numbers: every balance and every movement's amount is an int (a share computed
    with `/` instead of `//` conserves numerically, 24.0 == 24, and is still wrong)."""
    problems = [
        f"user {u['_id']}: balance {u.get('credits')!r} is not a whole number of credits"
        for u in world.users
        if type(u.get("credits", 0)) is not int
    ]
    problems += [
        f"movement {t.get('idempotencyKey')}: amount {t.get('amount')!r} is not a whole number of credits"
        for t in world.txs
        if type(t.get("amount")) is not int
    ]
    return problems


CHECKS = (
    whole_credits,
    ledger_states,
    nothing_in_flight,
    funding_states,
    stream_funding_states,
    entry_states,
    superlike_states,
    mini_states,
    rental_states,
)


def violations(world: World) -> list[str]:
    return [problem for check in CHECKS for problem in check(world)]


async def check_all(db: Any, ctx: Any = None) -> None:
    """Every state invariant; raises AssertionError listing each violation."""
    problems = violations(await load(db))
    assert not problems, "; ".join(problems)
