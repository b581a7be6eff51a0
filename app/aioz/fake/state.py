"""In-memory AIOZ Stream: keys, streamings and their media, with the backend's rules (docs/aioz.md, "Wire format").

Every public method takes the caller's `user_id` plus raw path ids and the JSON body or query, and
returns the `data` object (a dict) or a success message (a str); failures raise `ApiError`.
"""

from collections.abc import Mapping
from typing import Any, get_args

from app.aioz.fake import wire
from app.aioz.fake.qualities import parse_qualities
from app.aioz.fake.records import (
    API_HOST,
    MEDIA_HOST,
    KeyRecord,
    MediaRecord,
    StreamingRecord,
    key_json,
    multicast_json,
    streaming_json,
)
from app.aioz.fake.wire import ApiError
from app.aioz.models import (
    MAX_PAGE_SIZE,
    MAX_THUMBNAIL_BYTES,
    MAX_TITLE_BYTES,
    KeySortBy,
    MediaSortBy,
    MediaStatusFilter,
)

DEFAULT_RTMP_URL = "rtmp://127.0.0.1:1935"
KEY_SORT = frozenset(KeySortBy)
MEDIA_SORT = frozenset(MediaSortBy)
MEDIA_STATUS_FILTER = frozenset(get_args(MediaStatusFilter))
DEFAULT_LIMIT = 25


class FakeControlError(Exception):
    """A control call (go-live, end, recording) that does not fit the streaming's state."""


class FakeStore:
    def __init__(self, *, rtmp_url: str = DEFAULT_RTMP_URL) -> None:
        self.rtmp_url = rtmp_url
        self.keys: dict[str, KeyRecord] = {}
        self.streamings: dict[str, StreamingRecord] = {}

    def clear(self) -> None:
        self.keys.clear()
        self.streamings.clear()

    # --- keys ---------------------------------------------------------------------------------------------

    def create_key(self, user_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        name = (wire.json_field(body, "name", str) or "").strip()
        if not name:
            raise ApiError(400, wire.NAME_REQUIRED)
        key = KeyRecord(
            user_id=user_id,
            name=name,
            save=bool(wire.json_field(body, "save", bool, False)),
            type=_key_type(wire.json_field(body, "type", str)),
        )
        self.keys[key.id] = key
        return self._key_json(key)

    def list_keys(self, user_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        sort_by = query.get("sort_by") or "created_at"
        if sort_by not in KEY_SORT:
            raise ApiError(400, wire.KEY_SORT_NOT_ALLOWED.format(sort_by))
        descending = _descending(query.get("order_by") or "asc")
        search = (query.get("search") or "").lower()
        wanted_type = _key_type(query["type"]) if query.get("type") else None
        keys = [
            k
            for k in self.keys.values()
            if k.user_id == user_id and search in k.name.lower() and wanted_type in (None, k.type)
        ]
        keys.sort(key=lambda k: getattr(k, sort_by), reverse=descending)
        page = wire.page(keys, wire.query_int(query, "offset", 0), _capped_limit(query))
        return {"live_stream_keys": [self._key_json(k) for k in page], "total": len(keys)}

    def get_key(self, user_id: str, key_id: str) -> dict[str, Any]:
        return self._key_json(self._owned_key(user_id, key_id))

    def update_key(self, user_id: str, key_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        key = self._owned_key(user_id, key_id)
        name = (wire.json_field(body, "name", str) or "").strip()
        key.name = name or key.name
        key.save = bool(wire.json_field(body, "save", bool, False))
        key.updated_at = wire.utc_now()
        return self._key_json(key)

    def delete_key(self, user_id: str, key_id: str) -> str:
        key = self._owned_key(user_id, key_id)
        streamings = [s for s in self.streamings.values() if s.key_id == key.id]
        if any(s.status == "streaming" for s in streamings):
            raise ApiError(400, wire.KEY_IS_LIVE)
        for streaming in streamings:
            del self.streamings[streaming.id]
        del self.keys[key.id]
        return wire.KEY_DELETED

    # --- streamings ---------------------------------------------------------------------------------------

    def create_streaming(self, user_id: str, key_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        key = self._owned_key(user_id, key_id)
        title = (wire.json_field(body, "title", str) or "").strip()
        if not title:
            raise ApiError(400, wire.TITLE_REQUIRED)
        if len(title.encode()) > MAX_TITLE_BYTES:
            raise ApiError(400, wire.TITLE_TOO_LONG)
        qualities = parse_qualities(wire.json_field(body, "qualities", list), key.type)
        if any(s.key_id == key.id and s.is_open for s in self.streamings.values()):
            raise ApiError(400, wire.STREAM_ALREADY_CREATED)
        streaming = StreamingRecord(
            key_id=key.id,
            user_id=user_id,
            title=title,
            type=key.type,
            save=bool(wire.json_field(body, "save", bool, False)),
            qualities=qualities,
            media=MediaRecord(user_id=user_id, title=title, type=key.type),
        )
        self.streamings[streaming.id] = streaming
        return streaming_json(streaming)

    def list_streamings(self, user_id: str, key_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        key = self._owned_key(user_id, key_id)
        # Unknown sort values silently fall back here (docs/aioz.md, "Lists and sorting"); live streamings always come first.
        requested_sort = query.get("sort_by", "")
        sort_by = requested_sort if requested_sort in ("updated_at", "title") else "created_at"
        search = (query.get("search") or "").lower()
        items = [s for s in self._open_streamings(key.id) if search in s.title.lower()]
        items.sort(key=lambda s: getattr(s, sort_by), reverse=query.get("order_by") == "desc")
        items.sort(key=lambda s: s.status != "streaming")
        page = wire.page(items, wire.query_int(query, "offset", 0), _capped_limit(query))
        return {"media": [streaming_json(s) for s in page], "total": len(items)}

    def get_streaming(self, user_id: str, key_id: str, stream_id: str) -> dict[str, Any]:
        key = self._owned_key(user_id, key_id)
        return streaming_json(self._open_streaming(key.id, stream_id))

    def update_streaming(self, user_id: str, key_id: str, body: Mapping[str, Any]) -> str:
        key = self._owned_key(user_id, key_id)
        streaming = self._streaming_to_update(key.id, wire.json_field(body, "stream_id", str))
        title = (wire.json_field(body, "title", str) or "").strip()
        if not title:
            raise ApiError(400, wire.UPDATE_TITLE_REQUIRED)
        if len(title) > MAX_TITLE_BYTES:
            raise ApiError(400, wire.UPDATE_TITLE_TOO_LONG)
        qualities = wire.json_field(body, "qualities", list)
        if qualities:
            streaming.qualities = parse_qualities(qualities, key.type)
        streaming.title = streaming.media.title = title
        streaming.save = bool(wire.json_field(body, "save", bool, False))
        streaming.touch()
        return wire.STREAMING_UPDATED

    def delete_streaming(self, user_id: str, first_id: str, second_id: str) -> str:
        # Documented order is key id then stream id; production is believed to take the reverse
        # (docs/aioz.md, "Deleting a streaming"), so both are accepted.
        first_id, second_id = wire.path_uuid(first_id), wire.path_uuid(second_id)
        for key_id, stream_id in ((first_id, second_id), (second_id, first_id)):
            streaming = self.streamings.get(stream_id)
            if key_id in self.keys and streaming is not None and streaming.key_id == key_id:
                self._owned_key(user_id, key_id)
                del self.streamings[stream_id]
                return wire.STREAMING_DELETED
        raise ApiError(404, wire.RECORD_NOT_FOUND)

    # --- recordings, media, statistics --------------------------------------------------------------------

    def list_media(self, user_id: str, key_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        key = self._owned_key(user_id, key_id)
        # Seed 004: sort_by defaults to created_at (created_at|updated_at|title|size), order_by to asc.
        sort_by = wire.json_field(body, "sort_by", str) or "created_at"
        if sort_by not in MEDIA_SORT:
            raise ApiError(400, wire.MEDIA_SORT_NOT_ALLOWED.format(sort_by))
        descending = _descending(wire.json_field(body, "order_by", str) or "asc")
        limit = wire.json_field(body, "limit", int) or DEFAULT_LIMIT
        if limit > MAX_PAGE_SIZE:
            raise ApiError(400, wire.LIMIT_NOT_ALLOWED)
        limit = DEFAULT_LIMIT if limit < 0 else limit
        status = _status_filter(wire.json_field(body, "status", str))
        media_status = _status_filter(wire.json_field(body, "media_status", str))
        search = (wire.json_field(body, "search", str) or "").lower()
        recordings = [
            s
            for s in self.streamings.values()
            if s.key_id == key.id
            and s.save
            and s.status == "end"
            and s.media.status != "deleted"
            # `status` is compared with the streaming status, which is always `end` here (docs/aioz.md, "Lists and sorting").
            and status in (None, s.status)
            and media_status in (None, s.media.status)
            and search in s.title.lower()
        ]
        recordings.sort(
            key=lambda s: s.media.size if sort_by == "size" else getattr(s, sort_by), reverse=descending
        )
        page = wire.page(recordings, wire.json_field(body, "offset", int, 0), limit)
        return {"media": [streaming_json(s) for s in page], "total": len(recordings)}

    def get_media(self, user_id: str, media_id: str) -> dict[str, Any]:
        streaming = self._streaming(media_id)
        self._owned_key(user_id, streaming.key_id)
        return streaming_json(streaming)

    def get_player_media(self, media_id: str) -> dict[str, Any]:
        return streaming_json(self._streaming(media_id), public=True)

    def get_statistic(self, user_id: str, stream_id: str) -> dict[str, Any]:
        streaming = self._streaming(stream_id)
        self._owned_key(user_id, streaming.key_id)
        if not streaming.is_open:
            raise ApiError(404, wire.RECORD_NOT_FOUND)
        live = streaming.started_at is not None
        seconds = (wire.utc_now() - streaming.started_at).total_seconds() if streaming.started_at else 0.0
        return {
            "id": wire.new_id(),
            "live_stream_media_id": streaming.id,
            "fps_in": 30 if live else 0,
            "fps_out": 30 if live else 0,
            "bitrate_in": 4500.0 if live else 0.0,
            "bitrate_out": 4500.0 if live else 0.0,
            "data_transferred": round(seconds * 4500 / 8 / 1000, 3),
            "current_view": 0,
            "total_view": 0,
        }

    # --- multicast and thumbnails -------------------------------------------------------------------------

    def set_multicast(self, user_id: str, stream_key: str, body: Mapping[str, Any]) -> dict[str, Any]:
        key = self._key_by_stream_key(user_id, stream_key)
        urls = wire.json_field(body, "multicast_urls", list) or []
        if not urls:
            raise ApiError(400, wire.MULTICAST_REQUIRED)
        if len(urls) > 2:
            raise ApiError(400, wire.MULTICAST_TOO_MANY)
        if not all(isinstance(url, str) and url.startswith(("rtmp://", "rtmps://")) for url in urls):
            raise ApiError(400, wire.MULTICAST_INVALID)
        key.multicast_urls = list(urls)
        return multicast_json(key)

    def get_multicast(self, user_id: str, stream_key: str) -> dict[str, Any]:
        key = self._key_by_stream_key(user_id, stream_key)
        if not key.multicast_urls:
            raise ApiError(404, wire.RECORD_NOT_FOUND)
        return multicast_json(key)

    def delete_multicast(self, user_id: str, stream_key: str) -> str:
        self._key_by_stream_key(user_id, stream_key).multicast_urls = []
        return wire.SUCCESS

    def set_thumbnail(self, user_id: str, media_id: str, size: int | None) -> str:
        streaming = self._streaming(media_id)
        self._owned_key(user_id, streaming.key_id)
        if not size:
            raise ApiError(400, wire.INVALID_FILE)
        if size > MAX_THUMBNAIL_BYTES:
            raise ApiError(400, wire.THUMBNAIL_TOO_LARGE)
        streaming.thumbnail_url = f"{API_HOST}/api/media/{streaming.media.id}/thumbnail?resolution=original"
        streaming.touch()
        return wire.THUMBNAIL_UPLOADED

    def delete_thumbnail(self, user_id: str, media_id: str) -> str:
        streaming = self._streaming(media_id)
        self._owned_key(user_id, streaming.key_id)
        streaming.thumbnail_url = ""
        streaming.touch()
        return wire.SUCCESS

    # --- control hooks (what the RTMP ingest server and the encoders would cause) -------------------------

    def go_live(self, stream_id: str) -> dict[str, Any]:
        streaming = self._control_streaming(stream_id)
        if streaming.status != "created":
            raise FakeControlError(f"streaming is {streaming.status}, only a created one can go live")
        streaming.status = "streaming"
        streaming.started_at = wire.utc_now()
        streaming.touch()
        return streaming_json(streaming)

    def end_stream(self, stream_id: str) -> dict[str, Any]:
        """The publisher disconnects: `end`, and without `save` the streaming and its media are deleted."""
        streaming = self._control_streaming(stream_id)
        if not streaming.is_open:
            raise FakeControlError(f"streaming is already {streaming.status}")
        streaming.status = "end"
        streaming.ended_at = wire.utc_now()
        streaming.media.status = "transcoding"
        streaming.touch()
        if not streaming.save:
            del self.streamings[streaming.id]
        return streaming_json(streaming)

    def produce_recording(self, stream_id: str, *, failed: bool = False) -> dict[str, Any]:
        """Finish transcoding a saved, ended streaming: media `done` with HLS and MP4 URLs (or `fail`)."""
        streaming = self._control_streaming(stream_id)
        if streaming.status != "end" or not streaming.save:
            raise FakeControlError("only an ended streaming created with save=true has a recording")
        media = streaming.media
        media.status = "fail" if failed else "done"
        if not failed:
            started = streaming.started_at or streaming.created_at
            media.duration = round(((streaming.ended_at or wire.utc_now()) - started).total_seconds(), 3)
            media.size = int(media.duration * 625_000)  # about 5 Mbit/s
            media.hls_url = f"{MEDIA_HOST}/{media.id}/hls/master.m3u8"
            media.mp4_url = f"{MEDIA_HOST}/{media.id}/mp4/source.mp4"
        streaming.touch()
        return streaming_json(streaming)

    # --- lookups ------------------------------------------------------------------------------------------

    def _owned_key(self, user_id: str, key_id: str) -> KeyRecord:
        key = self.keys.get(wire.path_uuid(key_id))
        if key is None:
            raise ApiError(404, wire.RECORD_NOT_FOUND)
        if key.user_id != user_id:
            raise ApiError(400, wire.NOT_OWNER)
        return key

    def _key_by_stream_key(self, user_id: str, stream_key: str) -> KeyRecord:
        stream_key = wire.path_uuid(stream_key)
        key = next((k for k in self.keys.values() if k.stream_key == stream_key), None)
        if key is None:
            raise ApiError(404, wire.RECORD_NOT_FOUND)
        return self._owned_key(user_id, key.id)

    def _streaming(self, stream_id: str) -> StreamingRecord:
        streaming = self.streamings.get(wire.path_uuid(stream_id))
        if streaming is None:
            raise ApiError(404, wire.RECORD_NOT_FOUND)
        return streaming

    def _open_streamings(self, key_id: str) -> list[StreamingRecord]:
        return [s for s in self.streamings.values() if s.key_id == key_id and s.is_open]

    def _open_streaming(self, key_id: str, stream_id: str) -> StreamingRecord:
        streaming = self.streamings.get(wire.path_uuid(stream_id))
        if streaming is None or streaming.key_id != key_id or not streaming.is_open:
            raise ApiError(404, wire.RECORD_NOT_FOUND)
        return streaming

    def _streaming_to_update(self, key_id: str, stream_id: str | None) -> StreamingRecord:
        if stream_id is None:
            # Seed 003's example sends no stream_id; a key has at most one open streaming.
            open_ones = self._open_streamings(key_id)
            if not open_ones:
                raise ApiError(404, wire.RECORD_NOT_FOUND)
            return open_ones[0]
        streaming = self.streamings.get(wire.path_uuid(stream_id))
        if streaming is None or streaming.key_id != key_id:
            raise ApiError(404, wire.RECORD_NOT_FOUND)
        if not streaming.is_open:
            raise ApiError(400, wire.STREAM_ENDED)
        return streaming

    def _key_json(self, key: KeyRecord) -> dict[str, Any]:
        return key_json(key, self.rtmp_url, [s for s in self.streamings.values() if s.key_id == key.id])

    def _control_streaming(self, stream_id: str) -> StreamingRecord:
        try:
            return self._streaming(stream_id)
        except ApiError as exc:
            raise FakeControlError(f"no streaming {stream_id!r}: {exc.message}") from None


def _capped_limit(query: Mapping[str, str]) -> int:
    limit = wire.query_int(query, "limit", DEFAULT_LIMIT)
    return DEFAULT_LIMIT if limit <= 0 else min(limit, MAX_PAGE_SIZE)


def _key_type(value: str | None) -> str:
    return "audio" if value == "audio" else "video"


def _descending(order_by: str) -> bool:
    if order_by not in ("asc", "desc"):
        raise ApiError(400, wire.UNKNOWN_ORDER)
    return order_by == "desc"


def _status_filter(value: str | None) -> str | None:
    if value and value not in MEDIA_STATUS_FILTER:
        raise ApiError(400, wire.INVALID_STATUS)
    return value or None
