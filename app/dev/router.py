"""Development helpers: create users and mint tokens. Never mounted in production."""

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints

from app.core.db import Db
from app.core.envelope import Envelope, error_responses, ok
from app.core.security import create_access_token
from app.core.text import TextRule, checked
from app.core.types import ObjectIdStr
from app.users.repository import UserRepository
from app.users.schemas import UserSummary, user_summary

router = APIRouter(prefix="/api/v1/dev", tags=["Development"])

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.]{3,30}$")]
ShortText = Annotated[str, checked(TextRule(max_chars=60, required=False))]


class DevUserIn(BaseModel):
    username: Username = Field(description="Unique (case-insensitive).", examples=["newfan"])
    name: ShortText | None = Field(default=None, examples=["Nora"])
    surname: ShortText | None = Field(default=None, examples=["Fan"])
    expertise: ShortText | None = Field(default=None, examples=["Music lover"])
    interests: list[ShortText] = Field(default_factory=list, max_length=50, examples=[["music", "art"]])
    credits: int = Field(default=0, ge=0, le=1_000_000_000, examples=[1000])


class DevUserOut(UserSummary):
    expertise: str | None
    interests: list[str]
    credits: int


class DevUserCreated(BaseModel):
    user: DevUserOut
    accessToken: str


class DevTokenIn(BaseModel):
    userId: ObjectIdStr


class DevToken(BaseModel):
    accessToken: str


@router.post(
    "/users",
    status_code=201,
    response_model=Envelope[DevUserCreated],
    responses=error_responses(400, 409),
    summary="Create a user and get an access token for it",
)
async def create_dev_user(body: DevUserIn, request: Request, db: Db) -> Response:
    """Create a user with the given profile and `credits` (default 0) and get an access token for it.
    Development and test only. Usernames are unique: pick a new one on each call (409 otherwise).
    """
    doc = await UserRepository(db).create(body.model_dump())
    user = {
        **user_summary(doc),
        "expertise": doc["expertise"],
        "interests": doc["interests"],
        "credits": doc["credits"],
    }
    token = create_access_token(request.app.state.settings, doc["_id"])
    return ok({"user": user, "accessToken": token}, status_code=201)


@router.post(
    "/token",
    response_model=Envelope[DevToken],
    responses=error_responses(400, 404),
    summary="Mint an access token for an existing user",
)
async def create_dev_token(body: DevTokenIn, request: Request, db: Db) -> Response:
    """Mint an access token for an existing user id (`user._id` from `POST /api/v1/dev/users` or a demo
    user). Development and test only.
    """
    await UserRepository(db).get_or_404(body.userId)
    return ok({"accessToken": create_access_token(request.app.state.settings, body.userId)})
