"""The official openai SDK, unchanged, against videojobs' own ``/v1`` on the local stack:
code written for OpenAI works by changing ``base_url`` and the key."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import openai
import pytest

from videojobs_local.local import LocalVideojobs, run_local

# The SDK marks the Videos API as deprecated (it is, upstream); videojobs keeps serving it.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning"),
]

POLL_MS = 100


@pytest.fixture(scope="module")
def stack(render_cache_dir: Path) -> Iterator[LocalVideojobs]:
    with run_local(
        emulator_speed=100.0,
        parameter_overrides=(
            "FirstStatusCheckSeconds=0 PollIntervalSeconds=4 MaxPollIntervalSeconds=4 "
            "SlotWaitSeconds=2 "
            "ProviderRetryIntervalSeconds=1 MaxConcurrentJobs=5 ProgressRefreshSeconds=1 "
            "ProviderRequestsPerMinute=6000 "
            # The API's request limits are exercised by the integration tests.
            "TenantRequestsPerSecond=10000 TenantRequestBurst=10000 "
            "ApiThrottleRateLimit=10000 ApiThrottleBurstLimit=10000"
        ),
        render_cache_dir=render_cache_dir,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: LocalVideojobs) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=stack.api_key, base_url=stack.api_url, max_retries=0) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def completed(client: openai.OpenAI) -> Any:
    return client.videos.create_and_poll(
        prompt="a lighthouse at dusk, through the SDK",
        seconds="8",
        size="1280x720",
        poll_interval_ms=POLL_MS,
    )


def test_create_and_poll_returns_a_completed_video(completed: Any) -> None:
    assert completed.id.startswith("video_")
    assert completed.object == "video"
    assert completed.status == "completed"
    assert completed.progress == 100
    assert (completed.model, completed.seconds, completed.size) == ("sora-2", "8", "1280x720")
    assert completed.completed_at is not None and completed.error is None


def test_retrieve_shows_the_video_and_its_extensions(client: openai.OpenAI, completed: Any) -> None:
    video = client.videos.retrieve(completed.id)

    assert video.id == completed.id
    assert video.status == "completed"
    # Fields beyond OpenAI's are kept by the SDK's models as extras.
    extra = video.model_extra or {}
    assert set(extra["assets"]) == {"video", "thumbnail", "spritesheet"}
    assert extra["metadata"] == {}


@pytest.mark.parametrize(
    ("variant", "magic"),
    [("video", (4, b"ftyp")), ("thumbnail", (0, b"RIFF")), ("spritesheet", (0, b"\xff\xd8"))],
)
def test_download_content_follows_the_redirect_to_the_stored_file(
    client: openai.OpenAI, completed: Any, variant: str, magic: tuple[int, bytes]
) -> None:
    content = client.videos.download_content(completed.id, variant=cast(Any, variant))

    offset, expected = magic
    assert content.content[offset : offset + len(expected)] == expected
    assert len(content.content) > 1000


def test_list_auto_pages_through_every_video_newest_first(
    client: openai.OpenAI, completed: Any
) -> None:
    created = [client.videos.create(prompt=f"listed through the SDK {n}") for n in range(3)]

    listed = [video.id for video in client.videos.list(limit=2)]

    assert len(listed) == len(set(listed)), "a video was listed twice"
    assert {completed.id, *(v.id for v in created)} <= set(listed)
    # Newest first: the three just created come before the earlier completed video.
    positions = [listed.index(v.id) for v in created]
    assert max(positions) < listed.index(completed.id)
    ascending = [video.id for video in client.videos.list(limit=2, order="asc")]
    assert ascending == list(reversed(listed))


def test_remix_makes_a_new_video_from_a_completed_one(
    client: openai.OpenAI, completed: Any
) -> None:
    remix = client.videos.remix(completed.id, prompt="the same lighthouse, at dawn")

    assert remix.id != completed.id
    assert remix.remixed_from_video_id == completed.id
    done = client.videos.poll(remix.id, poll_interval_ms=POLL_MS)
    assert done.status == "completed"
    assert (done.seconds, done.size) == ("8", "1280x720")


def test_delete_answers_the_deleted_shape_and_the_video_is_gone(client: openai.OpenAI) -> None:
    video = client.videos.create_and_poll(prompt="to be deleted", poll_interval_ms=POLL_MS)

    deleted = client.videos.delete(video.id)

    assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)


def test_an_unsupported_seconds_value_is_a_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(prompt="too long", seconds=cast(Any, "5"))

    assert caught.value.status_code == 400
    assert caught.value.param == "seconds"


def test_a_wrong_key_is_an_authentication_error(stack: LocalVideojobs) -> None:
    with (
        openai.OpenAI(api_key="vj_wrong", base_url=stack.api_url, max_retries=0) as stranger,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        stranger.videos.list()

    assert caught.value.status_code == 401


def test_an_unknown_id_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve("video_" + "0" * 32)
    with pytest.raises(openai.NotFoundError):
        client.videos.delete("video_" + "0" * 32)


def test_reusing_an_idempotency_key_with_another_body_is_a_conflict(
    client: openai.OpenAI,
) -> None:
    key = {"Idempotency-Key": "sdk-" + secrets.token_hex(8)}
    first = client.videos.create(prompt="idempotent", extra_headers=key)

    again = client.videos.create(prompt="idempotent", extra_headers=key)
    with pytest.raises(openai.ConflictError) as caught:
        client.videos.create(prompt="a different body", extra_headers=key)

    assert again.id == first.id
    assert caught.value.status_code == 409
