"""Async client for the AIOZ Stream live-streaming API (docs/aioz.md)."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from app.aioz._http import AiozHttp, Sleep
from app.aioz._retry import Retry
from app.aioz.config import AiozConfig
from app.aioz.errors import AiozEndpointNotFound, AiozError, AiozNotFound, AiozValidationError
from app.aioz.models import (
    MAX_PAGE_SIZE,
    MAX_THUMBNAIL_BYTES,
    KeySortBy,
    KeyType,
    LiveStreamKey,
    LiveStreamKeyCreate,
    LiveStreamKeyList,
    LiveStreamKeyQuery,
    LiveStreamKeyUpdate,
    LiveStreamMedia,
    LiveStreamMediaList,
    LiveStreamMulticast,
    LiveStreamStatistic,
    MediaQuery,
    MediaSortBy,
    MediaStatusFilter,
    MulticastUpdate,
    QualityConfig,
    SortOrder,
    StreamingCreate,
    StreamingUpdate,
)

Id = str | uuid.UUID
Quality = str | QualityConfig
ModelT = TypeVar("ModelT", bound=BaseModel)

KEYS = "/live_streams"
KEY = "/live_streams/{key_id}"
STREAMINGS = "/live_streams/{key_id}/streamings"
STREAMING = "/live_streams/{key_id}/streamings/{stream_id}"
SAVED_MEDIA = "/live_streams/{key_id}/media"
MEDIA = "/live_streams/{media_id}/media"
MEDIA_LEGACY = "/live_streams/{media_id}/video"
PLAYER_MEDIA = "/live_streams/player/{media_id}/media"
STATISTIC = "/live_streams/statistic/{stream_id}"
MULTICAST = "/live_streams/multicast/{stream_key}"
THUMBNAIL = "/live_streams/{media_id}/thumbnail"


class AiozClient:
    """AIOZ Stream live API. Use `async with AiozClient(config) as aioz:` or call `aclose()` when done.

    Every method raises an `AiozError` subclass; reads, updates and deletes are retried on transient
    failures, creates only when that cannot create a duplicate (see docs/aioz.md).
    """

    def __init__(
        self,
        config: AiozConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`sleep` and `monotonic` pace the retries; tests pass a manual clock's (see `AiozHttp`)."""
        self.config = config
        self._http = AiozHttp(config, transport=transport, sleep=sleep, monotonic=monotonic)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- live stream keys -----------------------------------------------------------------------------------

    async def create_live_stream_key(
        self, name: str, *, save: bool = False, type: KeyType | str = KeyType.VIDEO
    ) -> LiveStreamKey:
        """Create an RTMP credential. Not retried after it may have reached AIOZ: names are not unique."""
        body = _request(LiveStreamKeyCreate, name=name, save=save, type=type)
        data = await self._http.request("POST", KEYS, json=body, retry=Retry.UNSAFE)
        return _response(LiveStreamKey, data)

    async def list_live_stream_keys(
        self,
        *,
        search: str | None = None,
        sort_by: KeySortBy | str = KeySortBy.CREATED_AT,
        order_by: SortOrder | str = SortOrder.ASC,
        offset: int = 0,
        limit: int = 25,
        type: KeyType | str | None = None,
    ) -> LiveStreamKeyList:
        query = _request(
            LiveStreamKeyQuery,
            search=search,
            sort_by=sort_by,
            order_by=order_by,
            offset=offset,
            limit=limit,
            type=type,
        )
        return _response(LiveStreamKeyList, await self._http.request("GET", KEYS, params=query))

    async def get_live_stream_key(self, key_id: Id) -> LiveStreamKey:
        data = await self._http.request("GET", KEY, path_params={"key_id": _uuid(key_id, "key_id")})
        return _response(LiveStreamKey, data)

    async def update_live_stream_key(
        self, key_id: Id, *, name: str | None = None, save: bool | None = None
    ) -> LiveStreamKey:
        """Rename and/or toggle `save`; a field left as None keeps its current value."""
        key_id = _uuid(key_id, "key_id")
        _require_change(name=name, save=save)
        if name is None or save is None:
            # AIOZ overwrites every field of the body, so fill the missing ones from the current key.
            current = await self.get_live_stream_key(key_id)
            name = current.name if name is None else name
            save = current.save if save is None else save
        body = _request(LiveStreamKeyUpdate, name=name, save=save)
        data = await self._http.request("PUT", KEY, path_params={"key_id": key_id}, json=body)
        return _response(LiveStreamKey, data)

    async def delete_live_stream_key(self, key_id: Id) -> None:
        """Delete a key. AIOZ refuses (400) while one of its streamings is live."""
        await self._http.request("DELETE", KEY, path_params={"key_id": _uuid(key_id, "key_id")})

    # --- streamings -----------------------------------------------------------------------------------------

    async def create_streaming(
        self, key_id: Id, *, title: str, save: bool = False, qualities: Sequence[Quality] | None = None
    ) -> LiveStreamMedia:
        """Open a broadcast session (status `created`). `save=True` keeps the recording after the end.

        Raises `AiozConflict` (`Live stream already created`) when the key already has an open streaming.
        Retried safely: before re-sending, the key's open streamings are checked for the one an earlier
        attempt may have created, since AIOZ allows only one per key.
        """
        key_id = _uuid(key_id, "key_id")
        body = _request(StreamingCreate, title=title, save=save, qualities=qualities)

        async def find_created() -> LiveStreamMedia | None:
            listing = await self.list_streamings(key_id)
            return next((s for s in listing.media if s.is_open and s.title == body["title"]), None)

        data = await self._http.request(
            "POST",
            STREAMINGS,
            path_params={"key_id": key_id},
            json=body,
            retry=Retry.UNSAFE,
            recover=find_created,
        )
        return _response(LiveStreamMedia, data)

    async def list_streamings(self, key_id: Id) -> LiveStreamMediaList:
        """The key's open streamings (`created` or `streaming`); ended ones are not listed."""
        data = await self._http.request("GET", STREAMINGS, path_params={"key_id": _uuid(key_id, "key_id")})
        return _response(LiveStreamMediaList, data)

    async def get_streaming(self, key_id: Id, stream_id: Id) -> LiveStreamMedia:
        """An open streaming; `AiozNotFound` once it has ended (poll this to see go-live and the end)."""
        path = {"key_id": _uuid(key_id, "key_id"), "stream_id": _uuid(stream_id, "stream_id")}
        return _response(LiveStreamMedia, await self._http.request("GET", STREAMING, path_params=path))

    async def update_streaming(
        self,
        key_id: Id,
        stream_id: Id,
        *,
        title: str | None = None,
        save: bool | None = None,
        qualities: Sequence[Quality] | None = None,
    ) -> None:
        """Change a streaming that has not ended; a field left as None keeps its current value."""
        key_id, stream_id = _uuid(key_id, "key_id"), _uuid(stream_id, "stream_id")
        _require_change(title=title, save=save, qualities=qualities)
        if title is None or save is None:
            # `title` is required by AIOZ and an omitted `save` would reset it to false.
            current = await self.get_streaming(key_id, stream_id)
            title = current.title if title is None else title
            save = current.save if save is None else save
        body = _request(StreamingUpdate, stream_id=stream_id, title=title, save=save, qualities=qualities)
        await self._http.request("PUT", STREAMINGS, path_params={"key_id": key_id}, json=body)

    async def delete_streaming(self, key_id: Id, stream_id: Id) -> None:
        """Delete a streaming, or a saved recording, together with its media."""
        key_id, stream_id = _uuid(key_id, "key_id"), _uuid(stream_id, "stream_id")
        try:
            await self._http.request(
                "DELETE", STREAMING, path_params={"key_id": key_id, "stream_id": stream_id}
            )
        except AiozNotFound:
            # Both official SDKs' tests call this with the ids swapped and pass against production
            # (docs/aioz.md, "Deleting a streaming"), so the documented order falls back to the swapped one.
            await self._http.request(
                "DELETE", STREAMING, path_params={"key_id": stream_id, "stream_id": key_id}
            )

    # --- saved recordings and media -------------------------------------------------------------------------

    async def list_media(
        self,
        key_id: Id,
        *,
        offset: int = 0,
        limit: int = 25,
        sort_by: MediaSortBy | str = MediaSortBy.CREATED_AT,
        order_by: SortOrder | str = SortOrder.DESC,
        search: str | None = None,
        status: MediaStatusFilter | None = None,
    ) -> LiveStreamMediaList:
        """One page of the key's saved recordings (ended streamings with `save=True`).

        `status` filters on the recording's media status; it is sent as `media_status`, the field AIOZ
        filters recordings by (its `status` field compares the streaming status, always `end` here).
        """
        body = _request(
            MediaQuery,
            offset=offset,
            limit=limit,
            sort_by=sort_by,
            order_by=order_by,
            search=search,
            media_status=status,
        )
        path = {"key_id": _uuid(key_id, "key_id")}
        return _response(
            LiveStreamMediaList, await self._http.request("POST", SAVED_MEDIA, path_params=path, json=body)
        )

    async def iter_media(
        self,
        key_id: Id,
        *,
        page_size: int = MAX_PAGE_SIZE,
        sort_by: MediaSortBy | str = MediaSortBy.CREATED_AT,
        order_by: SortOrder | str = SortOrder.DESC,
        search: str | None = None,
        status: MediaStatusFilter | None = None,
    ) -> AsyncIterator[LiveStreamMedia]:
        """Every saved recording of the key, page by page (offset paging: concurrent changes may shift it)."""
        offset = 0
        while True:
            page = await self.list_media(
                key_id,
                offset=offset,
                limit=page_size,
                sort_by=sort_by,
                order_by=order_by,
                search=search,
                status=status,
            )
            for item in page.media:
                yield item
            offset += len(page.media)
            if not page.media or offset >= page.total:
                return

    async def get_media(self, media_id: Id) -> LiveStreamMedia:
        """A streaming or recording by its own id (owner only); `media.assets` holds the recording URLs."""
        path = {"media_id": _uuid(media_id, "media_id")}
        try:
            data = await self._http.request("GET", MEDIA, path_params=path)
        except AiozEndpointNotFound:
            # Seed 004 documents `/media`; the backend snapshot routes the same handler at `/video`.
            data = await self._http.request("GET", MEDIA_LEGACY, path_params=path)
        return _response(LiveStreamMedia, data)

    async def get_player_media(self, media_id: Id) -> LiveStreamMedia:
        """Public player view of a streaming (AIOZ needs no credentials here; key and user ids are nil)."""
        path = {"media_id": _uuid(media_id, "media_id")}
        return _response(LiveStreamMedia, await self._http.request("GET", PLAYER_MEDIA, path_params=path))

    async def get_streaming_statistic(self, stream_id: Id) -> LiveStreamStatistic:
        """Ingest health of an open streaming, refreshed by AIOZ every 5–30 s."""
        path = {"stream_id": _uuid(stream_id, "stream_id")}
        return _response(LiveStreamStatistic, await self._http.request("GET", STATISTIC, path_params=path))

    # --- restreaming and thumbnails -------------------------------------------------------------------------

    async def set_multicast(self, stream_key: Id, urls: Sequence[str]) -> LiveStreamMulticast:
        """Forward the key's broadcast to at most two RTMP targets (replaces the previous ones)."""
        body = _request(MulticastUpdate, multicast_urls=list(urls))
        path = {"stream_key": _uuid(stream_key, "stream_key")}
        return _response(
            LiveStreamMulticast, await self._http.request("POST", MULTICAST, path_params=path, json=body)
        )

    async def get_multicast(self, stream_key: Id) -> LiveStreamMulticast:
        path = {"stream_key": _uuid(stream_key, "stream_key")}
        return _response(LiveStreamMulticast, await self._http.request("GET", MULTICAST, path_params=path))

    async def delete_multicast(self, stream_key: Id) -> None:
        await self._http.request(
            "DELETE", MULTICAST, path_params={"stream_key": _uuid(stream_key, "stream_key")}
        )

    async def upload_thumbnail(
        self,
        media_id: Id,
        content: bytes,
        *,
        filename: str = "thumbnail.jpg",
        content_type: str = "image/jpeg",
    ) -> None:
        """Set a streaming's thumbnail (replaces any previous one, so it is safe to retry)."""
        if not content or len(content) > MAX_THUMBNAIL_BYTES:
            raise AiozValidationError(f"thumbnail must be 1 to {MAX_THUMBNAIL_BYTES} bytes")
        path = {"media_id": _uuid(media_id, "media_id")}
        files = {"file": (filename, content, content_type)}
        await self._http.request("POST", THUMBNAIL, path_params=path, files=files)

    async def delete_thumbnail(self, media_id: Id) -> None:
        await self._http.request("DELETE", THUMBNAIL, path_params={"media_id": _uuid(media_id, "media_id")})


def _uuid(value: Id, name: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise AiozValidationError(f"{name} must be a UUID") from None


def _require_change(**fields: object) -> None:
    if all(value is None for value in fields.values()):
        raise AiozValidationError(f"nothing to update: give at least one of {', '.join(fields)}")


def _request(model: type[BaseModel], **fields: Any) -> dict[str, Any]:
    """Validate a request body or query locally; nothing is sent when it is invalid."""
    try:
        return model(**fields).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        raise AiozValidationError(_describe(exc)) from None


def _response(model: type[ModelT], data: Any) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AiozError(f"unexpected AIOZ response for {model.__name__}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'value'}: {error['msg']}" for error in exc.errors()
    )
