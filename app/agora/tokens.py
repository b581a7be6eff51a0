"""Agora RTC tokens (AccessToken2, `007…`) built with Agora's own `agoraiotools`.

Without `AGORA_APP_ID`/`AGORA_APP_CERTIFICATE` (development, tests) tokens are signed with a fixed
development app id and certificate and flagged `isDevToken: true`: they are well-formed but no Agora
project accepts them.
"""

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from agoraiotools.RtcTokenBuilder2 import Role_Publisher, Role_Subscriber, RtcTokenBuilder
from bson import ObjectId

from app.core.config import Settings
from app.core.timeutils import utcnow

DEV_APP_ID = "0" * 31 + "1"
DEV_APP_CERTIFICATE = "0" * 31 + "2"


class AgoraRole(StrEnum):
    publisher = "publisher"
    subscriber = "subscriber"


@dataclass(frozen=True, slots=True)
class RtcToken:
    appId: str
    channelName: str
    uid: int
    role: AgoraRole
    token: str
    expiresAt: datetime
    isDevToken: bool


def agora_uid(user_id: ObjectId) -> int:
    """Stable numeric uid per user (Agora uids are 32-bit; 0 means "assign one", so never 0)."""
    return zlib.crc32(user_id.binary) & 0x7FFFFFFF or 1


class AgoraTokenIssuer:
    def __init__(self, settings: Settings) -> None:
        self.dev = settings.agora_app_id is None or settings.agora_app_certificate is None
        self.app_id = DEV_APP_ID if self.dev else str(settings.agora_app_id)
        self._certificate = (
            DEV_APP_CERTIFICATE
            if self.dev or settings.agora_app_certificate is None
            else settings.agora_app_certificate.get_secret_value()
        )
        self.ttl = settings.agora_token_ttl_seconds

    def issue(self, channel_name: str, user_id: ObjectId, role: AgoraRole) -> RtcToken:
        uid = agora_uid(user_id)
        agora_role = Role_Publisher if role is AgoraRole.publisher else Role_Subscriber
        token = RtcTokenBuilder.build_token_with_uid(
            self.app_id, self._certificate, channel_name, uid, agora_role, self.ttl, self.ttl
        )
        return RtcToken(
            appId=self.app_id,
            channelName=channel_name,
            uid=uid,
            role=role,
            token=token,
            expiresAt=utcnow() + timedelta(seconds=self.ttl),
            isDevToken=self.dev,
        )
