"""The provider protocol models: what is accepted, what is refused, what stays hidden."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from videojobs.models.provider import (
    SIZES_BY_MODEL,
    CreateVideoRequest,
    InputReference,
    ProviderConfig,
    ProviderVideo,
    ProviderVideoStatus,
    VideoPage,
    model_supports_size,
)
from videojobs.settings import Settings

SECRET = "sk-models-test-SECRET-9d2b"


def video_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "video_1",
        "object": "video",
        "model": "sora-2",
        "status": "in_progress",
        "progress": 40,
        "seconds": "8",
        "size": "1280x720",
        "prompt": "waves",
        "created_at": 1_760_000_000,
    }
    body.update(overrides)
    return body


def test_sizes_by_model_matches_the_protocol() -> None:
    assert dict(SIZES_BY_MODEL) == {
        "sora-2": ("720x1280", "1280x720"),
        "sora-2-pro": ("720x1280", "1280x720", "1024x1792", "1792x1024"),
    }
    assert model_supports_size("sora-2-pro", "1024x1792")
    assert not model_supports_size("sora-2", "1024x1792")


def test_create_request_defaults_are_the_providers() -> None:
    request = CreateVideoRequest(prompt="a cat")

    assert (request.model, request.seconds, request.size) == ("sora-2", "4", "720x1280")
    assert request.input_reference is None


@pytest.mark.parametrize("size", ["1024x1792", "1792x1024"])
def test_create_request_refuses_a_size_the_model_cannot_render(size: str) -> None:
    with pytest.raises(ValidationError, match="not available for sora-2"):
        CreateVideoRequest(prompt="a cat", model="sora-2", size=size)  # type: ignore[arg-type]

    assert CreateVideoRequest(prompt="a cat", model="sora-2-pro", size=size).size == size  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": ""},
        {"prompt": "x", "seconds": "5"},
        {"prompt": "x", "seconds": 4},
        {"prompt": "x", "size": "1920x1080"},
        {"prompt": "x", "model": "sora-3"},
        {"prompt": "x", "duration": 4},
    ],
)
def test_create_request_refuses_what_the_protocol_does_not_accept(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CreateVideoRequest.model_validate(fields)


def test_input_reference_bytes_stay_out_of_repr() -> None:
    reference = InputReference(filename="a.png", content_type="image/png", data=b"\x89PNG" * 1000)

    assert "PNG" not in repr(reference)
    assert "a.png" in repr(reference)


def test_a_video_tolerates_extra_fields_and_numeric_seconds() -> None:
    video = ProviderVideo.model_validate(video_json(seconds=8, quality="standard", extra={"a": 1}))

    assert video.seconds == "8"
    assert video.status is ProviderVideoStatus.IN_PROGRESS
    assert not hasattr(video, "quality")


def test_a_failed_video_without_an_error_code_still_parses() -> None:
    video = ProviderVideo.model_validate(
        video_json(status="failed", error={"message": "render crashed"})
    )

    assert video.error is not None
    assert (video.error.code, video.error.message) == ("unknown", "render crashed")


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "cancelled"},
        {"progress": 101},
        {"id": ""},
        {"object": "file"},
        {"created_at": None},
    ],
)
def test_a_video_refuses_protocol_violations(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ProviderVideo.model_validate(video_json(**overrides))


def test_a_page_parses_with_missing_cursor_fields() -> None:
    page = VideoPage.model_validate({"object": "list", "data": [video_json()]})

    assert [video.id for video in page.data] == ["video_1"]
    assert (page.first_id, page.last_id, page.has_more) == (None, None, False)


@pytest.mark.parametrize(
    ("status", "terminal"),
    [("queued", False), ("in_progress", False), ("completed", True), ("failed", True)],
)
def test_terminal_statuses(status: str, terminal: bool) -> None:
    assert ProviderVideoStatus(status).is_terminal is terminal


def test_config_hides_the_key_everywhere_it_renders() -> None:
    config = ProviderConfig(base_url="http://127.0.0.1:8765/v1/", api_key=SecretStr(SECRET))

    rendered = [repr(config), str(config), config.model_dump_json(), str(config.model_dump())]

    assert all(SECRET not in text for text in rendered)
    assert config.api_key.get_secret_value() == SECRET
    assert config.base_url == "http://127.0.0.1:8765/v1"


@pytest.mark.parametrize(
    "fields",
    [
        {"api_key": SECRET},  # base_url missing: the error would otherwise print the input
        {"api_key": SECRET, "base_url": "ftp://x/v1"},
        {"api_key": SECRET, "base_url": "not a url"},
        {"api_key": SECRET, "base_url": "http://x/v1", "timeout": 3},
        {"api_key": SECRET + "\n", "base_url": "http://x/v1"},
        {"api_key": SECRET, "base_url": "http://x/v1", "read_timeout": 0},
    ],
)
def test_config_errors_never_show_the_key(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        ProviderConfig.model_validate(fields)

    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


@pytest.mark.parametrize("key", ["", "   "])
def test_config_refuses_an_empty_key(key: str) -> None:
    with pytest.raises(ValidationError, match="api_key must not be empty"):
        ProviderConfig(base_url="http://x/v1", api_key=SecretStr(key))


def test_config_refuses_credentials_in_the_url() -> None:
    with pytest.raises(ValidationError, match="must not carry credentials"):
        ProviderConfig(base_url="https://user:hunter2@x/v1", api_key=SecretStr(SECRET))


# --- where the provider may be -----------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://provider.example.com/v1", "ftp://x/v1", "HTTP://a/v1"])
def test_a_provider_base_url_that_is_not_https_is_refused_outside_the_local_stack(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    # Given a deployment whose ProviderBaseUrl is not https
    monkeypatch.setenv("PROVIDER_BASE_URL", url)
    monkeypatch.delenv("VIDEOJOBS_LOCAL_MODE", raising=False)
    # Then the settings are refused, saying what to fix and never sending the key over it
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate(dict(os.environ))
    assert "must be an https URL" in str(caught.value)


def test_the_local_stack_may_use_an_http_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDER_BASE_URL", "http://127.0.0.1:8765/v1")
    monkeypatch.setenv("VIDEOJOBS_LOCAL_MODE", "true")
    assert Settings.model_validate(dict(os.environ)).provider_base_url.startswith("http://")


def test_an_https_provider_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDER_BASE_URL", "https://res.openai.azure.com/openai/v1")
    monkeypatch.delenv("VIDEOJOBS_LOCAL_MODE", raising=False)
    assert Settings.model_validate(dict(os.environ)).provider_base_url.startswith("https://")
