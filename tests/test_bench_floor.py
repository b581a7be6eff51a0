"""The bench's references answer what the app answers (issue 25 item 2): on the bench dataset, every read
scenario gets the same status and the same body bytes (the envelope's timestamp aside) from the app,
the FastAPI floor (`bench/floor.py`) and the Starlette baseline, so their CPU ratios compare like work;
the floor's write routes answer too."""

import re
from typing import Any

import httpx
import orjson
import pytest
from bson import ObjectId
from fastapi import FastAPI

from app.core.security import create_access_token
from bench import dataset as bench_dataset
from bench.baseline import create_baseline_app
from bench.floor import create_floor_app
from bench.runner import transport_requests
from bench.scenarios import KEYS, scenarios

TIMESTAMP = re.compile(rb'"timestamp":"[^"]*"')
# A tenth of one scale unit: every kind of document and fixture, at a size the rule checks of the
# embedded engine (tests/mongo_rules) judge in a second or two instead of ~25 s.
SMALL_UNIT = {
    "JOIN_EVENTS_PER_UNIT": 1_000,
    "USERS_PER_UNIT": 100,
    "STREAMS_PER_UNIT": 60,
    "ACTIVE_PER_UNIT": 4,
    "FUNDINGS_PER_UNIT": 100,
}


async def _bench_ready(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name, value in SMALL_UNIT.items():
        monkeypatch.setattr(bench_dataset, name, value)
    dataset = bench_dataset.build(1, seed=7)
    await bench_dataset.load(app.state.db, dataset)
    fixtures = dataset.fixtures
    users = [fixtures.fan, fixtures.guest, *fixtures.actors]
    tokens = {user: create_access_token(app.state.settings, ObjectId(user)) for user in users}
    return {"fixtures": vars(fixtures), "tokens": tokens}


async def _answer(target: Any, call: Any) -> tuple[int, bytes]:
    transport = httpx.ASGITransport(app=target, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.request(call.method, call.path, headers=call.headers, json=call.json)
    return response.status_code, TIMESTAMP.sub(b'"timestamp":""', response.content)


async def test_floor_and_baseline_answer_the_apps_bytes(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = await _bench_ready(app, monkeypatch)
    floor, baseline = create_floor_app(app), create_baseline_app(app)
    chosen = scenarios(ready)
    assert {s.key for s in chosen} == set(KEYS)
    for scenario in (s for s in chosen if s.read):
        call = scenario.make(0)
        expected = await _answer(app, call)
        assert expected[0] == 200, (scenario.key, expected)
        assert await _answer(floor, call) == expected, scenario.key
        assert await _answer(baseline, call) == expected, scenario.key
    for scenario in (s for s in chosen if not s.read):  # writes change data: each target its own request
        status, body = await _answer(floor, scenario.make(1))
        assert status == 200, (scenario.key, body)


async def test_transport_floor_answers_the_sized_constant_bytes(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The baseline server's transport floor (issue 25 item 3) answers JSON of exactly the scenario's
    # answer size for its method, headers and body, without calling a service.
    ready = await _bench_ready(app, monkeypatch)
    baseline = create_baseline_app(app)
    for scenario in scenarios(ready):
        call = scenario.make(0)
        size = len((await _answer(baseline, call))[1]) if scenario.read else 300
        status, body = await _answer(baseline, transport_requests(scenario, size)(0))
        assert status == 200 and len(body) == size, scenario.key
        assert orjson.loads(body) == {"data": "x" * (size - 11)}
