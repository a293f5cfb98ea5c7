"""Presets and the friendly duration / aspect_ratio / resolution fields: each maps exactly onto
a size and length Sora renders, explicit fields win, and anything inexact is a 400 that names
the valid values."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from videojobs.logic.create_job import resolve_create
from videojobs.models.api import CreateVideoBody
from videojobs.models.errors import InvalidRequestError
from videojobs.models.presets import PRESET_NAMES, PRESETS, SHAPES, get_preset
from videojobs.models.provider import SIZES_BY_MODEL, VIDEO_SIZES
from videojobs.settings import get_settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


@pytest.fixture(autouse=True)
def default_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("VIDEOJOBS_LOCAL_MODE", "PROMPT_MAX_CHARS", "PRE_SUBMIT_MODERATION"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def resolve(**fields: Any) -> tuple[str, str, str, str]:
    body = CreateVideoBody.model_validate({"prompt": "a kite over the sea", **fields})
    request = resolve_create(body).request
    return request.model, request.size, request.seconds, request.prompt


def refused(**fields: Any) -> InvalidRequestError:
    body = CreateVideoBody.model_validate({"prompt": "a kite over the sea", **fields})
    with pytest.raises(InvalidRequestError) as caught:
        resolve_create(body)
    return caught.value


# --- presets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_resolves_to_a_size_its_model_renders(name: str) -> None:
    # Given a preset
    preset = get_preset(name)  # type: ignore[arg-type]
    # When a create names only it
    model, size, seconds, prompt = resolve(preset=name)
    # Then the job is what the preset says, and the provider can render it
    assert (model, size, seconds) == (preset.model, preset.size, preset.seconds)
    assert size in SIZES_BY_MODEL[preset.model]
    expected = "a kite over the sea" + (f"\n\n{preset.style}" if preset.style else "")
    assert prompt == expected


@pytest.mark.parametrize(
    ("name", "size", "seconds"),
    [
        ("youtube", "1280x720", "12"),
        ("youtube-shorts", "720x1280", "8"),
        ("tiktok", "720x1280", "8"),
        ("instagram-reels", "720x1280", "8"),
        ("instagram-feed", "720x1280", "8"),
        ("twitter", "1280x720", "8"),
        ("linkedin", "1280x720", "8"),
    ],
)
def test_presets_produce_the_documented_shape(name: str, size: str, seconds: str) -> None:
    # Given a preset / When it is resolved / Then it has the shape the docs promise
    _, got_size, got_seconds, _ = resolve(preset=name)
    assert (got_size, got_seconds) == (size, seconds)


def test_x_is_an_alias_of_twitter() -> None:
    assert resolve(preset="x") == resolve(preset="twitter")


def test_preset_names_are_case_insensitive() -> None:
    assert resolve(preset="TikTok") == resolve(preset="tiktok")


def test_an_unknown_preset_is_refused_naming_the_valid_ones() -> None:
    # Given a preset that does not exist / When validated / Then the error lists the real ones
    with pytest.raises(ValidationError) as caught:
        CreateVideoBody.model_validate({"prompt": "p", "preset": "myspace"})
    error = caught.value.errors()[0]
    assert error["loc"] == ("preset",)
    assert "'youtube-shorts'" in error["msg"] and "'linkedin'" in error["msg"]


@pytest.mark.parametrize(
    ("explicit", "expected"),
    [
        ({"seconds": "4"}, ("sora-2", "720x1280", "4")),
        ({"duration": 12}, ("sora-2", "720x1280", "12")),
        ({"size": "1280x720"}, ("sora-2", "1280x720", "8")),
        ({"aspect_ratio": "16:9"}, ("sora-2", "1280x720", "8")),
        ({"model": "sora-2-pro"}, ("sora-2-pro", "720x1280", "8")),
        ({"model": "sora-2-pro", "resolution": "1024p"}, ("sora-2-pro", "1024x1792", "8")),
    ],
)
def test_explicit_fields_override_the_preset(
    explicit: dict[str, Any], expected: tuple[str, str, str]
) -> None:
    # Given the tiktok preset (sora-2, 720x1280, 8 s) and one explicit field
    model, size, seconds, _ = resolve(preset="tiktok", **explicit)
    # Then the explicit field wins and the rest still comes from the preset
    assert (model, size, seconds) == expected


def test_a_style_suffix_is_appended_after_the_callers_prompt() -> None:
    _, _, _, prompt = resolve(preset="linkedin")
    assert prompt.startswith("a kite over the sea\n\n")
    assert prompt.endswith(PRESETS["linkedin"].style or "")


# --- the friendly fields ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "size"),
    [
        ({"aspect_ratio": "16:9"}, "1280x720"),
        ({"aspect_ratio": "9:16"}, "720x1280"),
        ({"aspect_ratio": "7:4", "model": "sora-2-pro"}, "1792x1024"),
        ({"aspect_ratio": "4:7", "model": "sora-2-pro"}, "1024x1792"),
        ({"aspect_ratio": "16:9", "resolution": "720p"}, "1280x720"),
        ({"aspect_ratio": "4:7", "resolution": "1024p", "model": "sora-2-pro"}, "1024x1792"),
        ({"resolution": "720p"}, "720x1280"),
        ({"resolution": "1024p", "model": "sora-2-pro"}, "1024x1792"),
        ({"resolution": "720P", "preset": "youtube"}, "1280x720"),
        ({"resolution": "1024p", "preset": "youtube", "model": "sora-2-pro"}, "1792x1024"),
        ({"aspect_ratio": "16:9", "size": "1280x720"}, "1280x720"),
        ({"resolution": "720p", "size": "1280x720"}, "1280x720"),
    ],
)
def test_friendly_shapes_map_exactly_onto_sizes(fields: dict[str, Any], size: str) -> None:
    # Given friendly fields that name a size exactly / When resolved / Then that is the size
    assert resolve(**fields)[1] == size


@pytest.mark.parametrize(("duration", "seconds"), [(4, "4"), (8, "8"), (12, "12"), ("8", "8")])
def test_duration_is_seconds_as_a_number(duration: Any, seconds: str) -> None:
    assert resolve(duration=duration)[2] == seconds


def test_every_size_has_exactly_one_friendly_shape() -> None:
    # The tables cover the provider's sizes one to one, so no friendly value is ambiguous.
    assert set(SHAPES) == set(VIDEO_SIZES)
    assert len({(s.aspect_ratio, s.resolution) for s in SHAPES.values()}) == len(SHAPES)
    for size, shape in SHAPES.items():
        width, height = (int(v) for v in size.split("x"))
        a, b = (int(v) for v in shape.aspect_ratio.split(":"))
        assert width * b == height * a, f"{size} is not exactly {shape.aspect_ratio}"
        assert min(width, height) == int(shape.resolution.rstrip("p"))


@pytest.mark.parametrize(
    ("field", "value", "listed"),
    [
        ("aspect_ratio", "1:1", "'16:9', '9:16', '7:4' or '4:7'"),
        ("aspect_ratio", "4:5", "'16:9', '9:16', '7:4' or '4:7'"),
        ("resolution", "1080p", "'720p' or '1024p'"),
        ("duration", 10, "4, 8 or 12"),
        ("duration", True, "4, 8 or 12"),
        ("seconds", "10", "'4', '8' or '12'"),
        ("size", "1920x1080", "'720x1280', '1280x720', '1024x1792' or '1792x1024'"),
    ],
)
def test_inexact_friendly_values_are_refused_listing_the_valid_ones(
    field: str, value: Any, listed: str
) -> None:
    # Given a value Sora has no exact size or length for
    with pytest.raises(ValidationError) as caught:
        CreateVideoBody.model_validate({"prompt": "p", field: value})
    # Then the error names the field and every valid value
    error = caught.value.errors()[0]
    assert error["loc"] == (field,)
    assert listed in error["msg"]


def test_an_aspect_ratio_at_a_resolution_it_lacks_is_refused_with_the_valid_combinations() -> None:
    error = refused(aspect_ratio="16:9", resolution="1024p", model="sora-2-pro")
    assert error.param == "resolution"
    assert "16:9 at 720p (1280x720)" in error.message
    assert "7:4 at 1024p (1792x1024)" in error.message


def test_a_size_contradicting_the_aspect_ratio_or_resolution_is_refused() -> None:
    error = refused(size="720x1280", aspect_ratio="16:9")
    assert error.param == "aspect_ratio"
    assert "1280x720" in error.message
    assert refused(size="1280x720", resolution="1024p", model="sora-2-pro").param == "resolution"


def test_duration_and_seconds_that_disagree_are_refused() -> None:
    error = refused(seconds="4", duration=8)
    assert error.param == "duration"


def test_a_pro_size_without_the_pro_model_is_refused_with_a_hint() -> None:
    # Given a 7:4 video without naming sora-2-pro (the default model cannot render it)
    error = refused(aspect_ratio="7:4")
    # Then the caller is told which model renders it, rather than being silently upgraded
    assert error.param == "model"
    assert "sora-2-pro" in error.message
    assert refused(size="1792x1024").param == "size"


# --- the docs --------------------------------------------------------------------------------


def test_the_docs_table_matches_the_presets() -> None:
    # Given the "Presets" section of docs/api.md
    text = DOCS.read_text()
    section = text.split("## Presets", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            for name in re.findall(r"`([^`]+)`", cells[0]):
                rows[name] = cells
    # Then every preset has a row showing the size, seconds and model it really produces
    for name, preset in PRESETS.items():
        assert name in rows, f"docs/api.md has no row for preset {name}"
        row = " ".join(rows[name])
        assert preset.size in row and preset.model in row
        assert re.search(rf"\b{preset.seconds} s\b", row), row
    assert rows["x"] == rows["twitter"]
