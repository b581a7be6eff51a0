"""The benchmarked requests, built from the fixture ids and tokens the server wrote to ready.json, and
the targets they are held to (issue 16): every scenario runs on the app and on the bare baseline."""

import uuid
from dataclasses import dataclass
from typing import Any

from bench.driver import Call, RequestFactory

PREFIX = "/api/v1/live-stream"

# Loop ratio (baseline ÷ app event-loop CPU per request): the framework's share.
READ_LOOP_TARGET = 0.80
WRITE_LOOP_TARGET = 0.70
# Event-loop CPU per request of the baseline (services, repositories, encoding), in µs.
SINGLE_US_TARGET = 300  # one stream, one count or a ranking page
LIST_US_TARGET = 600  # a list of up to 50 presented streams


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    make: RequestFactory
    read: bool  # reads run first and must answer the same data as the baseline
    service_us_target: int | None = None  # target of the baseline's loop CPU per request

    @property
    def loop_target(self) -> float:
        return READ_LOOP_TARGET if self.read else WRITE_LOOP_TARGET


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def scenarios(ready: dict[str, Any]) -> list[Scenario]:
    fixtures, tokens = ready["fixtures"], ready["tokens"]
    fan = _bearer(tokens[fixtures["fan"]])
    guest = _bearer(tokens[fixtures["guest"]])
    actors = [_bearer(tokens[actor]) for actor in fixtures["actors"]]
    detail, viewers = fixtures["detail"], fixtures["viewers"]
    fundable, joinable = fixtures["fundable"], fixtures["joinable"]

    def get(path: str, headers: dict[str, str]) -> RequestFactory:
        return lambda n: Call("GET", path, headers)

    def fund(n: int) -> Call:
        headers = {**actors[n % len(actors)], "Idempotency-Key": uuid.uuid4().hex}
        return Call("POST", f"{PREFIX}/{fundable[n % len(fundable)]}/fund", headers, {"amount": 1})

    def join(n: int) -> Call:
        body = {"liveStreamId": joinable[n % len(joinable)], "deviceType": "iOS"}
        return Call("POST", f"{PREFIX}/join", actors[n % len(actors)], body)

    return [
        Scenario("funded", "GET /funded", get(f"{PREFIX}/funded", fan), True, LIST_US_TARGET),
        Scenario("list", "GET ?limit=50 (all streams)", get(f"{PREFIX}?limit=50", fan), True, LIST_US_TARGET),
        Scenario(
            "guest_streams", "GET /guest-streams", get(f"{PREFIX}/guest-streams", guest), True, LIST_US_TARGET
        ),
        Scenario(
            "for_you",
            "GET /for-you/scheduled?limit=50",
            get(f"{PREFIX}/for-you/scheduled?limit=50", fan),
            True,
            LIST_US_TARGET,
        ),
        Scenario("featured", "GET /featured", get(f"{PREFIX}/featured", {}), True),
        Scenario(
            "detail",
            "GET /{id}",
            lambda n: Call("GET", f"{PREFIX}/{detail[n % len(detail)]}", fan),
            True,
            SINGLE_US_TARGET,
        ),
        Scenario(
            "most_watched_anon",
            "GET /most-watched-creators (anonymous)",
            get(f"{PREFIX}/most-watched-creators", {}),
            True,
            SINGLE_US_TARGET,
        ),
        Scenario(
            "most_watched_token",
            "GET /most-watched-creators (token)",
            get(f"{PREFIX}/most-watched-creators", fan),
            True,
            SINGLE_US_TARGET,
        ),
        Scenario(
            "viewer_count",
            "GET /{id}/viewer-count",
            lambda n: Call("GET", f"{PREFIX}/{viewers[n % len(viewers)]}/viewer-count", fan),
            True,
            SINGLE_US_TARGET,
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


KEYS = (
    "funded",
    "list",
    "guest_streams",
    "for_you",
    "featured",
    "detail",
    "most_watched_anon",
    "most_watched_token",
    "viewer_count",
    "viewers",
    "fund",
    "join",
)
CURVE_KEYS = ("most_watched_anon", "most_watched_token", "viewer_count", "featured", "funded")
FLAT_CURVE_KEYS = CURVE_KEYS  # every endpoint on the curve is held to the growth target (issue 25)
