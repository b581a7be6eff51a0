"""The benchmarked requests, built from the fixture ids and tokens the server wrote to ready.json."""

import uuid
from dataclasses import dataclass
from typing import Any

from bench.driver import Call, RequestFactory

PREFIX = "/api/v1/live-stream"


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    make: RequestFactory
    read: bool  # reads are compared with the baseline


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def scenarios(ready: dict[str, Any]) -> list[Scenario]:
    fixtures, tokens = ready["fixtures"], ready["tokens"]
    fan = _bearer(tokens[fixtures["fan"]])
    actors = [_bearer(tokens[actor]) for actor in fixtures["actors"]]
    detail, viewers = fixtures["detail"], fixtures["viewers"]
    fundable, joinable = fixtures["fundable"], fixtures["joinable"]

    def fund(n: int) -> Call:
        headers = {**actors[n % len(actors)], "Idempotency-Key": uuid.uuid4().hex}
        return Call("POST", f"{PREFIX}/{fundable[n % len(fundable)]}/fund", headers, {"amount": 1})

    def join(n: int) -> Call:
        body = {"liveStreamId": joinable[n % len(joinable)], "deviceType": "iOS"}
        return Call("POST", f"{PREFIX}/join", actors[n % len(actors)], body)

    return [
        Scenario("funded", "GET /funded", lambda n: Call("GET", f"{PREFIX}/funded", fan), True),
        Scenario(
            "detail", "GET /{id}", lambda n: Call("GET", f"{PREFIX}/{detail[n % len(detail)]}", fan), True
        ),
        Scenario(
            "most_watched_anon",
            "GET /most-watched-creators (anonymous)",
            lambda n: Call("GET", f"{PREFIX}/most-watched-creators", {}),
            True,
        ),
        Scenario(
            "most_watched_token",
            "GET /most-watched-creators (token)",
            lambda n: Call("GET", f"{PREFIX}/most-watched-creators", fan),
            True,
        ),
        Scenario(
            "viewers",
            "GET /{id}/viewers",
            lambda n: Call("GET", f"{PREFIX}/{viewers[n % len(viewers)]}/viewers", fan),
            True,
        ),
        Scenario("fund", "POST /{id}/fund", fund, False),
        Scenario("join", "POST /join", join, False),
    ]


KEYS = ("funded", "detail", "most_watched_anon", "most_watched_token", "viewers", "fund", "join")
CURVE_KEYS = ("most_watched_anon", "most_watched_token", "funded")
