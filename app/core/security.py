"""JWT bearer tokens: the bearer scheme, minting and verifying tokens, the authenticated principal.

The request dependencies that turn a token into a user (`CurrentUser`, `OptionalUser`) are the users
domain's: `app.users.auth`.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

import jwt
from bson import ObjectId
from bson.errors import InvalidId
from fastapi.security import HTTPBearer

from app.core.config import Settings
from app.core.errors import ErrorCode, NotAuthenticated
from app.core.timeutils import utcnow

VERIFIED_TOKENS_CACHED = 4096  # distinct tokens verified recently (~2 MB at most)

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
    return decode_token(settings, token)[0]


def decode_token(settings: Settings, token: str) -> tuple[ObjectId, float]:
    """The subject and expiry (`exp`, POSIX seconds) of a valid, unexpired token; 401 otherwise."""
    try:
        subject, expires = _verified_token(
            token,
            settings.jwt_verification_key,
            settings.jwt_algorithm,
            settings.jwt_issuer,
            settings.jwt_audience,
        )
    except jwt.ExpiredSignatureError:
        raise NotAuthenticated(code=ErrorCode.TOKEN_EXPIRED) from None
    except (jwt.PyJWTError, InvalidId, TypeError):
        raise NotAuthenticated(code=ErrorCode.TOKEN_INVALID) from None
    if expires <= time.time():  # PyJWT's own rule (no leeway): expired once `exp <= now`
        raise NotAuthenticated(code=ErrorCode.TOKEN_EXPIRED)
    return subject, expires


@lru_cache(maxsize=VERIFIED_TOKENS_CACHED)
def _verified_token(
    token: str, key: str, algorithm: str, issuer: str | None, audience: str | None
) -> tuple[ObjectId, float]:
    """The subject and expiry of a token whose signature and claims verified, remembered per exact token
    and key: clients send the same token with every request, and verifying it again cost ~100 µs of
    event-loop CPU per request (docs/benchmarks.md). What can change with time, expiry, is checked on
    every call by `decode_subject`; `iat`/`nbf` can only become valid, never invalid again. Failures
    raise and are not remembered.
    """
    claims = jwt.decode(
        token,
        key,
        algorithms=[algorithm],  # one algorithm: no `none`, no HS/RS confusion
        issuer=issuer,
        audience=audience,
        options={"require": ["exp", "sub"], "verify_aud": audience is not None},
    )
    expires = claims["exp"]
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise TypeError("exp")  # PyJWT also accepts a numeric string; RFC 7519 says NumericDate
    return ObjectId(claims["sub"]), float(expires)
