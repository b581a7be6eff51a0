"""QualityConfig validation as AIOZ applies it to streaming creates and updates (docs/aioz.md, "Qualities")."""

from typing import Any

from app.aioz.fake import wire
from app.aioz.fake.wire import ApiError
from app.aioz.models import AUDIO_RESOLUTIONS, CONTAINERS, MAX_VIDEO_BITRATE, VIDEO_RESOLUTIONS

DEFAULT_QUALITIES = {"video": ("360p", "720p", "1080p"), "audio": ("standard",)}
DEFAULT_VIDEO_BITRATE = {"360p": 750_000, "720p": 3_000_000, "1080p": 5_000_000}


def parse_qualities(raw: list[Any] | None, key_type: str) -> list[dict[str, Any]]:
    """Validate QualityConfig elements (docs/aioz.md, "Qualities"); bare strings are the docs' legacy form."""
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
