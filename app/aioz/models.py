"""Typed AIOZ Stream request and response objects (docs/aioz.md, "Wire format").

Response models ignore nothing and require little: AIOZ adds fields over time, so unknown fields are kept
(`extra="allow"`) and most known ones have defaults. Request models forbid unknown fields and carry the
client-side validation rules, so a bad call fails before any request is sent.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

# Seed 003 documents these resolutions (the backend snapshot in the spec also knows 4320p but not 144p;
# the seed wins).
VIDEO_RESOLUTIONS = ("144p", "240p", "360p", "480p", "720p", "1080p", "1440p", "2160p")
AUDIO_RESOLUTIONS = ("standard", "good", "highest", "lossless")
CONTAINERS = {"hls": ("mpegts", "fmp4"), "dash": ("mp4", "webm")}
MAX_VIDEO_BITRATE = {
    "240p": 700_000,
    "360p": 1_200_000,
    "480p": 2_000_000,
    "720p": 4_000_000,
    "1080p": 6_000_000,
    "1440p": 12_000_000,
    "2160p": 30_000_000,
}
AUDIO_SAMPLE_RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000)
MAX_TITLE_BYTES = 255
MAX_PAGE_SIZE = 100
MAX_MULTICAST_URLS = 2
MAX_THUMBNAIL_BYTES = 8_000_000  # AIOZ counts 8 MB as 8,000,000 bytes


class KeyType(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"


class StreamingStatus(StrEnum):
    """`LiveStreamMedia.status` (docs/aioz.md, "Statuses"): created → streaming → end (→ uploading)."""

    CREATED = "created"
    STREAMING = "streaming"
    END = "end"
    UPLOADING = "uploading"


class MediaStatus(StrEnum):
    """`Media.status` (docs/aioz.md, "Statuses"); a recording can be played once it is `done`."""

    NEW = "new"
    WAITING = "waiting"
    TRANSCODING = "transcoding"
    UPLOADING = "uploading"
    DONE = "done"
    FAIL = "fail"
    DELETED = "deleted"
    HIDDEN = "hidden"


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


class KeySortBy(StrEnum):
    CREATED_AT = "created_at"
    NAME = "name"


class MediaSortBy(StrEnum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    TITLE = "title"
    SIZE = "size"


MediaStatusFilter = Literal["new", "done", "transcoding", "fail", "deleted"]
OPEN_STATUSES = frozenset({StreamingStatus.CREATED, StreamingStatus.STREAMING})


# --- requests ---------------------------------------------------------------------------------------------


def _title(value: object) -> object:
    if not isinstance(value, str):
        return value
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value.encode()) > MAX_TITLE_BYTES:
        raise ValueError(f"must be at most {MAX_TITLE_BYTES} bytes")
    return value


def _quality(value: object) -> object:
    # The docs' examples send bare resolution names; the current API takes objects.
    return {"resolution": value} if isinstance(value, str) else value


Title = Annotated[str, BeforeValidator(_title)]
PageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)]
Offset = Annotated[int, Field(ge=0)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VideoConfig(_Request):
    codec: Literal["h264", "h265"] = "h264"
    bitrate: Annotated[int, Field(gt=0)] | None = None
    index: int | None = None


class AudioConfig(_Request):
    codec: Literal["aac"] = "aac"
    bitrate: Annotated[int, Field(gt=0, le=256_000)] | None = None
    sample_rate: int | None = None
    channels: Literal["1", "2", "3", "4", "5", "6", "7", "8"] | None = None
    language: str | None = None
    index: int | None = None

    @model_validator(mode="after")
    def _check_sample_rate(self) -> "AudioConfig":
        if self.sample_rate is not None and self.sample_rate not in AUDIO_SAMPLE_RATES:
            raise ValueError(f"sample_rate must be one of {AUDIO_SAMPLE_RATES}")
        return self


class QualityConfig(_Request):
    """One rendition requested for a streaming (docs/aioz.md, "Qualities"). A bare string means `{"resolution": s}`."""

    resolution: str
    type: Literal["hls", "dash"] = "hls"
    container_type: str | None = None
    video_config: VideoConfig | None = None
    audio_config: AudioConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> "QualityConfig":
        if self.resolution not in VIDEO_RESOLUTIONS + AUDIO_RESOLUTIONS:
            raise ValueError(f"resolution must be one of {VIDEO_RESOLUTIONS + AUDIO_RESOLUTIONS}")
        allowed = CONTAINERS[self.type]
        if self.container_type is None:
            self.container_type = allowed[0]
        elif self.container_type not in allowed:
            raise ValueError(f"container_type for {self.type} must be one of {allowed}")
        limit = MAX_VIDEO_BITRATE.get(self.resolution)
        bitrate = self.video_config.bitrate if self.video_config else None
        if limit is not None and bitrate is not None and bitrate > limit:
            raise ValueError(f"video bitrate for {self.resolution} must be at most {limit}")
        return self


Qualities = list[Annotated[QualityConfig, BeforeValidator(_quality)]]


class LiveStreamKeyCreate(_Request):
    name: Title
    save: bool = False
    type: KeyType = KeyType.VIDEO


class LiveStreamKeyUpdate(_Request):
    name: Title
    save: bool


class LiveStreamKeyQuery(_Request):
    search: str | None = None
    sort_by: KeySortBy = KeySortBy.CREATED_AT
    order_by: SortOrder = SortOrder.ASC
    offset: Offset = 0
    limit: PageSize = 25
    type: KeyType | None = None


class StreamingCreate(_Request):
    title: Title
    save: bool = False
    qualities: Qualities | None = None


class StreamingUpdate(_Request):
    stream_id: str
    title: Title
    save: bool
    qualities: Qualities | None = None


class MediaQuery(_Request):
    """Body of `POST /live_streams/{key_id}/media`. `sort_by`/`order_by` are always sent (docs/aioz.md, "Lists and sorting")."""

    offset: Offset = 0
    limit: PageSize = 25
    sort_by: MediaSortBy = MediaSortBy.CREATED_AT
    order_by: SortOrder = SortOrder.DESC
    search: str | None = None
    media_status: MediaStatusFilter | None = None


class MulticastUpdate(_Request):
    multicast_urls: Annotated[list[str], Field(min_length=1, max_length=MAX_MULTICAST_URLS)]

    @model_validator(mode="after")
    def _check_urls(self) -> "MulticastUpdate":
        if not all(url.startswith(("rtmp://", "rtmps://")) for url in self.multicast_urls):
            raise ValueError("multicast_urls must be rtmp:// or rtmps:// URLs")
        return self


# --- responses --------------------------------------------------------------------------------------------


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class LiveStreamKey(_Response):
    """An RTMP credential. Give an encoder server = `rtmp_url` and stream key = `stream_key`."""

    id: str
    user_id: str = ""
    name: str = ""
    save: bool = False
    type: str = KeyType.VIDEO
    stream_key: str = Field(default="", repr=False)
    rtmp_url: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    total_save_media: int = 0
    total_live_streaming: int = 0

    @property
    def ingest_url(self) -> str:
        """Full publish URL `rtmp://<host>/<stream_key>` (secret: do not log it)."""
        return f"{self.rtmp_url.rstrip('/')}/{self.stream_key}"


class LiveStreamKeyList(_Response):
    live_stream_keys: list[LiveStreamKey] = Field(default_factory=list)
    total: int = 0


class LiveStreamAssets(_Response):
    hls_url: str = ""
    iframe: str = ""
    player_url: str = ""
    thumbnail_url: str = ""


class MediaAssets(_Response):
    source_url: str = ""
    thumbnail_url: str = ""
    hls_url: str = ""
    hls_player_url: str = ""
    hls_iframe: str = ""
    dash_url: str = ""
    dash_player_url: str = ""
    dash_iframe: str = ""
    mp4_url: str = ""


class MediaQuality(_Response):
    name: str = ""
    status: str = ""
    type: str = ""
    video_codec: str = ""
    video_bitrate: int = 0
    audio_codec: str = ""
    audio_bitrate: int = 0


class MediaMetadata(_Response):
    key: str = ""
    value: str = ""


class MediaCaption(_Response):
    language: str = ""
    url: str = ""
    description: str = ""
    status: str = ""
    is_default: bool = False


class MediaChapter(_Response):
    language: str = ""
    url: str = ""


class Media(_Response):
    """The VOD media behind a streaming; for a saved recording, `assets.hls_url`/`mp4_url` play it."""

    id: str
    user_id: str = ""
    title: str = ""
    description: str = ""
    type: str = KeyType.VIDEO
    status: str = MediaStatus.NEW
    is_public: bool = False
    is_mp4: bool = False
    duration: float = 0
    size: int = 0
    view: int = 0
    tags: list[str] = Field(default_factory=list)
    metadata: list[MediaMetadata] = Field(default_factory=list)
    qualities: list[MediaQuality] = Field(default_factory=list)
    captions: list[MediaCaption] = Field(default_factory=list)
    chapters: list[MediaChapter] = Field(default_factory=list)
    player_theme_id: str = ""
    player_theme: dict[str, Any] | None = None
    assets: MediaAssets = Field(default_factory=MediaAssets)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class LiveStreamMedia(_Response):
    """A streaming (one broadcast session under a key), and after it ends with `save`, its recording."""

    id: str
    live_stream_key_id: str = ""
    user_id: str = ""
    title: str = ""
    type: str = KeyType.VIDEO
    status: str = StreamingStatus.CREATED
    save: bool = False
    duration: int = Field(default=0, description="milliseconds since the first publish")
    assets: LiveStreamAssets = Field(default_factory=LiveStreamAssets)
    qualities: list[str] = Field(default_factory=list)
    media: Media | None = None
    frame_rate: int = 0
    audio_bitrate: int = 0
    current_view: int = 0
    total_view: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """Created or live: the key cannot get another streaming until this one ends."""
        return self.status in OPEN_STATUSES

    @property
    def is_live(self) -> bool:
        return self.status == StreamingStatus.STREAMING

    @property
    def is_ended(self) -> bool:
        return self.status in (StreamingStatus.END, StreamingStatus.UPLOADING)

    @property
    def recording_ready(self) -> bool:
        """The saved recording can be played from `media.assets.hls_url` / `mp4_url`."""
        return self.is_ended and self.media is not None and self.media.status == MediaStatus.DONE


class LiveStreamMediaList(_Response):
    media: list[LiveStreamMedia] = Field(default_factory=list)
    total: int = 0


class LiveStreamStatistic(_Response):
    id: str = ""
    live_stream_media_id: str = ""
    fps_in: int = 0
    fps_out: int = 0
    bitrate_in: float = Field(default=0, description="Kbps")
    bitrate_out: float = Field(default=0, description="Kbps")
    data_transferred: float = Field(default=0, description="MB received from the encoder")
    current_view: int = 0
    total_view: int = 0


class LiveStreamMulticast(_Response):
    id: str = ""
    live_stream_key_id: str = ""
    user_id: str = ""
    live_stream_multicast_urls: list[str] = Field(default_factory=list)
