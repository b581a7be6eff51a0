"""Demo data for the playground: a few users with follows and credits (later: streams in every state)."""

from typing import Any

import structlog
from fastapi import FastAPI

from app.core.config import AppEnv, Settings
from app.core.security import create_access_token
from app.users.repository import FollowRepository, UserRepository

log = structlog.get_logger("app.seed")

DEMO_USERS: list[dict[str, Any]] = [
    {"username": "ayse", "name": "Ayşe", "surname": "Yılmaz", "expertise": "Musician",
     "interests": ["music", "art"], "credits": 5000},
    {"username": "john", "name": "John", "surname": "Doe", "expertise": "Photography",
     "interests": ["photography", "travel", "music"], "credits": 3000},
    {"username": "mehmet", "name": "Mehmet", "surname": "Kaya", "expertise": "Chef",
     "interests": ["cooking", "music"], "credits": 2000},
    {"username": "lena", "name": "Lena", "surname": "Schmidt", "expertise": "Designer",
     "interests": ["art", "design"], "credits": 1500},
    {"username": "viewer", "name": "Vera", "surname": "Viewer", "expertise": None,
     "interests": ["music", "cooking", "art"], "credits": 10000},
]  # fmt: skip


async def seed_demo_if_wanted(app: FastAPI, settings: Settings) -> None:
    wanted = settings.seed_demo if settings.seed_demo is not None else settings.app_env is AppEnv.development
    if not wanted or settings.is_production:
        return
    db = app.state.db
    users = UserRepository(db)
    if await users.collection.estimated_document_count() == 0:
        await seed_demo(db)
    demo = await users.collection.find(
        {"usernameLower": {"$in": [u["username"] for u in DEMO_USERS]}, "deletedAt": None}
    ).to_list()
    tokens = {doc["username"]: create_access_token(settings, doc["_id"]) for doc in demo}
    print_demo_tokens(tokens, settings)


async def seed_demo(db: Any) -> dict[str, dict[str, Any]]:
    users = UserRepository(db)
    follows = FollowRepository(db)
    created = {spec["username"]: await users.create(spec) for spec in DEMO_USERS}
    fans = ["john", "mehmet", "lena", "viewer"]
    for fan in fans:
        await follows.follow(created[fan]["_id"], created["ayse"]["_id"])
    await follows.follow(created["ayse"]["_id"], created["john"]["_id"])
    await follows.follow(created["viewer"]["_id"], created["john"]["_id"])
    log.info("demo_seeded", users=len(created))
    return created


def print_demo_tokens(tokens: dict[str, str], settings: Settings) -> None:
    # Printed (not logged) on purpose: these are development tokens meant for a human to copy.
    lines = [
        "",
        "Demo users (development only). Paste a token into Authorize at",
        f"  {settings.public_base_url}/docs",
        "",
    ]
    lines += [f"  {name:<8} {token}" for name, token in sorted(tokens.items())]
    lines += [
        "",
        'More tokens: POST /api/v1/dev/users {"username": "you"} or POST /api/v1/dev/token {"userId": "..."}',
        "",
    ]
    print("\n".join(lines), flush=True)
