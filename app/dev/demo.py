"""The demo seed's fixed ids: the same on every run, so the playground's examples can name them.

The OpenAPI document's request examples (`app.openapi_docs`) use these ids and the demo users' names
in their summaries; `tests/test_openapi_examples.py` executes every example against a seeded app.
"""

from bson import ObjectId


def _demo_id(number: int) -> ObjectId:
    # Timestamp part 2025-01-01T00:00:00Z, then "de" (demo) and a readable number.
    return ObjectId(f"67748580de{number:014d}")


DEMO_USER_IDS: dict[str, ObjectId] = {
    "ayse": _demo_id(1),
    "john": _demo_id(2),
    "mehmet": _demo_id(3),
    "lena": _demo_id(4),
    "viewer": _demo_id(5),
}

# By title (titles of the seed's streams are unique).
DEMO_STREAM_IDS: dict[str, ObjectId] = {
    "Akustik gece: yeni şarkılar": _demo_id(101),  # ayse, scheduled, crowd-funded, guest john
    "Design critique hour": _demo_id(102),  # lena, scheduled
    "Cancelled sketching": _demo_id(103),  # lena, cancelled
    "Deleted draft": _demo_id(104),  # lena, deleted
    "Turkish breakfast, live": _demo_id(105),  # mehmet, ended, replay for 50 credits
    "Istanbul street photography walk": _demo_id(106),  # john, live: chat, ban, superlike, mini
    "Portfolio reviews (paid)": _demo_id(107),  # lena, live, 40 credits entry
}
CROWD_STREAM_ID = DEMO_STREAM_IDS["Akustik gece: yeni şarkılar"]
SCHEDULED_STREAM_ID = DEMO_STREAM_IDS["Design critique hour"]
CANCELLED_STREAM_ID = DEMO_STREAM_IDS["Cancelled sketching"]
ENDED_STREAM_ID = DEMO_STREAM_IDS["Turkish breakfast, live"]
LIVE_STREAM_ID = DEMO_STREAM_IDS["Istanbul street photography walk"]
PAID_STREAM_ID = DEMO_STREAM_IDS["Portfolio reviews (paid)"]

# The chat-only ban of mehmet in john's live stream, and its mini crowd-funding (by title).
DEMO_BAN_ID = _demo_id(201)
DEMO_MINI_CROWD_FUNDING_IDS: dict[str, ObjectId] = {"30 more minutes on the Bosphorus": _demo_id(301)}
MINI_CROWD_FUNDING_ID = DEMO_MINI_CROWD_FUNDING_IDS["30 more minutes on the Bosphorus"]
