"""Creates naming Bedrock models: checked as Bedrock checks them, refused (never adjusted) with
a 400 naming the parameter, and defaulted to the model's own length and size."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from videojobs.logic.create_job import resolve_create
from videojobs.models.api import CreateVideoBody, UploadedImage
from videojobs.models.errors import InvalidRequestError
from videojobs.settings import get_settings

NOVA = "amazon.nova-reel-v1:1"
LUMA = "luma.ray-v2:0"


@pytest.fixture(autouse=True)
def bedrock_enabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("VIDEOJOBS_LOCAL_MODE", "PROMPT_MAX_CHARS", "PRE_SUBMIT_MODERATION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NOVA_REEL_REGION", "us-east-1")
    monkeypatch.setenv("LUMA_RAY_REGION", "us-west-2")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def resolved(**fields: Any) -> tuple[str, str, str, bool | None]:
    request = resolve_create(CreateVideoBody.model_validate({"prompt": "a kite", **fields})).request
    return request.model, request.seconds, request.size, request.loop


def refused(upload: UploadedImage | None = None, **fields: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        resolve_create(CreateVideoBody.model_validate({"prompt": "a kite", **fields}), upload)
    return caught.value


def image(size: tuple[int, int], fmt: str) -> UploadedImage:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, format=fmt)
    return UploadedImage(filename=f"frame.{fmt.lower()}", data=buffer.getvalue())


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"model": NOVA}, (NOVA, "6", "1280x720", None)),
        ({"model": NOVA, "seconds": "120"}, (NOVA, "120", "1280x720", None)),
        ({"model": NOVA, "duration": 12}, (NOVA, "12", "1280x720", None)),
        ({"model": LUMA}, (LUMA, "5", "1280x720", None)),
        (
            {"model": LUMA, "seconds": 9, "size": "540x1260", "loop": True},
            (LUMA, "9", "540x1260", True),
        ),
        ({"model": NOVA, "preset": "youtube"}, (NOVA, "12", "1280x720", None)),
    ],
)
def test_bedrock_models_take_what_bedrock_takes(
    fields: dict[str, Any], expected: tuple[str, str, str, bool | None]
) -> None:
    assert resolved(**fields) == expected


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": NOVA, "seconds": "8"}, "seconds"),
        ({"model": NOVA, "seconds": "4"}, "seconds"),
        ({"model": NOVA, "duration": 8}, "duration"),
        ({"model": LUMA, "seconds": "12"}, "seconds"),
        ({"model": LUMA, "seconds": "6"}, "seconds"),
        ({"model": "sora-2", "seconds": "5"}, "seconds"),
        ({"model": "sora-2-pro", "seconds": "120"}, "seconds"),
        ({"model": NOVA, "size": "960x540"}, "size"),
        ({"model": LUMA, "size": "1024x1792"}, "size"),
        ({"model": "sora-2", "size": "540x540"}, "size"),
        ({"model": NOVA, "preset": "tiktok"}, "model"),
        ({"model": NOVA, "loop": False}, "loop"),
        ({"model": "sora-2", "loop": True}, "loop"),
        ({"model": NOVA, "prompt": "x" * 513}, "prompt"),
        ({"model": NOVA, "seconds": "12", "prompt": "x" * 4001}, "prompt"),
        ({"model": LUMA, "prompt": "x" * 5001}, "prompt"),
    ],
)
def test_what_a_model_cannot_do_is_refused_naming_the_parameter(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], param: str
) -> None:
    # Long prompts are the model's limit here, not the service's own bound.
    monkeypatch.setenv("PROMPT_MAX_CHARS", "10000")
    get_settings.cache_clear()
    assert refused(**fields).param == param


def test_a_multi_shot_prompt_may_be_longer_than_a_single_shot_one() -> None:
    assert resolved(model=NOVA, seconds="12", prompt="x" * 4000)[1] == "12"


def test_a_model_the_deployment_does_not_serve_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LUMA_RAY_REGION", "")
    get_settings.cache_clear()
    error = refused(model=LUMA)
    assert (error.param, error.code) == ("model", "model_not_found")
    assert NOVA in error.message


def test_nova_reel_takes_a_1280x720_png_or_jpeg_as_first_frame_of_a_six_second_clip() -> None:
    body = CreateVideoBody(prompt="a kite", model=NOVA)
    assert resolve_create(body, image((1280, 720), "PNG")).image is not None
    assert resolve_create(body, image((1280, 720), "JPEG")).image is not None


@pytest.mark.parametrize(
    ("fields", "upload", "code"),
    [
        ({"model": NOVA}, image((1280, 720), "WEBP"), "invalid_image"),
        ({"model": NOVA}, image((720, 1280), "PNG"), "invalid_image"),
        ({"model": NOVA, "seconds": "12"}, image((1280, 720), "PNG"), "unsupported_parameter"),
        ({"model": LUMA}, image((1280, 720), "PNG"), "unsupported_parameter"),
    ],
)
def test_first_frames_bedrock_would_refuse_are_refused(
    fields: dict[str, Any], upload: UploadedImage, code: str
) -> None:
    error = refused(upload, **fields)
    assert (error.param, error.code) == ("input_reference", code)
