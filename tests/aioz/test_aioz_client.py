"""Every client method against the fake over real HTTP, in both auth modes (the `client` fixture)."""

import uuid

import pytest

from app.aioz import (
    AiozClient,
    AiozConflict,
    AiozNotFound,
    AiozValidationError,
    LiveStreamKey,
    MediaStatus,
    QualityConfig,
    StreamingStatus,
)
from app.aioz.fake import FakeAioz


class TestLiveStreamKeys:
    async def test_create(self, client: AiozClient) -> None:
        key = await client.create_live_stream_key("  Evening show ", save=True, type="audio")

        assert key.name == "Evening show"
        assert key.save is True
        assert key.type == "audio"
        assert uuid.UUID(key.id) and uuid.UUID(key.stream_key)
        assert key.rtmp_url == "rtmp://127.0.0.1:1935"
        assert key.ingest_url == f"rtmp://127.0.0.1:1935/{key.stream_key}"
        assert key.created_at is not None and key.created_at.tzinfo is not None

    async def test_get(self, client: AiozClient, key: LiveStreamKey) -> None:
        assert await client.get_live_stream_key(uuid.UUID(key.id)) == key

    async def test_list_search_sort_and_page(self, client: AiozClient) -> None:
        for name in ("bravo", "alpha", "charlie", "alpha two"):
            await client.create_live_stream_key(name)

        by_name = await client.list_live_stream_keys(sort_by="name", order_by="desc", limit=2)
        assert by_name.total == 4
        assert [k.name for k in by_name.live_stream_keys] == ["charlie", "bravo"]
        second_page = await client.list_live_stream_keys(sort_by="name", offset=2, limit=2)
        assert [k.name for k in second_page.live_stream_keys] == ["bravo", "charlie"]
        found = await client.list_live_stream_keys(search="ALPHA")
        assert sorted(k.name for k in found.live_stream_keys) == ["alpha", "alpha two"]
        assert (await client.list_live_stream_keys(type="audio")).total == 0

    async def test_update_keeps_unset_fields(self, client: AiozClient, key: LiveStreamKey) -> None:
        renamed = await client.update_live_stream_key(key.id, name="renamed")
        assert (renamed.name, renamed.save) == ("renamed", True)

        unsaved = await client.update_live_stream_key(key.id, save=False)
        assert (unsaved.name, unsaved.save) == ("renamed", False)

    async def test_delete(self, client: AiozClient, key: LiveStreamKey) -> None:
        await client.delete_live_stream_key(key.id)

        with pytest.raises(AiozNotFound):
            await client.get_live_stream_key(key.id)

    async def test_delete_refused_while_live(
        self, client: AiozClient, fake: FakeAioz, key: LiveStreamKey
    ) -> None:
        streaming = await client.create_streaming(key.id, title="live")
        fake.go_live(streaming.id)

        with pytest.raises(AiozValidationError):
            await client.delete_live_stream_key(key.id)


class TestStreamings:
    async def test_create_defaults(self, client: AiozClient, key: LiveStreamKey) -> None:
        streaming = await client.create_streaming(key.id, title="  First show ")

        assert streaming.title == "First show"
        assert streaming.status == StreamingStatus.CREATED
        assert streaming.is_open and not streaming.is_live and not streaming.is_ended
        assert streaming.save is False
        assert streaming.live_stream_key_id == key.id
        assert streaming.qualities == ["360p", "720p", "1080p"]
        assert streaming.assets.hls_url.endswith(f"/{streaming.id}/index.m3u8")
        assert streaming.assets.player_url.endswith(f"/live/{streaming.id}")
        assert streaming.media is not None and streaming.media.status == MediaStatus.NEW

    async def test_create_with_qualities(self, client: AiozClient, key: LiveStreamKey) -> None:
        qualities = ["144p", QualityConfig(resolution="2160p", type="dash", container_type="webm")]

        streaming = await client.create_streaming(key.id, title="4k", save=True, qualities=qualities)

        assert streaming.qualities == ["144p", "2160p"]
        assert streaming.media is not None
        assert [(q.name, q.type) for q in streaming.media.qualities] == [("144p", "hls"), ("2160p", "dash")]

    async def test_one_open_streaming_per_key(self, client: AiozClient, key: LiveStreamKey) -> None:
        await client.create_streaming(key.id, title="first")

        with pytest.raises(AiozConflict, match="Live stream already created"):
            await client.create_streaming(key.id, title="second")

    async def test_list_get_and_update(self, client: AiozClient, key: LiveStreamKey) -> None:
        created = await client.create_streaming(key.id, title="draft", save=True)

        listing = await client.list_streamings(key.id)
        assert [s.id for s in listing.media] == [created.id] and listing.total == 1

        await client.update_streaming(key.id, created.id, title="final")
        updated = await client.get_streaming(key.id, created.id)
        assert (updated.title, updated.save) == ("final", True)

        await client.update_streaming(key.id, created.id, save=False, qualities=["480p"])
        updated = await client.get_streaming(key.id, created.id)
        assert (updated.title, updated.save, updated.qualities) == ("final", False, ["480p"])

    async def test_update_after_end_conflicts(
        self, client: AiozClient, fake: FakeAioz, key: LiveStreamKey
    ) -> None:
        streaming = await client.create_streaming(key.id, title="show", save=True)
        fake.end_stream(streaming.id)

        with pytest.raises(AiozConflict, match=r"This livestream was ended\."):
            await client.update_streaming(key.id, streaming.id, title="late", save=True)

    async def test_go_live_statistic_and_end(
        self, client: AiozClient, fake: FakeAioz, key: LiveStreamKey
    ) -> None:
        streaming = await client.create_streaming(key.id, title="show")
        idle = await client.get_streaming_statistic(streaming.id)
        assert (idle.live_stream_media_id, idle.fps_in) == (streaming.id, 0)

        fake.go_live(streaming.id)
        live = await client.get_streaming(key.id, streaming.id)
        assert live.is_live and live.status == StreamingStatus.STREAMING
        assert (await client.get_streaming_statistic(streaming.id)).bitrate_in > 0
        assert (await client.get_live_stream_key(key.id)).total_live_streaming == 1

        fake.end_stream(streaming.id)
        with pytest.raises(AiozNotFound):
            await client.get_streaming(key.id, streaming.id)
        assert (await client.list_streamings(key.id)).total == 0
        # Not saved: the streaming and its media are gone.
        with pytest.raises(AiozNotFound):
            await client.get_media(streaming.id)

    async def test_delete(self, client: AiozClient, key: LiveStreamKey) -> None:
        streaming = await client.create_streaming(key.id, title="show")

        await client.delete_streaming(key.id, streaming.id)

        assert (await client.list_streamings(key.id)).total == 0

    async def test_delete_missing_tries_both_id_orders(
        self, client: AiozClient, fake: FakeAioz, key: LiveStreamKey
    ) -> None:
        missing = str(uuid.uuid4())
        with pytest.raises(AiozNotFound):
            await client.delete_streaming(key.id, missing)

        deletes = [path for method, path in fake.calls if method == "DELETE"]
        assert deletes == [
            f"/live_streams/{key.id}/streamings/{missing}",
            f"/live_streams/{missing}/streamings/{key.id}",
        ]


class TestRecordings:
    async def _record(self, client: AiozClient, fake: FakeAioz, key: LiveStreamKey, title: str) -> str:
        streaming = await client.create_streaming(key.id, title=title, save=True)
        fake.go_live(streaming.id)
        fake.end_stream(streaming.id)
        fake.produce_recording(streaming.id)
        return streaming.id

    async def test_recording_appears_with_urls(
        self, client: AiozClient, fake: FakeAioz, key: LiveStreamKey
    ) -> None:
        streaming = await client.create_streaming(key.id, title="show", save=True)
        fake.go_live(streaming.id)
        fake.end_stream(streaming.id)

        pending = await client.get_media(streaming.id)
        assert pending.is_ended and not pending.recording_ready
        assert pending.media is not None and pending.media.status == MediaStatus.TRANSCODING

        fake.produce_recording(streaming.id)
        recording = (await client.list_media(key.id)).media[0]
        assert recording.id == streaming.id and recording.recording_ready
        assert recording.media is not None
        assert recording.media.assets.hls_url.endswith(".m3u8")
        assert recording.media.assets.mp4_url.endswith(".mp4")
        assert (await client.get_live_stream_key(key.id)).total_save_media == 1

    async def test_list_media_filters_sorts_and_pages(
        self, client: AiozClient, fake: FakeAioz, key: LiveStreamKey
    ) -> None:
        for title in ("b-show", "a-show", "c-show"):
            await self._record(client, fake, key, title)
        failed = await client.create_streaming(key.id, title="broken", save=True)
        fake.end_stream(failed.id)
        fake.produce_recording(failed.id, failed=True)

        page = await client.list_media(key.id, sort_by="title", order_by="asc", limit=2, offset=1)
        assert page.total == 4
        assert [m.title for m in page.media] == ["b-show", "broken"]
        newest_first = await client.list_media(key.id)
        assert newest_first.media[0].title == "broken"
        assert (await client.list_media(key.id, status="fail")).total == 1
        assert (await client.list_media(key.id, search="SHOW")).total == 3

    async def test_iter_media_pages_through_everything(
        self, client: AiozClient, fake: FakeAioz, key: LiveStreamKey
    ) -> None:
        expected = [await self._record(client, fake, key, f"show {i:03}") for i in range(105)]
        fake.calls.clear()

        seen = [m.id async for m in client.iter_media(key.id, sort_by="created_at", order_by="asc")]

        assert seen == expected
        assert [method for method, _ in fake.calls] == ["POST", "POST"]

    async def test_get_media_and_player_view(
        self, client: AiozClient, fake: FakeAioz, key: LiveStreamKey
    ) -> None:
        streaming_id = await self._record(client, fake, key, "show")

        media = await client.get_media(streaming_id)
        player = await client.get_player_media(streaming_id)

        assert media.live_stream_key_id == key.id and media.recording_ready
        assert player.id == streaming_id
        assert player.live_stream_key_id == player.user_id == "00000000-0000-0000-0000-000000000000"


class TestMulticastAndThumbnails:
    async def test_multicast(self, client: AiozClient, key: LiveStreamKey) -> None:
        urls = ["rtmp://a.example/live/x", "rtmps://b.example/live/y"]

        created = await client.set_multicast(key.stream_key, urls)
        assert (created.live_stream_key_id, created.live_stream_multicast_urls) == (key.id, urls)
        assert (await client.get_multicast(key.stream_key)).live_stream_multicast_urls == urls

        await client.delete_multicast(key.stream_key)
        with pytest.raises(AiozNotFound):
            await client.get_multicast(key.stream_key)

    async def test_thumbnail(self, client: AiozClient, key: LiveStreamKey) -> None:
        streaming = await client.create_streaming(key.id, title="show")

        await client.upload_thumbnail(streaming.id, b"\xff\xd8\xff jpeg bytes")
        assert (await client.get_streaming(key.id, streaming.id)).assets.thumbnail_url.endswith("original")

        await client.delete_thumbnail(streaming.id)
        assert (await client.get_streaming(key.id, streaming.id)).assets.thumbnail_url == ""
