"""Authentication dependencies: `CurrentUser` (required) and `OptionalUser` (anonymous allowed).

A token that is sent must be valid on every endpoint, optional ones included: malformed, expired,
wrongly signed, `alg: none` or another algorithm than configured, or naming an unknown/deleted user
all answer 401 instead of falling back to anonymous. Tokens themselves are `app.core.security`'s.
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from app.core.errors import NotAuthenticated
from app.core.security import AuthenticatedUser, bearer_scheme, decode_subject
from app.users.repository import UserRepository


async def _user_from_credentials(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> AuthenticatedUser | None:
    if len(request.headers.getlist("authorization")) > 1:
        raise NotAuthenticated()  # which one counts would depend on the parser (and on any proxy)
    if credentials is None:
        if request.headers.get("authorization"):
            raise NotAuthenticated()  # a header was sent but is not `Bearer <token>`
        return None
    user_id = decode_subject(request.app.state.settings, credentials.credentials)
    doc = await UserRepository(request.app.state.db).get_caller(user_id)  # no ledger bookkeeping
    if doc is None:
        raise NotAuthenticated()
    return AuthenticatedUser(id=user_id, doc=doc)


async def optional_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> AuthenticatedUser | None:
    return await _user_from_credentials(request, credentials)


async def required_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> AuthenticatedUser:
    user = await _user_from_credentials(request, credentials)
    if user is None:
        raise NotAuthenticated()
    return user


CurrentUser = Annotated[AuthenticatedUser, Depends(required_user)]
OptionalUser = Annotated[AuthenticatedUser | None, Depends(optional_user)]
