"""The fake's authentication, as AIOZ's middleware checks it (docs/aioz.md, "Authentication")."""

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.aioz.fake import wire
from app.aioz.fake.wire import ApiError


@dataclass(frozen=True)
class FakeAccount:
    """Credentials the fake accepts; each account owns its own keys."""

    api_token: str | None = field(default="fake-api-token", repr=False)
    public_key: str | None = "fake-public-key"
    secret_key: str | None = field(default="fake-secret-key", repr=False)
    user_id: str = field(default_factory=wire.new_id)


class Accounts:
    """The auth middleware (docs/aioz.md, "Authentication"): Bearer, then Basic, then the `stream-*` header pair."""

    def __init__(self, accounts: tuple[FakeAccount, ...]) -> None:
        self._by_token = {a.api_token: a for a in accounts if a.api_token}
        self._by_public_key = {a.public_key: a for a in accounts if a.public_key}

    def authenticate(self, headers: Mapping[str, str]) -> str:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials:
            account = self._by_token.get(credentials)
            if account is None:
                raise ApiError(401, wire.NOT_LOGGED_IN)
            return account.user_id
        if scheme.lower() == "basic" and credentials:
            public_key, secret_key = _decode_basic(credentials)
            return self._by_key_pair(public_key, secret_key)
        header_public, header_secret = headers.get("stream-public-key"), headers.get("stream-secret-key")
        if not header_public or not header_secret:
            raise ApiError(401, wire.NOT_LOGGED_IN)
        return self._by_key_pair(header_public, header_secret)

    def _by_key_pair(self, public_key: str, secret_key: str) -> str:
        account = self._by_public_key.get(public_key)
        if account is None:
            raise ApiError(401, wire.API_KEY_NOT_FOUND)
        if not hmac.compare_digest((account.secret_key or "").encode(), secret_key.encode()):
            raise ApiError(401, wire.NOT_LOGGED_IN)
        return account.user_id


def _decode_basic(credentials: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError(400, wire.INVALID_BASIC_AUTH) from None
    public_key, colon, secret_key = decoded.partition(":")
    if not colon:
        raise ApiError(400, wire.INVALID_BASIC_AUTH)
    return public_key, secret_key
