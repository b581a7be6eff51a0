"""In-memory AIOZ Stream: keys, streamings and their media, with the backend's rules (spec §3–§6, §11).

Every public method takes the caller's `user_id` plus raw path ids and the JSON body or query, and
returns the `data` object (a dict) or a success message (a str); failures raise `ApiError`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.aioz.fake import wire
from app.aioz.fake.wire import ApiError
from app.aioz.models import (
    AUDIO_RESOLUTIONS,
    CONTAINERS,
    MAX_TITLE_BYTES,
    MAX_VIDEO_BITRATE,
    VIDEO_RESOLUTIONS,
)

DEFAULT_RTMP_URL = "rtmp://127.0.0.1:1935"
LIVE_HOST = "https://live.aioz-fake.example"
PLAYER_HOST = "https://player.aioz-fake.example"
MEDIA_HOST = "https://media.aioz-fake.example"
API_HOST = "https://api.aioz-fake.example"

DEFAULT_QUALITIES = {"video": ("360p", "720p", "1080p"), "audio": ("standard",)}
DEFAULT_VIDEO_BITRATE = {"360p": 750_000, "720p": 3_000_000, "1080p": 5_000_000}
MEDIA_SORT = ("created_at", "updated_at", "title", "size")
MEDIA_STATUS_FILTER = ("new", "done", "fail", "deleted", "transcoding")
MAX_LIMIT = 100
DEFAULT_LIMIT = 25
MAX_THUMBNAIL_BYTES = 8_000_000


class FakeControlError(Exception):
    """A control call (go-live, end, recording) that does not fit the streaming's state."""


@dataclass
class _Key:
    user_id: str
    name: str
    save: bool
    type: str
    id: str = field(default_factory=wire.new_id)
    stream_key: str = field(default_factory=wire.new_id)
    multicast_urls: list[str] = field(default_factory=list)
    multicast_id: str = field(default_factory=wire.new_id)
    created_at: datetime = field(default_factory=wire.utc_now)
    updated_at: datetime = field(default_factory=wire.utc_now)


@dataclass
class _Media:
    user_id: str
    title: str
    type: str
    id: str = field(default_factory=wire.new_id)
    status: str = "new"
    duration: float = 0.0
    size: int = 0
    hls_url: str = ""
    mp4_url: str = ""
    created_at: datetime = field(default_factory=wire.utc_now)
    updated_at: datetime = field(default_factory=wire.utc_now)


@dataclass
class _Streaming:
    key_id: str
    user_id: str
    title: str
    type: str
    save: bool
    qualities: list[dict[str, Any]]
    media: _Media
    id: str = field(default_factory=wire.new_id)
    status: str = "created"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    thumbnail_url: str = ""
    created_at: datetime = field(default_factory=wire.utc_now)
    updated_at: datetime = field(default_factory=wire.utc_now)

    @property
    def is_open(self) -> bool:
        return self.status in ("created", "streaming")

    def touch(self) -> None:
        self.updated_at = self.media.updated_at = wire.utc_now()


class FakeStore:
    def __init__(self, *, rtmp_url: str = DEFAULT_RTMP_URL) -> None:
        self.rtmp_url = rtmp_url
        self.keys: dict[str, _Key] = {}
        self.streamings: dict[str, _Streaming] = {}

    def clear(self) -> None:
        self.keys.clear()
        self.streamings.clear()

    # --- keys ---------------------------------------------------------------------------------------------

    def create_key(self, user_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        name = (wire.json_field(body, "name", str) or "").strip()
        if not name:
            raise ApiError(400, wire.NAME_REQUIRED)
        key = _Key(
            user_id=user_id,
            name=name,
            save=bool(wire.json_field(body, "save", bool, False)),
            type=_key_type(wire.json_field(body, "type", str)),
        )
        self.keys[key.id] = key
        return self._key_json(key)

    def list_keys(self, user_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        sort_by = query.get("sort_by") or "created_at"
        if sort_by not in ("created_at", "name"):
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
        qualities = _qualities(wire.json_field(body, "qualities", list), key.type)
        if any(s.key_id == key.id and s.is_open for s in self.streamings.values()):
            raise ApiError(400, wire.STREAM_ALREADY_CREATED)
        streaming = _Streaming(
            key_id=key.id,
            user_id=user_id,
            title=title,
            type=key.type,
            save=bool(wire.json_field(body, "save", bool, False)),
            qualities=qualities,
            media=_Media(user_id=user_id, title=title, type=key.type),
        )
        self.streamings[streaming.id] = streaming
        return self.streaming_json(streaming)

    def list_streamings(self, user_id: str, key_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        key = self._owned_key(user_id, key_id)
        # Unknown sort values silently fall back here (spec §4.5); live streamings always come first.
        sort_by = query.get("sort_by") if query.get("sort_by") in ("updated_at", "title") else "created_at"
        search = (query.get("search") or "").lower()
        items = [s for s in self._open_streamings(key.id) if search in s.title.lower()]
        items.sort(key=lambda s: getattr(s, sort_by), reverse=query.get("order_by") == "desc")
        items.sort(key=lambda s: s.status != "streaming")
        page = wire.page(items, wire.query_int(query, "offset", 0), _capped_limit(query))
        return {"media": [self.streaming_json(s) for s in page], "total": len(items)}

    def get_streaming(self, user_id: str, key_id: str, stream_id: str) -> dict[str, Any]:
        key = self._owned_key(user_id, key_id)
        return self.streaming_json(self._open_streaming(key.id, stream_id))

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
            streaming.qualities = _qualities(qualities, key.type)
        streaming.title = streaming.media.title = title
        streaming.save = bool(wire.json_field(body, "save", bool, False))
        streaming.touch()
        return wire.STREAMING_UPDATED

    def delete_streaming(self, user_id: str, first_id: str, second_id: str) -> str:
        # Documented order is key id then stream id; production is believed to take the reverse
        # (spec §12–§13), so both are accepted.
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
        if limit > MAX_LIMIT:
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
            # `status` is compared with the streaming status, which is always `end` here (spec §4.7).
            and status in (None, s.status)
            and media_status in (None, s.media.status)
            and search in s.title.lower()
        ]
        recordings.sort(
            key=lambda s: s.media.size if sort_by == "size" else getattr(s, sort_by), reverse=descending
        )
        page = wire.page(recordings, wire.json_field(body, "offset", int, 0), limit)
        return {"media": [self.streaming_json(s) for s in page], "total": len(recordings)}

    def get_media(self, user_id: str, media_id: str) -> dict[str, Any]:
        streaming = self._streaming(media_id)
        self._owned_key(user_id, streaming.key_id)
        return self.streaming_json(streaming)

    def get_player_media(self, media_id: str) -> dict[str, Any]:
        return self.streaming_json(self._streaming(media_id), public=True)

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
        return self._multicast_json(key)

    def get_multicast(self, user_id: str, stream_key: str) -> dict[str, Any]:
        key = self._key_by_stream_key(user_id, stream_key)
        if not key.multicast_urls:
            raise ApiError(404, wire.RECORD_NOT_FOUND)
        return self._multicast_json(key)

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
        return self.streaming_json(streaming)

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
        return self.streaming_json(streaming)

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
        return self.streaming_json(streaming)

    # --- lookups ------------------------------------------------------------------------------------------

    def _owned_key(self, user_id: str, key_id: str) -> _Key:
        key = self.keys.get(wire.path_uuid(key_id))
        if key is None:
            raise ApiError(404, wire.RECORD_NOT_FOUND)
        if key.user_id != user_id:
            raise ApiError(400, wire.NOT_OWNER)
        return key

    def _key_by_stream_key(self, user_id: str, stream_key: str) -> _Key:
        stream_key = wire.path_uuid(stream_key)
        key = next((k for k in self.keys.values() if k.stream_key == stream_key), None)
        if key is None:
            raise ApiError(404, wire.RECORD_NOT_FOUND)
        return self._owned_key(user_id, key.id)

    def _streaming(self, stream_id: str) -> _Streaming:
        streaming = self.streamings.get(wire.path_uuid(stream_id))
        if streaming is None:
            raise ApiError(404, wire.RECORD_NOT_FOUND)
        return streaming

    def _open_streamings(self, key_id: str) -> list[_Streaming]:
        return [s for s in self.streamings.values() if s.key_id == key_id and s.is_open]

    def _open_streaming(self, key_id: str, stream_id: str) -> _Streaming:
        streaming = self.streamings.get(wire.path_uuid(stream_id))
        if streaming is None or streaming.key_id != key_id or not streaming.is_open:
            raise ApiError(404, wire.RECORD_NOT_FOUND)
        return streaming

    def _streaming_to_update(self, key_id: str, stream_id: str | None) -> _Streaming:
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

    def _control_streaming(self, stream_id: str) -> _Streaming:
        try:
            return self._streaming(stream_id)
        except ApiError as exc:
            raise FakeControlError(f"no streaming {stream_id!r}: {exc.message}") from None

    # --- serialisation ------------------------------------------------------------------------------------

    def _key_json(self, key: _Key) -> dict[str, Any]:
        streamings = [s for s in self.streamings.values() if s.key_id == key.id]
        return {
            "id": key.id,
            "user_id": key.user_id,
            "name": key.name,
            "save": key.save,
            "type": key.type,
            "stream_key": key.stream_key,
            "rtmp_url": self.rtmp_url,
            "created_at": wire.rfc3339(key.created_at),
            "updated_at": wire.rfc3339(key.updated_at),
            "total_save_media": sum(s.save and s.status == "end" for s in streamings),
            "total_live_streaming": sum(s.status == "streaming" for s in streamings),
        }

    def streaming_json(self, streaming: _Streaming, *, public: bool = False) -> dict[str, Any]:
        player_url = f"{PLAYER_HOST}/live/{streaming.id}"
        started = streaming.started_at
        return {
            "id": streaming.id,
            "live_stream_key_id": wire.NIL_UUID if public else streaming.key_id,
            "user_id": wire.NIL_UUID if public else streaming.user_id,
            "title": streaming.title,
            "type": streaming.type,
            "status": streaming.status,
            "save": streaming.save,
            "duration": int((wire.utc_now() - started).total_seconds() * 1000) if started else 0,
            "assets": {
                "hls_url": f"{LIVE_HOST}/{streaming.id}/index.m3u8",
                "iframe": f'<iframe src="{player_url}" width="100%" height="100%" frameborder="0" '
                "allowfullscreen></iframe>",
                "player_url": player_url,
                "thumbnail_url": streaming.thumbnail_url,
            },
            "qualities": [q["resolution"] for q in streaming.qualities],
            "media": _media_json(streaming),
            "frame_rate": 0,
            "audio_bitrate": 0,
            "current_view": 0,
            "total_view": 0,
            "created_at": wire.rfc3339(streaming.created_at),
            "updated_at": wire.rfc3339(streaming.updated_at),
        }

    def _multicast_json(self, key: _Key) -> dict[str, Any]:
        return {
            "id": key.multicast_id,
            "live_stream_key_id": key.id,
            "user_id": key.user_id,
            "live_stream_multicast_urls": key.multicast_urls,
        }


def _media_json(streaming: _Streaming) -> dict[str, Any]:
    media = streaming.media
    done = media.status == "done"
    player_url = f"{PLAYER_HOST}/video/{media.id}" if done else ""
    return {
        "id": media.id,
        "user_id": media.user_id,
        "title": media.title,
        "description": "",
        "type": media.type,
        "status": media.status,
        "is_public": True,
        "is_mp4": bool(media.mp4_url),
        "duration": media.duration,
        "size": media.size,
        "view": 0,
        "tags": [],
        "metadata": [],
        "qualities": [
            {
                "name": q["resolution"],
                "status": "done" if done else "waiting",
                "type": q["type"],
                "video_codec": q["video_codec"],
                "video_bitrate": q["video_bitrate"],
                "audio_codec": "aac",
                "audio_bitrate": 128_000,
            }
            for q in streaming.qualities
        ],
        "captions": [],
        "chapters": [],
        "player_theme_id": "",
        "player_theme": None,
        "assets": {
            "source_url": "",
            "thumbnail_url": streaming.thumbnail_url,
            "hls_url": media.hls_url,
            "hls_player_url": player_url,
            "hls_iframe": f'<iframe src="{player_url}"></iframe>' if done else "",
            "dash_url": "",
            "dash_player_url": "",
            "dash_iframe": "",
            "mp4_url": media.mp4_url,
        },
        "created_at": wire.rfc3339(media.created_at),
        "updated_at": wire.rfc3339(media.updated_at),
    }


def _capped_limit(query: Mapping[str, str]) -> int:
    limit = wire.query_int(query, "limit", DEFAULT_LIMIT)
    return DEFAULT_LIMIT if limit <= 0 else min(limit, MAX_LIMIT)


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


def _qualities(raw: list[Any] | None, key_type: str) -> list[dict[str, Any]]:
    """Validate QualityConfig elements (spec §5.4); bare strings are the docs' legacy form."""
    items = raw or [
        {"resolution": r, "type": "hls", "container_type": "mpegts"} for r in DEFAULT_QUALITIES[key_type]
    ]
    return [_quality(item, key_type) for item in items]


def _quality(item: Any, key_type: str) -> dict[str, Any]:
    if isinstance(item, str):
        item = {"resolution": item, "type": "hls", "container_type": "mpegts"}
    if not isinstance(item, dict):
        raise ApiError(400, wire.INVALID_BODY)
    kind, resolution = item.get("type"), item.get("resolution")
    if kind not in CONTAINERS:
        raise ApiError(400, wire.INVALID_QUALITY_TYPE)
    if item.get("container_type") not in CONTAINERS[kind]:
        raise ApiError(400, wire.INVALID_CONTAINER)
    if not resolution:
        raise ApiError(400, wire.EMPTY_RESOLUTION)
    if resolution not in (VIDEO_RESOLUTIONS if key_type == "video" else AUDIO_RESOLUTIONS):
        raise ApiError(400, wire.INVALID_RESOLUTION)
    video_config = item.get("video_config") or {}
    if not isinstance(video_config, dict):
        raise ApiError(400, wire.INVALID_BODY)
    bitrate = video_config.get("bitrate") or DEFAULT_VIDEO_BITRATE.get(resolution) or 0
    if not isinstance(bitrate, int):
        raise ApiError(400, wire.INVALID_BODY)
    limit = MAX_VIDEO_BITRATE.get(resolution)
    if limit is not None and bitrate > limit:
        raise ApiError(400, wire.BITRATE_TOO_HIGH.format(resolution, limit))
    return {
        "resolution": resolution,
        "type": kind,
        "video_codec": video_config.get("codec") or ("h264" if key_type == "video" else ""),
        "video_bitrate": bitrate,
    }
