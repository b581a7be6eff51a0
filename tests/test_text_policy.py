"""The one text policy (app/core/text.py) on every user-sent text field, over HTTP: field × class.

Each refused class answers 400 `Validation failed` with the class named in `errors[1]` and writes
nothing; the limits themselves (exact length, emoji with ZWJ inside) are accepted. The Socket.IO
`sendMessage` field is in tests/realtime/test_abuse.py.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.bans.schemas import BAN_REASON
from app.chat.schemas import CHAT_MESSAGE
from app.core.text import TextRule
from app.live_streams.schemas import (
    DEVICE_TEXT,
    INTEREST,
    MINI_CROWD_FUNDING_TITLE,
    MOTIVATION,
    STREAM_TITLE,
)
from tests.helpers import assert_error, auth, create_stream
from tests.streams import started_stream
from tests.test_openapi_examples import (  # noqa: F401 (fixtures)
    CALLERS,
    build_request,
    demo_app,
    demo_client,
    demo_tokens,
    operations,
)

API = "/api/v1/live-stream"


@dataclass
class World:
    client: httpx.AsyncClient
    db: Any
    host: str
    viewer: str
    viewer_id: str
    stream_id: str


Send = Callable[[World, str], Awaitable[httpx.Response]]


def raw_json(body: dict[str, Any]) -> bytes:
    # json.dumps escapes a lone surrogate as `\ud800`, the way a hostile client sends it.
    return json.dumps(body).encode()


async def post_json(world: World, path: str, token: str, body: dict[str, Any]) -> httpx.Response:
    headers = {**auth(token), "Content-Type": "application/json"}
    return await world.client.post(path, content=raw_json(body), headers=headers)


async def create_form(world: World, field: str, value: str) -> httpx.Response:
    # Multipart carries UTF-8 bytes: a lone surrogate can only arrive as its (invalid) CESU-8 bytes.
    data = {"title": "Evening jam", field: value.encode("utf-8", "surrogatepass")}
    return await world.client.post(
        f"{API}/create", data=data, files={"_": (None, "")}, headers=auth(world.host)
    )


@dataclass
class Field:
    name: str
    rule: TextRule
    send: Send
    collection: str  # where an accepted value would be written
    # A multipart body carries bytes; Starlette decodes a part that is not UTF-8 as Latin-1, so a lone
    # surrogate cannot reach a form field (no 500 there): the surrogate rows are for JSON fields.
    carries_surrogates: bool = True


FIELDS = [
    Field("stream title", STREAM_TITLE, lambda w, v: create_form(w, "title", v), "live_streams", False),
    Field("stream interest", INTEREST, lambda w, v: create_form(w, "interest", v), "live_streams", False),
    Field(
        "stream motivation", MOTIVATION, lambda w, v: create_form(w, "motivation", v), "live_streams", False
    ),
    Field(
        "mini crowd-funding title",
        MINI_CROWD_FUNDING_TITLE,
        lambda w, v: post_json(
            w, f"{API}/{w.stream_id}/mini-crowd-fundings", w.host, {"title": v, "goal": 100}
        ),
        "mini_crowd_fundings",
    ),
    Field(
        "chat message",
        CHAT_MESSAGE,
        lambda w, v: post_json(w, f"{API}/{w.stream_id}/chat/messages", w.viewer, {"content": v}),
        "chat_messages",
    ),
    Field(
        "ban reason",
        BAN_REASON,
        lambda w, v: post_json(
            w,
            "/api/v1/live-stream-ban",
            w.host,
            {
                "targetUserId": w.viewer_id,
                "liveStreamId": w.stream_id,
                "actionType": "CHAT_ONLY",
                "reason": v,
            },
        ),
        "live_stream_bans",
    ),
    Field(
        "join device type",
        DEVICE_TEXT,
        lambda w, v: post_json(w, f"{API}/join", w.viewer, {"liveStreamId": w.stream_id, "deviceType": v}),
        "participants",
    ),
]


def refused_classes(rule: TextRule, surrogates: bool = True) -> list[tuple[str, str, str]]:
    """(class, value, what errors[1] must say) for every class the policy refuses."""
    emoji = 3 * rule.max_chars // 4 + 1  # 4-byte characters: within max_chars, over the byte limit
    rows = [
        ("NUL", "a\x00b", "control characters"),
        ("escape", "a\x1b[31mb", "control characters"),
        ("DEL", "a\x7fb", "control characters"),
        ("C1 next line", "a\x85b", "control characters"),
        ("right-to-left override", "\u202eevil", "direction overrides"),
        ("left-to-right isolate", "a\u2066b", "direction overrides"),
        ("right-to-left mark", "a\u200fb", "direction overrides"),
        ("line separator", "a\u2028b", "line or paragraph separators"),
        ("paragraph separator", "a\u2029b", "line or paragraph separators"),
        ("replacement character", "mojibake \ufffd", "invalid text"),
        ("noncharacter", "a\uffffb", "invalid text"),
        ("zero-width space only", "\u200b", "blank"),
        ("zero-width joiner only", "\u200d\u200d", "blank"),
        ("byte order mark only", "\ufeff", "blank"),
        ("zero-width mix with spaces", " \u200b \u2060\u200c ", "blank"),
        ("Hangul filler only", "\u3164", "blank"),
        ("over-long in characters", "x" * (rule.max_chars + 1), f"at most {rule.max_chars} characters"),
        ("over-long in bytes", "😀" * emoji, f"at most {rule.byte_limit} bytes"),
        ("huge", "x" * 10_000, f"at most {rule.max_chars} characters"),
    ]
    if surrogates:
        rows += [
            ("lone surrogate", "a\ud800b", "invalid text"),
            ("lone low surrogate", "\udfff", "invalid text"),
        ]
    if not rule.multiline:
        rows += [("newline", "two\nlines", "control characters"), ("tab", "a\tb", "control characters")]
    return rows


def accepted_values(rule: TextRule) -> list[str]:
    values = ["👨\u200d👩\u200d👧 family night", "x" * rule.max_chars]
    if rule.multiline:
        values.append("line one\nline two\tand a tab")
    return values


@pytest.fixture
async def world(client: httpx.AsyncClient, db: Any, make_user: Any) -> World:
    _, host = await make_user()
    viewer, viewer_token = await make_user()
    stream = await started_stream(client, host)
    return World(client, db, host, viewer_token, viewer["_id"], stream["id"])


async def count(db: Any, collection: str) -> int:
    return await db[collection].count_documents({})


@pytest.mark.parametrize("field", FIELDS, ids=[f.name for f in FIELDS])
async def test_every_text_class_is_refused_with_400_and_writes_nothing(world: World, field: Field) -> None:
    failures = []
    for name, value, reason in refused_classes(field.rule, field.carries_surrogates):
        before = await count(world.db, field.collection)
        response = await field.send(world, value)
        if response.status_code != 400:
            failures.append(f"{name}: {response.status_code} {response.text[:200]}")
            continue
        body = assert_error(response, 400, "Validation failed")
        if reason not in body["errors"][1]:
            failures.append(f"{name}: {body['errors']}")
        if await count(world.db, field.collection) != before:
            failures.append(f"{name}: wrote a document")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("field", FIELDS, ids=[f.name for f in FIELDS])
async def test_text_at_the_limits_is_accepted(world: World, field: Field) -> None:
    for value in accepted_values(field.rule):
        response = await field.send(world, value)
        assert response.status_code in (200, 201), (value[:20], response.text)
        if field.collection == "live_stream_bans":  # one ban per user and stream: lift it for the next
            ban_id = response.json()["data"]["_id"]
            lifted = await world.client.delete(f"/api/v1/live-stream-ban/{ban_id}", headers=auth(world.host))
            assert lifted.status_code == 200, lifted.text
        if field.collection == "participants":
            left = await world.client.post(f"{API}/{world.stream_id}/leave", headers=auth(world.viewer))
            assert left.status_code == 200, left.text


async def test_stream_title_keeps_its_aioz_byte_limit(client: httpx.AsyncClient, make_user: Any) -> None:
    _, token = await make_user()
    assert (await create_stream(client, token, title="ş" * 127))["title"] == "ş" * 127
    response = await client.post(
        f"{API}/create", data={"title": "ş" * 128}, files={"_": (None, "")}, headers=auth(token)
    )
    assert "at most 255 bytes" in assert_error(response, 400, "Validation failed")["errors"][1]


async def test_a_lone_surrogate_anywhere_in_a_json_body_is_400(world: World) -> None:
    """Not only in checked text: as a key, an enum value or an id; the answer must still be encodable."""
    ban = {"targetUserId": world.viewer_id, "liveStreamId": world.stream_id, "actionType": "CHAT_ONLY"}
    for body in (
        {**ban, "\ud800": 1},
        {**ban, "actionType": "\ud800"},
        {**ban, "targetUserId": "\ud800" * 24},
        {**ban, "reason": ["\ud800"]},
    ):
        response = await post_json(world, "/api/v1/live-stream-ban", world.host, body)
        assert_error(response, 400, "Validation failed")
    assert await count(world.db, "live_stream_bans") == 0


async def test_a_lone_surrogate_in_any_string_of_any_json_body_is_400(
    demo_app: Any,  # noqa: F811 (the fixture imported above)
    demo_client: httpx.AsyncClient,  # noqa: F811
) -> None:
    """Every operation's documented JSON example (valid as it is, see test_openapi_examples.py), with
    one string at a time replaced by a lone surrogate: 400 `Validation failed`, never a 5xx."""
    document = demo_app.openapi()
    tokens = await demo_tokens(demo_client, demo_app)
    tried, failures = 0, []
    for method, path, operation in operations(document):
        request = build_request(method, path, operation, document)
        body = request.pop("json", None)
        if not isinstance(body, dict):
            continue
        if caller := CALLERS[operation["operationId"]]:
            request["headers"]["Authorization"] = f"Bearer {tokens[caller]}"
        request["headers"]["Content-Type"] = "application/json"
        for key, value in body.items():
            if isinstance(value, str):
                poisoned = {**body, key: "a\ud800b"}
            elif isinstance(value, list) and value and isinstance(value[0], str):
                poisoned = {**body, key: ["a\ud800b", *value[1:]]}
            else:
                continue
            tried += 1
            response = await demo_client.request(**request, content=raw_json(poisoned))
            if response.status_code != 400 or response.json()["errors"][0] != "Validation failed":
                failures.append(
                    f"{operation['operationId']}.{key}: {response.status_code} {response.text[:200]}"
                )
    assert tried >= 8, tried  # the bodies with text: ban, chat, mini crowd-funding, join, dev user, ...
    assert not failures, "\n".join(failures)
