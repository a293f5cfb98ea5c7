"""The official openai SDK, unchanged, against the provider emulator."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import av
import openai
import pytest
from PIL import Image

from videojobs_local.emulator import EmulatorServer, WebhookReceiver

# The SDK marks the Videos API as deprecated (it is, upstream); the emulator keeps it alive.
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        api_key=emulator.config.api_key, base_url=emulator.api_url, max_retries=0
    ) as sdk:
        yield sdk


def _png(width: int = 64, height: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_create_returns_a_queued_video_with_defaults(client: openai.OpenAI) -> None:
    video = client.videos.create(prompt="a lighthouse at dusk")

    assert video.id.startswith("video_")
    assert video.object == "video"
    assert video.status == "queued"
    assert video.progress == 0
    assert (video.model, video.seconds, video.size) == ("sora-2", "4", "720x1280")
    assert video.prompt == "a lighthouse at dusk"
    assert video.completed_at is None and video.expires_at is None and video.error is None
    assert video.remixed_from_video_id is None


def test_create_with_input_reference_records_the_image(
    client: openai.OpenAI, emulator: EmulatorServer
) -> None:
    video = client.videos.create(
        prompt="animate this",
        size="1280x720",
        input_reference=("reference.png", _png(), "image/png"),
    )

    detail = emulator.emulator.inspect(video.id)
    assert detail["input_reference"] == {
        "source": "upload",
        "content_type": "image/png",
        "bytes": len(_png()),
        "width": 64,
        "height": 32,
        "filename": "reference.png",
    }


def test_create_rejects_an_input_reference_that_is_not_an_image(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(prompt="x", input_reference=("notes.txt", b"hello", "text/plain"))

    assert caught.value.param == "input_reference"


def test_create_and_poll_completes_and_sets_expiry(client: openai.OpenAI) -> None:
    video = client.videos.create_and_poll(prompt="waves", seconds="8", size="1280x720")

    assert video.status == "completed"
    assert video.progress == 100
    assert video.completed_at is not None and video.expires_at is not None
    assert video.expires_at - video.completed_at == 3600
    assert client.videos.retrieve(video.id).status == "completed"


def test_retrieve_sends_a_poll_hint_while_running(client: openai.OpenAI) -> None:
    video = client.videos.create(prompt="clouds")

    raw = client.videos.with_raw_response.retrieve(video.id)

    assert raw.parse().status in ("queued", "in_progress")
    assert int(raw.headers["openai-poll-after-ms"]) > 0


def test_list_auto_paginates(client: openai.OpenAI) -> None:
    created = [client.videos.create(prompt=f"clip {i}").id for i in range(5)]

    listed = [video.id for video in client.videos.list(limit=2)]
    ascending = [video.id for video in client.videos.list(limit=2, order="asc")]

    assert listed == list(reversed(created))
    assert ascending == created
    first_page = client.videos.list(limit=2)
    assert first_page.has_more is True
    assert [v.id for v in first_page.data] == listed[:2]


@pytest.mark.parametrize(
    ("variant", "content_type", "magic"),
    [
        ("video", "video/mp4", b"ftyp"),
        ("thumbnail", "image/webp", b"WEBP"),
        ("spritesheet", "image/jpeg", b"\xff\xd8\xff"),
    ],
)
def test_download_content_variants(
    client: openai.OpenAI, variant: str, content_type: str, magic: bytes
) -> None:
    video = client.videos.create_and_poll(prompt="forest path")

    content = client.videos.download_content(video.id, variant=variant)  # type: ignore[arg-type]

    assert content.response.headers["content-type"] == content_type
    assert magic in content.content[:12]
    if variant == "video":
        with av.open(io.BytesIO(content.content)) as container:
            stream = container.streams.video[0]
            assert (stream.width, stream.height) == (720, 1280)


def test_download_content_defaults_to_the_video(client: openai.OpenAI) -> None:
    video = client.videos.create_and_poll(prompt="city lights")

    content = client.videos.download_content(video.id)

    assert content.response.headers["content-type"] == "video/mp4"


def test_download_before_completion_is_a_bad_request(client: openai.OpenAI) -> None:
    video = client.videos.create(prompt="slow one")

    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.download_content(video.id)

    assert caught.value.code == "video_not_ready"
    assert "not ready" in caught.value.message


def test_remix_creates_a_linked_video(client: openai.OpenAI) -> None:
    source = client.videos.create_and_poll(prompt="a red car", model="sora-2-pro", size="1792x1024")

    remix = client.videos.remix(source.id, prompt="a blue car")

    assert remix.id != source.id
    assert remix.remixed_from_video_id == source.id
    assert (remix.model, remix.size, remix.seconds) == ("sora-2-pro", "1792x1024", "4")
    assert remix.prompt == "a blue car"
    assert client.videos.poll(remix.id).status == "completed"


def test_remix_of_an_unfinished_video_is_refused(client: openai.OpenAI) -> None:
    source = client.videos.create(prompt="not yet")

    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.remix(source.id, prompt="again")

    assert caught.value.code == "video_not_ready"


def test_delete_then_the_video_is_gone(client: openai.OpenAI) -> None:
    video = client.videos.create_and_poll(prompt="to delete")

    deleted = client.videos.delete(video.id)

    assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.delete(video.id)


@pytest.mark.parametrize(
    ("kwargs", "param", "named"),
    [
        ({"seconds": "5"}, "seconds", "'12'"),
        ({"size": "1024x1024"}, "size", "'1280x720'"),
        ({"size": "1792x1024"}, "size", "'720x1280'"),
        ({"model": "sora-3"}, "model", "'sora-2-pro'"),
    ],
)
def test_invalid_parameters_are_bad_requests(
    client: openai.OpenAI, kwargs: dict[str, str], param: str, named: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(prompt="x", **kwargs)  # type: ignore[arg-type]

    assert caught.value.param == param
    assert caught.value.code == "invalid_value"
    assert named in caught.value.message
    assert list(client.videos.list()) == []


def test_unknown_ids_are_not_found(client: openai.OpenAI) -> None:
    missing = "video_" + "0" * 32

    for call in (
        lambda: client.videos.retrieve(missing),
        lambda: client.videos.download_content(missing),
        lambda: client.videos.remix(missing, prompt="x"),
        lambda: client.videos.delete(missing),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert caught.value.code == "video_not_found"


def test_wrong_key_is_an_authentication_error(emulator: EmulatorServer) -> None:
    with (
        openai.OpenAI(api_key="sk-wrong-key-123", base_url=emulator.api_url, max_retries=0) as c,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        c.videos.list()

    assert caught.value.code == "invalid_api_key"
    assert "sk-wrong-key-123" not in caught.value.message


def test_moderation_flags_the_marker(client: openai.OpenAI) -> None:
    result = client.moderations.create(input=["a calm lake", "a fight [[flag]]"])

    assert [r.flagged for r in result.results] == [False, True]
    assert result.results[1].categories.violence is True


def test_webhooks_unwrap_accepts_emulator_events(
    client: openai.OpenAI, emulator: EmulatorServer, webhook_receiver: WebhookReceiver
) -> None:
    emulator.update_config(webhook_url=webhook_receiver.url)
    secret = emulator.config.webhook_secret

    ok = client.videos.create(prompt="good one")
    bad = client.videos.create(prompt="bad one [[fail]]")
    received = webhook_receiver.wait_for(2)

    events: dict[str, dict[str, Any]] = {}
    for delivery in received:
        # This SDK release no longer types video.* events, so read the verified payload as data.
        event = client.webhooks.unwrap(delivery.body, delivery.headers, secret=secret).to_dict()
        data = event["data"]
        assert isinstance(data, dict)
        events[data["id"]] = event
        assert delivery.headers["webhook-id"] == event["id"] == json.loads(delivery.body)["id"]
    assert events[ok.id]["type"] == "video.completed"
    assert events[bad.id]["type"] == "video.failed"
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(received[0].body + b" ", received[0].headers, secret=secret)
