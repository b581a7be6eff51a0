"""Authentication dependencies: `CurrentUser` (required) and `OptionalUser` (anonymous allowed).

A token that is sent must be valid on every endpoint, optional ones included: malformed, expired,
wrongly signed, `alg: none` or another algorithm than configured, or naming an unknown/deleted user
all answer 401 instead of falling back to anonymous. Tokens themselves are `app.core.security`'s.
"""

from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security.base import SecurityBase

from app.core.config import Settings
from app.core.db import Database
from app.core.errors import ErrorCode, NotAuthenticated
from app.core.security import AuthenticatedUser, bearer_scheme, decode_subject
from app.users.repository import UserRepository


class BearerUser(SecurityBase):
    """The caller named by the bearer token, as one security dependency.

    FastAPI documents it as the `bearer_scheme` it reads the header with (the same `JWT-auth` scheme
    in the OpenAPI document) and resolves it as a single node: the scheme as a sub-dependency was one
    more node of every authenticated request's dependency tree (docs/benchmarks.md, "Findings").
    """

    def __init__(self, *, required: bool) -> None:
        self.model = bearer_scheme.model
        self.scheme_name = bearer_scheme.scheme_name
        self.auto_error = required  # FastAPI's name: no credentials is an error (else None)

    async def __call__(self, request: Request) -> AuthenticatedUser | None:
        if len(request.headers.getlist("authorization")) > 1:
            raise NotAuthenticated()  # which one counts would depend on the parser (and on any proxy)
        credentials = await bearer_scheme(request)
        if credentials is None:
            if request.headers.get("authorization"):
                raise NotAuthenticated()  # a header that is not `Bearer <token>`
            if self.auto_error:
                raise NotAuthenticated(code=ErrorCode.TOKEN_MISSING)
            return None
        return await caller_of(request.app.state.db, request.app.state.settings, credentials.credentials)


async def caller_of(db: Database, settings: Settings, token: str) -> AuthenticatedUser:
    """The user a bearer token names, for REST and Socket.IO alike: 401 unless the token verifies and
    its user exists and is not deleted."""
    user_id = decode_subject(settings, token)
    doc = await _users(db).get_caller(user_id)  # no ledger bookkeeping
    if doc is None:
        raise NotAuthenticated()
    return AuthenticatedUser(id=user_id, doc=doc)


@lru_cache(maxsize=16)
def _users(db: Database) -> UserRepository:
    """The users repository of a database handle, built once: repositories hold no request state, and
    building one (its durable collection's options) on every authenticated request cost ~7 µs."""
    return UserRepository(db)


CurrentUser = Annotated[AuthenticatedUser, Depends(BearerUser(required=True))]
OptionalUser = Annotated[AuthenticatedUser | None, Depends(BearerUser(required=False))]
