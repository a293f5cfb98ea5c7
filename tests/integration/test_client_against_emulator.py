"""OpenAIVideosClient against the real emulator over a real socket: protocol and faults."""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr

from videojobs.adapters.providers.openai_videos import OpenAIVideosClient
from videojobs.models.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRejectedError,
    ProviderThrottledError,
    ProviderTransientError,
)
from videojobs.models.provider import (
    AuthStyle,
    CreateVideoRequest,
    InputReference,
    ProviderConfig,
    ProviderVideo,
    ProviderVideoStatus,
)
from videojobs_local.emulator import EmulatorServer

MiB = 1024 * 1024


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[OpenAIVideosClient]:
    with client_for(emulator) as provider:
        yield provider


@pytest.fixture
def admin(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """The emulator's /_emulator admin API, over HTTP like any other tool would use it."""
    with httpx.Client(base_url=emulator.url + "/_emulator", timeout=30.0) as http:
        yield http


def client_for(
    emulator: EmulatorServer, *, auth_style: AuthStyle = "bearer", key: str | None = None
) -> OpenAIVideosClient:
    return OpenAIVideosClient(
        ProviderConfig(
            base_url=emulator.api_url,
            auth_style=auth_style,
            api_key=SecretStr(key or emulator.config.api_key),
        )
    )


def wait_until_done(
    client: OpenAIVideosClient, video_id: str, timeout: float = 60.0
) -> tuple[ProviderVideo, list[int | None]]:
    """Poll as a caller would, honouring the poll-after hint; returns the hints seen too."""
    deadline = time.monotonic() + timeout
    hints: list[int | None] = []
    while True:
        retrieved = client.retrieve(video_id)
        if retrieved.video.status.is_terminal:
            return retrieved.video, hints
        hints.append(retrieved.poll_after_ms)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{video_id} still {retrieved.video.status} after {timeout}s")
        time.sleep(min((retrieved.poll_after_ms or 50) / 1000, 0.5))


def completed_video(client: OpenAIVideosClient, prompt: str = "a lighthouse at dusk") -> str:
    created = client.create(CreateVideoRequest(prompt=prompt))
    video, _ = wait_until_done(client, created.id)
    assert video.status is ProviderVideoStatus.COMPLETED
    return video.id


def download(client: OpenAIVideosClient, video_id: str, variant: str = "video") -> bytes:
    with client.stream_content(video_id, variant) as stream:  # type: ignore[arg-type]
        return b"".join(stream.iter_chunks())


# --- the protocol --------------------------------------------------------------------------


@pytest.mark.slow
def test_create_poll_and_download_every_variant(client: OpenAIVideosClient) -> None:
    # Given a video created through the client
    created = client.create(
        CreateVideoRequest(prompt="a red kite over hills", seconds="4", size="1280x720")
    )
    assert created.status in (ProviderVideoStatus.QUEUED, ProviderVideoStatus.IN_PROGRESS)
    assert (created.model, created.seconds, created.size) == ("sora-2", "4", "1280x720")

    # When it is polled to completion and each variant downloaded
    video, hints = wait_until_done(client, created.id)
    downloads = {}
    for variant, expected_type in [
        ("video", "video/mp4"),
        ("thumbnail", "image/webp"),
        ("spritesheet", "image/jpeg"),
    ]:
        with client.stream_content(video.id, variant) as stream:  # type: ignore[arg-type]
            assert stream.content_type == expected_type
            assert stream.request_id is not None
            assert stream.request_id.startswith("req_")
            data = b"".join(stream.iter_chunks(chunk_size=64 * 1024))
            assert len(data) == stream.content_length
        downloads[variant] = data

    # Then the video completed with the provider's hints on the way, and is a real MP4
    assert video.status is ProviderVideoStatus.COMPLETED
    assert video.progress == 100
    assert video.expires_at is not None
    assert all(hint is not None and hint > 0 for hint in hints)
    assert downloads["video"][4:8] == b"ftyp"
    assert downloads["thumbnail"][:4] == b"RIFF"
    assert downloads["spritesheet"][:3] == b"\xff\xd8\xff"


@pytest.mark.parametrize("auth_style", ["bearer", "api-key"])
def test_both_auth_styles_are_accepted(emulator: EmulatorServer, auth_style: AuthStyle) -> None:
    with client_for(emulator, auth_style=auth_style) as provider:
        page = provider.list()

    assert page.data == []


@pytest.mark.parametrize("auth_style", ["bearer", "api-key"])
def test_a_wrong_key_is_an_auth_error_that_does_not_show_it(
    emulator: EmulatorServer, auth_style: AuthStyle
) -> None:
    wrong = "sk-wrong-key-0123456789"
    with (
        client_for(emulator, auth_style=auth_style, key=wrong) as provider,
        pytest.raises(ProviderError) as caught,
    ):
        provider.create(CreateVideoRequest(prompt="x"))

    error = caught.value
    assert type(error) is ProviderAuthError
    assert error.status_code == 401
    assert error.code == "invalid_api_key"
    assert error.request_id is not None
    assert wrong not in str(error)


def test_create_uploads_the_input_reference_as_a_file(
    client: OpenAIVideosClient, admin: httpx.Client
) -> None:
    # Given a PNG at the requested size
    buffer = io.BytesIO()
    Image.new("RGB", (720, 1280), (200, 30, 30)).save(buffer, format="PNG")

    # When a video is created from it
    created = client.create(
        CreateVideoRequest(
            prompt="the red wall starts to crack",
            input_reference=InputReference(
                filename="wall.png", content_type="image/png", data=buffer.getvalue()
            ),
        )
    )

    # Then the emulator received it as an image upload it could decode
    reference = admin.get(f"/videos/{created.id}").json()["input_reference"]
    assert reference["content_type"] == "image/png"
    assert (reference["width"], reference["height"]) == (720, 1280)
    assert reference["bytes"] == len(buffer.getvalue())


def test_list_pages_with_cursor_limit_and_order(client: OpenAIVideosClient) -> None:
    ids = [client.create(CreateVideoRequest(prompt=f"clip {n}")).id for n in range(3)]

    first = client.list(limit=2, order="asc")
    second = client.list(after=first.last_id, limit=2, order="asc")
    newest = client.list(limit=1)

    assert [video.id for video in first.data] == ids[:2]
    assert first.has_more is True
    assert [video.id for video in second.data] == ids[2:]
    assert second.has_more is False
    assert [video.id for video in newest.data] == ids[-1:]


def test_delete_then_retrieve_is_rejected(client: OpenAIVideosClient) -> None:
    created = client.create(CreateVideoRequest(prompt="short lived"))

    deleted = client.delete(created.id)
    with pytest.raises(ProviderError) as caught:
        client.retrieve(created.id)

    assert deleted.deleted is True
    assert deleted.id == created.id
    assert type(caught.value) is ProviderRejectedError
    assert caught.value.status_code == 404


@pytest.mark.slow
def test_remix_of_a_completed_video(client: OpenAIVideosClient) -> None:
    source = completed_video(client)

    remixed = client.remix(source, "the same lighthouse, in a storm")

    assert remixed.remixed_from_video_id == source
    assert remixed.id != source
    assert remixed.prompt == "the same lighthouse, in a storm"


def test_remix_of_an_unfinished_video_is_rejected(client: OpenAIVideosClient) -> None:
    created = client.create(CreateVideoRequest(prompt="not yet"))

    with pytest.raises(ProviderError) as caught:
        client.remix(created.id, "again")

    assert type(caught.value) is ProviderRejectedError
    assert caught.value.code == "video_not_ready"


def test_content_before_completion_is_rejected(client: OpenAIVideosClient) -> None:
    created = client.create(CreateVideoRequest(prompt="patience"))

    with pytest.raises(ProviderError) as caught, client.stream_content(created.id):
        pytest.fail("no content before completion")

    assert type(caught.value) is ProviderRejectedError
    assert caught.value.code == "video_not_ready"
    assert caught.value.request_id is not None


def test_a_moderation_block_keeps_the_providers_code_and_param(
    client: OpenAIVideosClient,
) -> None:
    with pytest.raises(ProviderError) as caught:
        client.create(CreateVideoRequest(prompt="something [[moderation]]"))

    error = caught.value
    assert type(error) is ProviderRejectedError
    assert (error.status_code, error.code, error.param) == (400, "moderation_blocked", "prompt")
    assert "blocked by our moderation system" in error.message


def test_a_failed_video_reports_its_error(client: OpenAIVideosClient) -> None:
    created = client.create(CreateVideoRequest(prompt="doomed [[fail]]"))

    video, _ = wait_until_done(client, created.id)

    assert video.status is ProviderVideoStatus.FAILED
    assert video.error is not None
    assert video.error.code == "moderation_blocked"


# --- faults --------------------------------------------------------------------------------


def test_a_rate_limit_is_a_throttle_with_its_wait(
    client: OpenAIVideosClient, admin: httpx.Client, emulator: EmulatorServer
) -> None:
    # Given a provider that throttles the next two requests
    admin.post("/faults", json={"rate_limit": {"count": 2, "retry_after": 1.5}}).raise_for_status()

    # When the client makes three
    errors = []
    for _ in range(2):
        with pytest.raises(ProviderError) as caught:
            client.create(CreateVideoRequest(prompt="busy"))
        errors.append(caught.value)
    page = client.list()

    # Then two throttles carry the most precise wait, and nothing was created
    assert [type(error) for error in errors] == [ProviderThrottledError] * 2
    throttled = errors[0]
    assert isinstance(throttled, ProviderThrottledError)
    assert throttled.retry_after == pytest.approx(1.5)
    assert throttled.code == "rate_limit_exceeded"
    assert throttled.request_id is not None
    assert page.data == []
    assert [entry["status"] for entry in admin.get("/requests").json()] == [429, 429, 200]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_is_transient(
    client: OpenAIVideosClient, admin: httpx.Client, status: int
) -> None:
    admin.post("/faults", json={"server_error": {"count": 1, "status": status}})

    with pytest.raises(ProviderError) as caught:
        client.list()
    recovered = client.list()

    assert type(caught.value) is ProviderTransientError
    assert caught.value.status_code == status
    assert caught.value.request_id is not None
    assert recovered.data == []


def test_a_slow_provider_hits_the_read_timeout(
    emulator: EmulatorServer, admin: httpx.Client
) -> None:
    admin.post("/faults", json={"slow": {"count": 1, "delay_seconds": 2}})
    config = ProviderConfig(
        base_url=emulator.api_url,
        api_key=SecretStr(emulator.config.api_key),
        read_timeout=0.3,
    )

    with OpenAIVideosClient(config) as provider, pytest.raises(ProviderError) as caught:
        provider.list()

    assert type(caught.value) is ProviderTransientError
    assert caught.value.code == "read_timeout"


@pytest.mark.slow
def test_a_truncated_download_is_transient_and_the_next_one_whole(
    client: OpenAIVideosClient, admin: httpx.Client
) -> None:
    # Given a completed video and a provider that drops the next download after 1000 bytes
    video_id = completed_video(client)
    admin.post("/faults", json={"truncate_download": {"count": 1, "after_bytes": 1000}})

    # When it is downloaded
    received = 0
    with client.stream_content(video_id) as stream, pytest.raises(ProviderError) as caught:
        for chunk in stream.iter_chunks(chunk_size=256):
            received += len(chunk)

    # Then the cut is a transient error, and a retry gets every declared byte
    assert type(caught.value) is ProviderTransientError
    assert caught.value.request_id is not None
    assert received <= 1000
    with client.stream_content(video_id) as stream:
        whole = b"".join(stream.iter_chunks())
        assert len(whole) == stream.content_length


@pytest.mark.slow
def test_a_truncated_download_hands_over_what_arrived_then_fails_in_pass_through(
    client: OpenAIVideosClient, admin: httpx.Client
) -> None:
    # Given a completed video and a provider that drops the next download after 1000 bytes
    video_id = completed_video(client)
    whole = download(client, video_id)
    admin.post("/faults", json={"truncate_download": {"count": 1, "after_bytes": 1000}})

    # When it is streamed piece by piece
    received = bytearray()
    with client.stream_content(video_id) as stream, pytest.raises(ProviderError) as caught:
        for piece in stream.iter_chunks():
            received += piece

    # Then the 1000 bytes that came are the start of the video, and the cut is transient
    assert type(caught.value) is ProviderTransientError
    assert bytes(received) == whole[:1000]
    assert stream.bytes_received == 1000


@pytest.mark.slow
def test_a_padded_video_streams_in_network_pieces_by_default(
    client: OpenAIVideosClient, admin: httpx.Client
) -> None:
    # Given a completed video padded with a 20 MiB MP4 free box
    video_id = completed_video(client)
    plain = download(client, video_id)
    padding = 20 * MiB
    admin.post("/config", json={"video_padding_bytes": padding}).raise_for_status()

    # When it is streamed without a chunk size
    sizes: list[int] = []
    head = bytearray()
    with client.stream_content(video_id) as stream:
        declared = stream.content_length
        for piece in stream.iter_chunks():
            sizes.append(len(piece))
            if len(head) < len(plain) + 8:
                head += piece

    # Then every declared byte came, in network-sized pieces far below one 1 MiB chunk
    assert declared == len(plain) + padding
    assert sum(sizes) == declared == stream.bytes_received
    assert len(sizes) > 20
    assert max(sizes) <= MiB
    assert head[: len(plain)] == plain
    assert head[len(plain) : len(plain) + 8] == struct.pack(">I4s", padding, b"free")


@pytest.mark.slow
def test_a_padded_video_streams_in_exact_chunks(
    client: OpenAIVideosClient, admin: httpx.Client
) -> None:
    # Given a completed video padded with a 20 MiB MP4 free box
    video_id = completed_video(client)
    plain = download(client, video_id)
    padding = 20 * MiB
    admin.post("/config", json={"video_padding_bytes": padding}).raise_for_status()

    # When it is streamed in 8 MiB chunks
    sizes: list[int] = []
    first = last = b""
    with client.stream_content(video_id) as stream:
        declared = stream.content_length
        for chunk in stream.iter_chunks(chunk_size=8 * MiB):
            sizes.append(len(chunk))
            first = first or chunk
            last = chunk

    # Then the declared length covers the padding, every byte came, in exact chunks
    assert declared == len(plain) + padding
    assert sum(sizes) == declared
    assert all(size == 8 * MiB for size in sizes[:-1])
    assert 0 < sizes[-1] <= 8 * MiB
    assert first[: len(plain)] == plain
    assert first[len(plain) : len(plain) + 8] == struct.pack(">I4s", padding, b"free")
    assert last.endswith(b"\x00" * 1024)
