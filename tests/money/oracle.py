"""Independent oracles: what every party is owed, computed by the test from the rules - never from the
shares, fees or payout records the code wrote (issue 23).

The rules (docs/money.md, spec "Revenue split"):

* a pot or a price is shared solo 80 % to the creator; duocrowd / duoself 40 % creator + 40 % guest;
  the platform keeps the rest (and the rounding: each share is rounded down to whole credits);
* a crowd-funding is all or nothing: when its stream ends, the goal is reached ⇔ Σ counted ≥ goal
  (exactly at the goal included) and it is paid out, else every funder gets everything back; a stream
  cancelled, expired or deleted before it ended gives everything back;
* a mini crowd-funding is the same, settled when its stream ends or its deadline passes;
* paid entries are held until the stream ends, then paid out (no goal);
* a superlike costs its sender 10 credits, shared like the pots;
* a replay rental period charged is refunded when its stream is deleted inside its 24 h window,
  else paid out to the payees once the window has closed.

"Counted" is the one fact taken from the code's records: a contribution the pot took (it is `completed`,
or `refunded` by a refund-all - not given straight back, which is `failure: "not_open"` and `voided`).
A contribution still `pending` whose debit went through (a set-up's crashed request) is held like a counted
one until it is decided. Whether it is then kept, paid or given back is decided here. For each user:

    balance - rule_effect - external == the same at setup

so a wrong split, a pot paid at the wrong boundary, a refund that misses a contribution or a payout that
never happened moves a balance away from what the rules give.
"""

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bson import ObjectId

from tests.money import invariants
from tests.money.invariants import COMPLETED, World

SOLO, DUO_TYPES = "solo", ("duocrowd", "duoself")
SUPERLIKE_PRICE = 10
PERCENT = {"solo": (80, 0), "duocrowd": (40, 40), "duoself": (40, 40)}
NEVER_ENDS = {"cancelled_by_host", "cancelled_by_guest", "expired"}


def rule_shares(amount: int, stream: dict[str, Any]) -> dict[str, int]:
    """{creator, guest} owed for `amount` taken on `stream` (the platform keeps the rest)."""
    creator_pct, guest_pct = PERCENT[stream["liveStreamType"]]
    has_guest = stream["liveStreamType"] in DUO_TYPES and bool(stream.get("guestIds"))
    return {"creator": amount * creator_pct // 100, "guest": amount * guest_pct // 100 if has_guest else 0}


def payees(stream: dict[str, Any]) -> dict[str, ObjectId | None]:
    guests = stream.get("guestIds") or []
    guest = guests[0] if stream["liveStreamType"] in DUO_TYPES and guests else None
    return {"creator": stream["creatorId"], "guest": guest}


def counted(c: dict[str, Any]) -> bool:
    """The pot took it (see the module docstring)."""
    return c["status"] == COMPLETED or (c["status"] == "refunded" and c.get("failure") != "not_open")


class Effects:
    def __init__(self) -> None:
        self.by_user: dict[ObjectId, int] = defaultdict(int)
        self.problems: list[str] = []

    def add(self, user_id: ObjectId | None, amount: int) -> None:
        if user_id is not None:
            self.by_user[user_id] += amount

    def pay(self, amount: int, stream: dict[str, Any]) -> None:
        shares = rule_shares(amount, stream)
        for payee, user_id in payees(stream).items():
            self.add(user_id, shares[payee])


def pot(
    effects: Effects,
    contributions: list[dict[str, Any]],
    fate: str,
    stream: dict[str, Any],
    debited: Callable[[dict[str, Any]], bool] = lambda c: False,
) -> None:
    """`fate`: "held" (still open or not settled yet), "paid", "refunded" or "goal" (all or nothing:
    paid when Σ counted ≥ goal). `debited(c)`: the contribution's debit went through - a contribution
    still pending with its debit taken (a setup's crashed request) is held like a counted one until it is
    decided: counted, or given back."""
    taken = [c for c in contributions if counted(c) or (c["status"] == "pending" and debited(c))]
    total = sum(c["amount"] for c in taken)
    if fate == "goal":
        fate = "paid" if total >= int(stream.get("goal") or stream.get("fundingGoal") or 0) else "refunded"
    if fate == "refunded":
        return
    for c in taken:
        effects.add(c["userId"], -c["amount"])
    if fate == "paid" and total:
        effects.pay(total, stream)


def effects(world: World, now: datetime) -> Effects:
    """Each user's net from every priced action, by the rules."""
    e = Effects()
    streams = {s["_id"]: s for s in world.streams}

    def debited(kind: str) -> Callable[[dict[str, Any]], bool]:
        return lambda c: world.tx(c["userId"], f"{kind}:{c['_id']}") is not None

    by_stream: dict[tuple[str, ObjectId], list[dict[str, Any]]] = defaultdict(list)
    for f in world.fundings:
        by_stream["funding", f["liveStreamId"]].append(f)
    for entry in world.entries:
        by_stream["entry", entry["liveStreamId"]].append(entry)
    for s in streams.values():
        ended = s["status"] == invariants.ENDED
        gone = s["status"] in NEVER_ENDS or (s.get("deletedAt") is not None and not ended)
        funding_fate = "goal" if ended else "refunded" if gone else "held"
        pot(e, by_stream["funding", s["_id"]], funding_fate, s, debited("funding"))
        entry_fate = "paid" if ended else "refunded" if gone else "held"
        pot(e, by_stream["entry", s["_id"]], entry_fate, s, debited("entry"))
    for m in world.minis:
        stream = streams[m["liveStreamId"]]
        due = stream["status"] != invariants.ACTIVE or m["deadline"] <= now
        mine = [c for c in world.mini_contributions if c["miniCrowdFundingId"] == m["_id"]]
        pot(e, mine, "goal" if due else "held", {**stream, "goal": m["goal"]}, debited("mini-funding"))
    for like in world.superlikes:
        if like["status"] == COMPLETED:
            e.add(like["senderId"], -SUPERLIKE_PRICE)
            e.pay(SUPERLIKE_PRICE, streams[like["liveStreamId"]])
    for rental in world.rentals:
        stream = streams[rental["liveStreamId"]]
        n = rental["rentalNumber"]
        charge = world.tx(rental["userId"], invariants.RENTAL_CHARGE.format(rental=rental["_id"], n=n))
        if not charge:
            continue  # nothing taken (earlier periods are settled: the harness rents once per row)
        expires, deleted = rental.get("expiresAt"), stream.get("deletedAt")
        if expires is None or (deleted is not None and deleted < expires):
            continue  # never opened, or its stream deleted inside the window: given back
        e.add(rental["userId"], -charge["amount"])
        if expires <= now:
            e.pay(charge["amount"], stream)
    return e


def rule_baselines(world: World, now: datetime) -> dict[ObjectId, int]:
    """Per user: balance minus what the rules say the priced actions did minus external movements."""
    e = effects(world, now)
    external: dict[ObjectId, int] = defaultdict(int)
    for tx in world.completed.values():
        if invariants.is_external(tx):
            external[tx["userId"]] += invariants.signed(tx)
    return {u["_id"]: (u.get("credits") or 0) - e.by_user[u["_id"]] - external[u["_id"]] for u in world.users}


def balance_problems(before: dict[ObjectId, int], world: World, now: datetime) -> list[str]:
    after = rule_baselines(world, now)
    names = {u["_id"]: u.get("username", str(u["_id"])) for u in world.users}
    credits = {u["_id"]: u.get("credits") or 0 for u in world.users}
    return [
        f"{names[user_id]} has {credits[user_id]} credits, the rules give {credits[user_id] - got + want}"
        for user_id, got in after.items()
        if got != (want := before.get(user_id, 0))
    ]


# --- count invariants and bookkeeping flags ---------------------------------------------------------


def count_problems(world: World) -> list[str]:
    bad = []
    paid = Counter((e["userId"], e["liveStreamId"]) for e in world.entries if e["status"] == COMPLETED)
    bad += [f"viewer {u} paid the entry of stream {s} {n} times" for (u, s), n in paid.items() if n > 1]
    likes = Counter((s["senderId"], s["idempotencyKey"]) for s in world.superlikes)
    bad += [f"{n} superlikes for one key {k}" for (_, k), n in likes.items() if n > 1]
    rentals = Counter((r["userId"], r["liveStreamId"]) for r in world.rentals)
    bad += [f"{n} rental rows of one renter for stream {s}" for (_, s), n in rentals.items() if n > 1]
    for r in world.rentals:
        charges = [
            t
            for t in world.txs
            if t["userId"] == r["userId"]
            and t["idempotencyKey"].startswith(f"replay-rental:{r['_id']}:")
            and t["status"] == COMPLETED
        ]
        if len(charges) > r["rentalNumber"]:
            bad.append(f"rental {r['_id']} charged {len(charges)} times for {r['rentalNumber']} period(s)")
    for kind, docs in (("funding", world.fundings), ("mini contribution", world.mini_contributions)):
        keys = Counter((c["userId"], c["idempotencyKey"]) for c in docs)
        bad += [f"{n} {kind}s for one key {k}" for (_, k), n in keys.items() if n > 1]
    return bad


def void_problems(world: World) -> list[str]:
    """A debit given straight back (the pot never took it) is voided with its refund; a refund of a
    counted contribution is not (the user sees both). History (completed, not voided) nets to the
    balance change either way, so every voided pair must cancel out."""
    bad = []
    kinds = (
        ("funding", world.fundings),
        ("entry", world.entries),
        ("mini-funding", world.mini_contributions),
    )
    for kind, docs in kinds:
        for c in docs:
            debit = world.tx(c["userId"], f"{kind}:{c['_id']}")
            refund = world.tx(c["userId"], f"{kind}-refund:{c['_id']}")
            if not (debit and refund):
                continue
            straight_back = not counted(c)
            for tx in (debit, refund):
                if bool(tx.get("voided")) != straight_back:
                    what = "given straight back but not voided" if straight_back else "voided"
                    bad.append(f"{kind} {c['_id']} ({c['status']}): {tx['idempotencyKey']} {what}")
    voided = defaultdict(int)
    for tx in world.completed.values():
        if tx.get("voided"):
            voided[tx["userId"]] += invariants.signed(tx)
    bad += [f"user {u}'s voided movements net {n}, not 0" for u, n in voided.items() if n]
    return bad


def problems(world: World, before: dict[ObjectId, int], now: datetime) -> list[str]:
    return balance_problems(before, world, now) + count_problems(world) + void_problems(world)


async def history_problems(
    db: Any, world: World, ledger_baseline: dict[ObjectId, int] | None = None
) -> list[str]:
    """What `GET /users/me/transactions` lists (the ledger's history query): exactly the completed, not
    voided movements, newest first, counted right; filtered by direction, only those. Each row's running
    balance (`balanceAfter`, recomputed over the visible chain) is the user's balance less every newer
    visible movement.

    With `ledger_baseline` (per user: the balance less every completed movement, taken at setup, when
    nothing was in flight) the newest row's balance is that baseline plus every completed movement since:
    the balance less the movements applied whose row is not final yet (a crash between the two writes),
    known here without reading the code's own in-flight records."""
    from app.users.credits import CreditLedger, CreditTransactionRepository, Direction

    repository = CreditTransactionRepository(db)
    ledger = CreditLedger(db)
    bad = []
    for user in world.users:
        visible = [t for t in world.txs if t["userId"] == user["_id"] and t["status"] == COMPLETED]
        visible = [t for t in visible if not t.get("voided")]
        visible.sort(key=lambda t: (t["occurredAt"], t["_id"]), reverse=True)
        for direction in (None, Direction.debit):
            want = [t["_id"] for t in visible if direction is None or t["direction"] == direction]
            listed, total = await repository.history(
                user["_id"],
                types=None,
                direction=direction,
                date_from=None,
                date_to=None,
                descending=True,
                skip=0,
                limit=1000,
            )
            got = [t["_id"] for t in listed]
            if got != want or total != len(want):
                bad.append(
                    f"{user.get('username')}'s history ({direction or 'all'}) lists {len(got)} of {total}: "
                    f"{[t['idempotencyKey'] for t in listed]}, the ledger gives {len(want)}"
                )
            if direction is None and got == want:
                running, expected = user["credits"], []
                if ledger_baseline is not None and user["_id"] in ledger_baseline:
                    mine = [t for t in world.completed.values() if t["userId"] == user["_id"]]
                    running = ledger_baseline[user["_id"]] + sum(invariants.signed(t) for t in mine)
                for t in visible:
                    expected.append(running)
                    running -= t["amount"] if t["direction"] == Direction.credit else -t["amount"]
                shown = [row.get("balanceAfter") for row in await ledger.with_balances(user["_id"], listed)]
                if shown != expected:
                    bad.append(
                        f"{user.get('username')}'s history shows balances {shown}, the ledger gives {expected}"
                    )
    return bad
