"""Named checks of the exactly-once primitive itself (`OnceHolder`, app/core/once.py; docs/money.md
section 1) for the mutants the harness's schedules let survive (issue 23, round 4): holders written
before `opVersion` existed, what a runner gets back when the decision is already taken or the operation
already final, the 409 a runner that keeps losing the race answers and its bounded back-off, per-holder
serialisation, and the "older than 5 minutes" bound on dropping leftover entries.

Each drives a local `OnceHolder` on a scratch collection (no domain code), so a check costs a few
milliseconds; what is expected comes from the contract written in the module docstring, never from the
primitive's own records.
"""

import asyncio
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from app.core import once
from app.core.errors import Conflict, ErrorCode
from app.core.once import IN_FLIGHT, MAX_ATTEMPTS, PRUNE_AFTER, VERSION, OnceHolder, Rule
from app.core.timeutils import utcnow
from tests.money.harness import fresh_database

APPLIED = "applied"


class ScratchHolders(OnceHolder):
    """Holders with one counter, `pot`, in a collection of their own."""

    collection_name: ClassVar[str] = "once_r4_scratch"

    def __init__(self, db: Any) -> None:
        self.collection = db[self.collection_name]


def add(amount: int) -> Any:
    def rule(holder: dict[str, Any]) -> Rule:
        return Rule(APPLIED, condition={"pot": holder["pot"]}, effect={"$inc": {"pot": amount}})

    return rule


async def never_final() -> bool:
    return False


def must_not_decide(holder: dict[str, Any]) -> Rule:
    raise AssertionError(f"decided again on {holder}")


async def test_a_holder_written_before_op_version_existed_takes_its_first_decision() -> None:
    """A holder stored before `opVersion` existed has no such field: it reads as version 0, and the
    first decision is written (and creates the field: `opVersion` counts the holder's decisions, 1 after
    the first) instead of losing a race that never happened."""
    async with fresh_database() as db:
        holders = ScratchHolders(db)
        await holders.collection.insert_one({"_id": "old", "pot": 5})

        decided = await holders.decide_once(
            "old", "op-1", op_is_final=never_final, rule=add(10), projection=("pot",)
        )

        assert decided.outcome == APPLIED
        stored = await holders.collection.find_one({"_id": "old"})
        assert stored["pot"] == 15 and stored[VERSION] == 1, stored
        assert stored[IN_FLIGHT]["op-1"]["d"] == APPLIED


async def test_a_runner_that_finds_the_decision_recorded_gets_it_with_the_holder_as_read() -> None:
    """Another runner decided the operation and has not forgotten it yet: this runner takes that
    decision, writes nothing, and gets the holder as it read it (a funding's answer is presented from
    that holder's pot: without it the answer would miss the funding's own increment)."""
    async with fresh_database() as db:
        holders = ScratchHolders(db)
        entry = {"d": APPLIED, "at": utcnow(), "balance": 40}
        await holders.collection.insert_one({"_id": "h", "pot": 40, VERSION: 3, IN_FLIGHT: {"op-1": entry}})

        decided = await holders.decide_once(
            "h", "op-1", op_is_final=never_final, rule=must_not_decide, projection=("pot",)
        )

        assert decided.outcome == APPLIED and decided.entry["balance"] == 40
        assert decided.holder is not None and decided.holder["pot"] == 40, decided.holder
        stored = await holders.collection.find_one({"_id": "h"})
        assert stored["pot"] == 40 and stored[VERSION] == 3, "a recorded decision was written again"


async def test_a_runner_that_finds_the_operation_final_decides_nothing() -> None:
    """The operation was decided, finished and forgotten by another runner: no decision (outcome None),
    an empty entry a caller may read like any other, and the holder as read; nothing is written."""
    async with fresh_database() as db:
        holders = ScratchHolders(db)
        await holders.collection.insert_one({"_id": "h", "pot": 7, VERSION: 2, IN_FLIGHT: {}})

        async def final() -> bool:
            return True

        decided = await holders.decide_once(
            "h", "op-1", op_is_final=final, rule=must_not_decide, projection=("pot",)
        )

        assert decided.outcome is None
        assert decided.entry == {} and decided.entry.get("balance") is None, decided.entry
        assert decided.holder["pot"] == 7
        assert (await holders.collection.find_one({"_id": "h"}))[VERSION] == 2


class LosingEveryRace:
    """`op_is_final` that lets another decision slip in before each write (the holder's version moves),
    so every conditional write of the runner matches nothing; back-offs are recorded, not slept."""

    def __init__(self, holders: ScratchHolders, monkeypatch: pytest.MonkeyPatch) -> None:
        self.holders, self.reads, self.sleeps = holders, 0, list[float]()

        async def sleep(delay: float) -> None:
            self.sleeps.append(delay)

        # The upper end of every jitter range, so the bound itself is what is checked.
        monkeypatch.setattr(once, "asyncio", SimpleNamespace(sleep=sleep, Lock=asyncio.Lock))
        monkeypatch.setattr(once, "random", SimpleNamespace(uniform=lambda low, high: max(low, high)))

    async def op_is_final(self) -> bool:
        self.reads += 1
        await self.holders.collection.update_one({"_id": "h"}, {"$inc": {VERSION: 1, "pot": 1}})
        return False


async def test_a_runner_that_keeps_losing_the_race_answers_409_request_in_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After MAX_ATTEMPTS lost races the runner gives up with the documented 409: code
    REQUEST_IN_PROGRESS and "the request is being processed; try again" (the client retries with the
    same Idempotency-Key); it wrote nothing."""
    async with fresh_database() as db:
        holders = ScratchHolders(db)
        await holders.collection.insert_one({"_id": "h", "pot": 0, VERSION: 0, IN_FLIGHT: {}})
        race = LosingEveryRace(holders, monkeypatch)

        with pytest.raises(Conflict) as caught:
            await holders.decide_once(
                "h", "op-1", op_is_final=race.op_is_final, rule=add(10), projection=("pot",)
            )

        assert caught.value.code == ErrorCode.REQUEST_IN_PROGRESS
        assert caught.value.detail == "the request is being processed; try again"
        assert caught.value.messages[-1] == "the request is being processed; try again"
        assert race.reads == MAX_ATTEMPTS
        stored = await holders.collection.find_one({"_id": "h"})
        assert stored["pot"] == MAX_ATTEMPTS and "op-1" not in stored[IN_FLIGHT], stored


async def test_the_back_off_after_a_lost_race_grows_by_1_ms_up_to_10_ms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pause after the n-th lost race is at most n ms, capped at 10 ms (a retry storm is damped
    without turning a busy holder into seconds of latency per request)."""
    async with fresh_database() as db:
        holders = ScratchHolders(db)
        await holders.collection.insert_one({"_id": "h", "pot": 0, VERSION: 0, IN_FLIGHT: {}})
        race = LosingEveryRace(holders, monkeypatch)

        with pytest.raises(Conflict):
            await holders.decide_once(
                "h", "op-1", op_is_final=race.op_is_final, rule=add(10), projection=("pot",)
            )

        assert len(race.sleeps) == MAX_ATTEMPTS
        bounds = [0.001 * min(attempt, 10) for attempt in range(MAX_ATTEMPTS)]
        assert race.sleeps == pytest.approx(bounds), race.sleeps[:12]


async def test_a_decision_on_one_holder_does_not_wait_for_a_decision_on_another() -> None:
    """The in-process serialisation is per holder: while a runner on holder A waits (here: on its
    operation's document, until a decision on holder B is taken), a runner on holder B proceeds. One
    lock for every holder would stall every money request of the process behind one slow read (here:
    forever)."""
    assert once.SERIALISE_IN_PROCESS, "run as the app runs: serialised in process"
    async with fresh_database() as db:
        holders = ScratchHolders(db)
        await holders.collection.insert_many([{"_id": name, "pot": 0, VERSION: 0} for name in ("A", "B")])
        b_decided = asyncio.Event()

        async def a_waits_for_b() -> bool:
            await b_decided.wait()
            return False

        async def decide_b() -> Any:
            decided = await holders.decide_once(
                "B", "op-b", op_is_final=never_final, rule=add(2), projection=("pot",)
            )
            b_decided.set()
            return decided

        a, b = await asyncio.wait_for(
            asyncio.gather(
                holders.decide_once("A", "op-a", op_is_final=a_waits_for_b, rule=add(1), projection=("pot",)),
                decide_b(),
            ),
            timeout=2,
        )
        assert a.outcome == b.outcome == APPLIED
        pots = {doc["_id"]: doc["pot"] for doc in await holders.collection.find({}).to_list()}
        assert pots == {"A": 1, "B": 2}, pots


async def test_an_entry_exactly_5_minutes_old_is_not_yet_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision drops leftover entries of final operations *older than* PRUNE_AFTER (docs/money.md
    section 1): one exactly that old stays until a later decision, one a millisecond older goes."""
    async with fresh_database() as db:
        holders = ScratchHolders(db)
        now = datetime.fromisoformat("2026-12-06T12:00:00.000+00:00")
        monkeypatch.setattr(once, "utcnow", lambda: now)
        entries = {
            "at-bound": {"d": APPLIED, "at": now - PRUNE_AFTER},
            "past-bound": {"d": APPLIED, "at": now - PRUNE_AFTER - timedelta(milliseconds=1)},
        }
        await holders.collection.insert_one({"_id": "h", "pot": 0, VERSION: 4, IN_FLIGHT: entries})

        async def all_final(keys: list[Any]) -> set[str]:
            return {str(key) for key in keys}

        await holders.decide_once(
            "h", "op-1", op_is_final=never_final, rule=add(1), final_among=all_final, projection=("pot",)
        )

        stored = await holders.collection.find_one({"_id": "h"})
        assert set(stored[IN_FLIGHT]) == {"at-bound", "op-1"}, stored[IN_FLIGHT]
