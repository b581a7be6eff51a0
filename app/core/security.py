"""JWT bearer tokens: the bearer scheme, minting and verifying tokens, the authenticated principal.

The request dependencies that turn a token into a user (`CurrentUser`, `OptionalUser`) are the users
domain's: `app.users.auth`.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from bson import ObjectId
from bson.errors import InvalidId
from fastapi.security import HTTPBearer

from app.core.config import Settings
from app.core.errors import NotAuthenticated
from app.core.timeutils import utcnow

bearer_scheme = HTTPBearer(
    scheme_name="JWT-auth",
    bearerFormat="JWT",
    description="Paste the raw access token (for example from `POST /api/v1/dev/token`).",
    auto_error=False,
)


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    id: ObjectId
    doc: Mapping[str, Any]

    @property
    def interests(self) -> list[str]:
        return list(self.doc.get("interests") or [])


def create_access_token(settings: Settings, user_id: ObjectId, ttl_seconds: int | None = None) -> str:
    """Mint a token the way the identity service does (dev endpoints, demo seed and tests)."""
    now = utcnow()
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + timedelta(seconds=ttl_seconds or settings.dev_token_ttl_seconds),
    }
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_algorithm.startswith("HS"):
        key = settings.jwt_secret.get_secret_value()
    elif settings.jwt_private_key is not None:
        key = settings.jwt_private_key.get_secret_value()
    else:
        raise RuntimeError("minting RS/ES tokens needs JWT_PRIVATE_KEY")
    return jwt.encode(claims, key, algorithm=settings.jwt_algorithm)


def decode_subject(settings: Settings, token: str) -> ObjectId:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_verification_key,
            algorithms=[settings.jwt_algorithm],  # one algorithm: no `none`, no HS/RS confusion
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={"require": ["exp", "sub"], "verify_aud": settings.jwt_audience is not None},
        )
        if not isinstance(claims["exp"], int | float) or isinstance(claims["exp"], bool):
            raise NotAuthenticated()  # PyJWT also accepts a numeric string; RFC 7519 says NumericDate
        return ObjectId(claims["sub"])
    except (jwt.PyJWTError, InvalidId, TypeError):
        raise NotAuthenticated() from None
