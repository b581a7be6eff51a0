"""Contract fuzzing: schemathesis drives every operation of our own OpenAPI document in-process.

Each operation is fuzzed with schema-valid (positive) inputs and, when it takes any input, with
schema-invalid (negative) ones; each generated request is sent anonymously and as a user with credits.
Every answer must be documented (status code, content type, body schema), never a 5xx, and always
the Allmine envelope. On top of the schema: a valid token is never answered 401, and an anonymous
caller never gets a 2xx from an endpoint whose spec requires a token. Generated ids are mixed with
the ids of real users and streams in every state, so handlers run past their 404 branch. Hypothesis
is derandomized and bounded (a few examples per operation), so the run is deterministic and quick.
"""

import atexit
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.core.errors import ErrorCode
from app.main import create_app
from tests.conftest import MONGODB_TEST_URL, make_settings

# A few examples per operation keep CI fast; FUZZ_MAX_EXAMPLES=200 digs deeper locally.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "6"))
ENVELOPE_KEYS = {"isSuccess", "statusCode", "data", "errors", "timestamp"}
ERROR_CODES = {code.value for code in ErrorCode}

# docs/contract.md (auth modes): endpoints an anonymous caller may use (auth "optional" or "none"), plus our operational
# and development endpoints. Every other operation must refuse anonymous callers.
ANONYMOUS_ALLOWED = {
    "GET /health",
    "GET /ready",
    "GET /health/jobs",
    "POST /api/v1/dev/users",
    "POST /api/v1/dev/token",
    "GET /api/v1/live-stream/most-watched-creators",
    "GET /api/v1/live-stream/user/{userId}/active-stream",
    "GET /api/v1/live-stream/catch-streamers",
    "GET /api/v1/live-stream/featured",
    "GET /api/v1/live-stream/user/{userId}/past-streams",
    "GET /api/v1/live-stream/user/{userId}/upcoming-live-streams",
    "GET /api/v2/live-stream/user/{userId}/upcoming-live-streams",
}


# The module's app: its document gives the parameters at collection, and `world` serves it (building
# an app and its OpenAPI document costs a second or two, so each process does it once, not twice).
_MEDIA = tempfile.mkdtemp(prefix="allmine-fuzz-media-")
atexit.register(shutil.rmtree, _MEDIA, True)
APP = create_app(make_settings(media_dir=_MEDIA))


def _operations() -> list[tuple[str, bool]]:
    """(`METHOD /path`, takes any input) of every documented operation."""
    document = APP.openapi()
    return [
        (f"{method.upper()} {path}", bool(op.get("parameters") or op.get("requestBody")))
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    ]


def _destructiveness(operation: tuple[str, bool]) -> int:
    """Cancels and deletes run last, so they do not use up the streams the other operations need."""
    label = operation[0]
    return 2 if label.startswith("DELETE") else 1 if label.endswith("/cancel") else 0


CASES = [
    pytest.param(label, mode, id=f"{label}-{mode.value}")
    for label, has_input in sorted(_operations(), key=_destructiveness)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if has_input or mode is GenerationMode.POSITIVE  # nothing to negate without inputs
]


def envelope_conformance(ctx: Any, response: Any, case: Any) -> None:
    """Every answer is `{isSuccess, statusCode, data, errors, timestamp}` (errors add their `code`) and
    agrees with the status."""
    body = response.json()
    keys = ENVELOPE_KEYS | ({"code"} if response.status_code >= 400 else set())
    assert isinstance(body, dict) and set(body) == keys, f"not an envelope: {response.text[:300]}"
    assert body["statusCode"] == response.status_code, "statusCode differs from the HTTP status"
    assert body["isSuccess"] is (response.status_code < 400), "isSuccess disagrees with the status"
    if body["isSuccess"]:
        assert body["errors"] == [], "a success carries errors"
    else:
        assert body["data"] is None and body["errors"], "an error needs data null and a message"
        assert all(isinstance(message, str) and message for message in body["errors"])
        assert body["code"] in ERROR_CODES, f"unknown error code {body['code']!r}"
    assert body["timestamp"].endswith("Z") and len(body["timestamp"]) == 24


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class FuzzWorld:
    schema: Any
    client: asgi.ASGIClient
    token: str
    user_ids: list[str]
    stream_ids: list[str]
    cursor: itertools.count = field(default_factory=itertools.count)

    def next_stream(self) -> str:
        """Streams in turn across the whole module, so an early DELETE cannot starve later operations."""
        return self.stream_ids[next(self.cursor) % len(self.stream_ids)]


def _post(client: asgi.ASGIClient, path: str, token: str | None = None, **kwargs: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post(path, headers=headers, **kwargs)
    assert response.status_code in (200, 201), response.text
    return response.json()["data"]


def _stream(client: asgi.ASGIClient, token: str, **form: str) -> str:
    data = {"title": "Fuzz target", **form}
    return _post(client, "/api/v1/live-stream/create", token, data=data, files={"_": (None, "")})["id"]


@pytest.fixture(scope="module")
def world() -> Iterator[FuzzWorld]:
    # schemathesis' pytest plugin ends every ASGI lifespan after each test, which would throw away the
    # embedded database (and with it the users behind our tokens) between two operations. Keep this
    # module's app alive until the module is done, then end it for real.
    keep_alive = pytest.MonkeyPatch()
    keep_alive.setattr(asgi, "shutdown_lifespans", lambda: None)
    app, settings = APP, APP.state.settings
    try:
        with asgi.get_client(app) as client:  # starts the lifespan on schemathesis' event-loop thread
            yield _populate(app, client)
    finally:
        keep_alive.undo()
        asgi.shutdown_lifespans()
        if MONGODB_TEST_URL:
            with pymongo.MongoClient(MONGODB_TEST_URL) as mongo:
                mongo.drop_database(settings.mongodb_db)


def _populate(app: Any, client: asgi.ASGIClient) -> FuzzWorld:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    me = _post(client, "/api/v1/dev/users", json={"username": "fuzzer", "credits": 1_000_000})
    other = _post(client, "/api/v1/dev/users", json={"username": "fuzz_other", "credits": 1000})
    guest = _post(client, "/api/v1/dev/users", json={"username": "fuzz_guest"})
    token, other_token = me["accessToken"], other["accessToken"]
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    mine, theirs = (
        (lambda **form: _stream(client, token, **form)),
        (lambda **form: _stream(client, other_token, **form)),
    )
    duo = {"liveStreamType": "duocrowd", "guests": f'["{guest["user"]["_id"]}"]', "plannedStartDate": later}
    fundable = {"plannedStartDate": later, "fundingGoal": "500"}
    # Interleaved, so any five in a row mix the caller's own streams (to delete, cancel, start, end)
    # with someone else's: fundable by the caller, active with the caller as guest, ended.
    streams = [
        mine(),
        theirs(**fundable),
        mine(),
        theirs(liveStreamType="duoself", guests=f'["{me["user"]["_id"]}"]'),
        mine(**duo),
        mine(recording="true"),
        theirs(),
        mine(**fundable),
        mine(),
    ]
    _post(client, f"/api/v1/live-stream/{streams[6]}/start", other_token)
    _post(client, f"/api/v1/live-stream/{streams[6]}/end", other_token)
    _post(client, f"/api/v1/live-stream/{streams[3]}/start", other_token)
    users = [me["user"]["_id"], other["user"]["_id"], guest["user"]["_id"]]
    return FuzzWorld(schema, client, token, users, streams)


def _with_known_ids(case: Any, world: FuzzWorld, example: int) -> None:
    """Point five examples in six at real resources; the first keeps the generated values."""
    if example % 6 == 0:
        return
    path = case.path_parameters or {}
    if "id" in path:
        path["id"] = world.next_stream()
    if isinstance(case.body, dict) and "liveStreamId" in case.body:
        case.body["liveStreamId"] = world.next_stream()
    users = world.user_ids
    if "userId" in path:
        path["userId"] = users[example % len(users)]
    if isinstance(case.body, dict) and "userId" in case.body:
        case.body["userId"] = users[example % len(users)]


def _fuzz(world: FuzzWorld, label: str, mode: GenerationMode) -> dict[str, list[tuple[int, bool]]]:
    """Every generated request sent twice, anonymously and with the valid token: (status, token sent)
    per caller. One generation serves both (it is most of the cost, and both runs drew the same
    examples before); anonymously first, so a refusal changes nothing the token's request meets."""
    method, path = label.split(" ", 1)
    operation = world.schema[path][method]
    callers = {"anonymous": {}, "token": {"Authorization": f"Bearer {world.token}"}}
    statuses: dict[str, list[tuple[int, bool]]] = {caller: [] for caller in callers}
    examples = itertools.count()

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        _with_known_ids(case, world, next(examples))
        if case.headers:  # the token under test, never one generated from the security scheme
            case.headers.pop("Authorization", None)
        for caller, headers in callers.items():
            response = case.call(session=world.client, headers=headers)
            # Negative cases may drop the Authorization header on purpose (it is the security parameter).
            sent = response.request.headers.get("Authorization") is not None
            assert sent is bool(headers) or mode is GenerationMode.NEGATIVE
            statuses[caller].append((response.status_code, sent))
            case.validate_response(response, checks=CHECKS, additional_checks=[envelope_conformance])

    run()
    assert all(statuses.values()), f"{label}: no request was sent"
    return statuses


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_with_a_valid_token_and_anonymously(world: FuzzWorld, label: str, mode: GenerationMode) -> None:
    statuses = _fuzz(world, label, mode)
    assert (401, True) not in statuses["token"], f"{label}: a valid token was refused"
    anonymous = [status for status, _ in statuses["anonymous"]]
    if label not in ANONYMOUS_ALLOWED:
        assert not [s for s in anonymous if s < 400], f"{label}: answered an anonymous caller {anonymous}"
        assert 401 in anonymous, f"{label}: never asked for authentication ({anonymous})"
