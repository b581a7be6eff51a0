"""The fake's records and their JSON form (docs/aioz.md, "Wire format"): what AIOZ stores and how it answers with it."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.aioz.fake import wire

LIVE_HOST = "https://live.aioz-fake.example"
PLAYER_HOST = "https://player.aioz-fake.example"
MEDIA_HOST = "https://media.aioz-fake.example"
API_HOST = "https://api.aioz-fake.example"


@dataclass
class KeyRecord:
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
class MediaRecord:
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
class StreamingRecord:
    key_id: str
    user_id: str
    title: str
    type: str
    save: bool
    qualities: list[dict[str, Any]]
    media: MediaRecord
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


def key_json(key: KeyRecord, rtmp_url: str, streamings: list[StreamingRecord]) -> dict[str, Any]:
    return {
        "id": key.id,
        "user_id": key.user_id,
        "name": key.name,
        "save": key.save,
        "type": key.type,
        "stream_key": key.stream_key,
        "rtmp_url": rtmp_url,
        "created_at": wire.rfc3339(key.created_at),
        "updated_at": wire.rfc3339(key.updated_at),
        "total_save_media": sum(s.save and s.status == "end" for s in streamings),
        "total_live_streaming": sum(s.status == "streaming" for s in streamings),
    }


def streaming_json(streaming: StreamingRecord, *, public: bool = False) -> dict[str, Any]:
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
        "media": media_json(streaming),
        "frame_rate": 0,
        "audio_bitrate": 0,
        "current_view": 0,
        "total_view": 0,
        "created_at": wire.rfc3339(streaming.created_at),
        "updated_at": wire.rfc3339(streaming.updated_at),
    }


def multicast_json(key: KeyRecord) -> dict[str, Any]:
    return {
        "id": key.multicast_id,
        "live_stream_key_id": key.id,
        "user_id": key.user_id,
        "live_stream_multicast_urls": key.multicast_urls,
    }


def media_json(streaming: StreamingRecord) -> dict[str, Any]:
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
