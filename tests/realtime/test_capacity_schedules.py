"""Socket capacity × concurrent joins in every schedule (issue 26): the `joinStream` handler of one
socket, run in-process with the join itself held at its await point, for every order in which the
pending joins finish (some failing), with a second wave of joins arriving in between.

Invariant: at every step the socket holds at most `max_streams_per_socket` streams (joined or being
joined); at the end every acked join is a joined stream, every refused one is not, and no place is
left reserved. The real-socket version is in test_abuse.py (`TestCapacityUnderConcurrency`).
"""

import asyncio
import itertools
import time
from typing import Any

import pytest
from bson import ObjectId

from app.core.errors import NotFound
from app.realtime.limits import RealtimeLimits, SocketLimiter
from app.realtime.namespaces import LiveStreamNamespace, SocketState

LIMIT = 3


class SteppedRealtime:
    """The part of `Realtime` the handler uses; `join` waits until the schedule releases it."""

    def __init__(self, failing: set[ObjectId]) -> None:
        self.limits = RealtimeLimits(max_streams_per_socket=LIMIT)
        self.wall = time.time
        self.failing = failing
        self.gates: dict[ObjectId, asyncio.Event] = {}
        self.started: list[ObjectId] = []

    async def join(self, user: Any, stream_id: ObjectId) -> tuple[dict[str, Any], bool]:
        self.started.append(stream_id)
        gate = self.gates.setdefault(stream_id, asyncio.Event())
        await gate.wait()
        if stream_id in self.failing:
            raise NotFound("no such stream")
        return {"streamId": str(stream_id)}, False

    async def viewer_count(self, stream_id: ObjectId) -> int:
        return 0

    async def blocked_meanwhile(self, user: Any, stream_id: ObjectId) -> bool:
        return False  # bans × joins have their own harness (tests/money/test_rules_harness.py)

    def spawn(self, coro: Any) -> None:
        coro.close()


def namespace_for(rt: SteppedRealtime) -> tuple[LiveStreamNamespace, SocketState]:
    namespace = LiveStreamNamespace(rt)  # type: ignore[arg-type]
    state = SocketState(None, SocketLimiter(rt.limits))
    namespace.sockets["sid"] = state

    async def no_room(*_: Any) -> None:
        return None

    namespace.enter_room = no_room  # type: ignore[method-assign]
    return namespace, state


async def run_schedule(order: tuple[int, ...], failing_index: int | None, second_wave_after: int) -> None:
    streams = [ObjectId() for _ in range(LIMIT + 2)]
    later = [ObjectId() for _ in range(2)]
    failing = {streams[failing_index]} if failing_index is not None else set()
    rt = SteppedRealtime(failing)
    namespace, state = namespace_for(rt)

    def check() -> None:
        assert len(state.streams) + len(state.reserved) <= LIMIT
        assert not (set(state.streams) & state.reserved)

    async def join(stream_id: ObjectId) -> dict[str, Any]:
        return await namespace.on_joinStream("sid", {"streamId": str(stream_id)})

    first = {s: asyncio.create_task(join(s)) for s in streams}
    await asyncio.sleep(0)
    check()
    pending = [s for s in streams if s in rt.started]  # the ones holding a place
    second: dict[ObjectId, asyncio.Task[dict[str, Any]]] = {}
    for step, index in enumerate(order):
        if index < len(pending):
            rt.gates[pending[index]].set()
        for _ in range(3):
            await asyncio.sleep(0)
        check()
        if step + 1 == second_wave_after:
            second = {s: asyncio.create_task(join(s)) for s in later}
            await asyncio.sleep(0)
            check()
    for gate in [*rt.gates.values()]:
        gate.set()
    for s in later:
        rt.gates.setdefault(s, asyncio.Event()).set()
    acks = {s: await task for s, task in {**first, **second}.items()}
    check()
    assert not state.reserved
    admitted = {s for s, ack in acks.items() if ack["ok"]}
    assert admitted == set(state.streams)
    assert len(admitted) <= LIMIT
    for s, ack in acks.items():
        if s in failing and s in rt.started:
            assert ack["statusCode"] == 404
        elif not ack["ok"]:
            assert ack["statusCode"] == 429 and s not in rt.started  # refused before any await


SCHEDULES = [
    (order, failing, wave)
    for order in itertools.permutations(range(LIMIT))
    for failing in (None, 0, 1, 2, LIMIT + 1)
    for wave in (1, LIMIT)
]


@pytest.mark.parametrize(("order", "failing", "wave"), SCHEDULES)
async def test_capacity_holds_in_every_schedule(
    order: tuple[int, ...], failing: int | None, wave: int
) -> None:
    await run_schedule(order, failing, wave)


async def test_the_schedules_do_interleave() -> None:
    """Proof the harness holds joins at their await: all LIMIT places are taken before any finishes."""
    rt = SteppedRealtime(set())
    namespace, state = namespace_for(rt)
    tasks = [
        asyncio.create_task(namespace.on_joinStream("sid", {"streamId": str(ObjectId())}))
        for _ in range(LIMIT + 2)
    ]
    await asyncio.sleep(0)
    assert len(rt.started) == LIMIT and len(state.reserved) == LIMIT and not state.streams
    for gate in rt.gates.values():
        gate.set()
    acks = await asyncio.gather(*tasks)
    assert sum(a["ok"] for a in acks) == LIMIT
