"""The video side of a live stream on AIOZ Stream: keys, streamings and recordings.

Translates AIOZ failures into our own errors: the caller waiting on a start gets a 502 (AIOZ refused)
or 503 (AIOZ down, rate-limiting or timing out), never a half-started stream.
"""

import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

import structlog
from bson import ObjectId

from app.aioz import (
    AiozClient,
    AiozConflict,
    AiozError,
    AiozNotFound,
    AiozRateLimited,
    AiozTimeout,
    AiozUnavailable,
    LiveStreamMedia,
)
from app.core.errors import Conflict, UpstreamError, UpstreamUnavailable
from app.core.repository import Repository
from app.core.timeutils import utcnow

log = structlog.get_logger("app.streaming")
T = TypeVar("T")


class AiozKeyRepository(Repository):
    """The creator's AIOZ live-stream key (RTMP credential), created once and reused: `_id` = user id."""

    collection_name = "aioz_keys"


async def upstream(call: Awaitable[T], action: str, *, expected: tuple[type[AiozError], ...] = ()) -> T:
    """Await an AIOZ call, translating its failures into ours; `expected` errors reach the caller as is."""
    try:
        return await call
    except expected:
        raise
    except (AiozUnavailable, AiozTimeout, AiozRateLimited) as exc:
        log.warning("aioz_unavailable", action=action, error=type(exc).__name__)
        raise UpstreamUnavailable(f"video service unavailable while trying to {action}; try again") from exc
    except AiozError as exc:
        log.error("aioz_error", action=action, error=type(exc).__name__, status=exc.status_code)
        raise UpstreamError(f"video service refused to {action}") from exc


class StreamingGateway:
    def __init__(self, db: Any, client: AiozClient, qualities: list[str]) -> None:
        self.keys = AiozKeyRepository(db)
        self.client = client
        self.qualities = qualities

    async def ensure_key(self, creator_id: ObjectId) -> dict[str, Any]:
        existing = await self.keys.get(creator_id)
        if existing:
            return existing
        name = f"allmine-{creator_id}"
        # An earlier create whose answer was lost (dropped connection, timeout) may have made the key on
        # AIOZ anyway: the name is this creator's alone, so adopt it instead of orphaning a credential.
        listing = await upstream(self.client.list_live_stream_keys(search=name), "look up the stream key")
        key = next((k for k in listing.live_stream_keys if k.name == name), None)
        if key is None:
            key = await upstream(self.client.create_live_stream_key(name, save=False), "create a stream key")
        doc = {
            "_id": creator_id,
            "keyId": key.id,
            "streamKey": key.stream_key,
            "rtmpUrl": key.rtmp_url,
            "createdAt": utcnow(),
        }
        saved, created = await self.keys.insert_or_existing(doc, ("_id",))
        if not created:  # a concurrent first start created one too: keep theirs, drop ours
            await self.discard_key(key.id)
        return saved

    async def discard_key(self, key_id: str) -> None:
        try:
            await self.client.delete_live_stream_key(key_id)
        except AiozError:
            log.warning("aioz_key_orphaned", key_id=key_id)

    async def open_streaming(self, key: dict[str, Any], title: str, save: bool) -> LiveStreamMedia:
        """Open a streaming; a leftover session on the key from an earlier broadcast is closed first."""
        try:
            return await upstream(
                self.client.create_streaming(key["keyId"], title=title, save=save, qualities=self.qualities),
                "open the live session",
                expected=(AiozConflict,),
            )
        except AiozConflict:
            pass
        # Only the caller's start (holding the creator's live slot) can be here, so any open session
        # on this key is a leftover; a still-publishing recording session is not ours to destroy.
        listing = await upstream(self.client.list_streamings(key["keyId"]), "inspect the stream key")
        for leftover in listing.media:
            if leftover.is_live and leftover.save:
                raise Conflict("your previous broadcast is still being recorded; stop the encoder first")
            await self.close_streaming(key["keyId"], leftover.id)
        return await upstream(
            self.client.create_streaming(key["keyId"], title=title, save=save, qualities=self.qualities),
            "open the live session",
        )

    async def close_streaming(self, key_id: str, streaming_id: str) -> None:
        with contextlib.suppress(AiozNotFound):  # already closed
            await upstream(
                self.client.delete_streaming(key_id, streaming_id),
                "close the live session",
                expected=(AiozNotFound,),
            )

    async def close_open_streamings(self, key_id: str) -> int:
        listing = await upstream(self.client.list_streamings(key_id), "inspect the stream key")
        for leftover in listing.media:
            await self.close_streaming(key_id, leftover.id)
        return len(listing.media)

    async def streaming_state(self, key_id: str, streaming_id: str) -> LiveStreamMedia | None:
        """The open streaming, or None once AIOZ considers it ended."""
        try:
            return await upstream(
                self.client.get_streaming(key_id, streaming_id),
                "read the live session",
                expected=(AiozNotFound,),
            )
        except AiozNotFound:
            return None

    async def recording_url(self, streaming_id: str) -> str | None:
        """The playable recording URL once AIOZ has finished it, else None."""
        try:
            media = await upstream(
                self.client.get_media(streaming_id), "read the recording", expected=(AiozNotFound,)
            )
        except AiozNotFound:
            return None
        if not media.recording_ready or media.media is None:
            return None
        assets = media.media.assets
        return assets.mp4_url or assets.hls_url or None
