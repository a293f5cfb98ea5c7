"""Presets and the friendly ``duration`` / ``aspect_ratio`` / ``resolution`` vocabulary.

Sora renders four sizes only (see :data:`~videojobs.models.provider_types.SIZES_BY_MODEL`): 9:16
and 16:9 at 720p with either model, 4:7 and 7:4 at 1024p with ``sora-2-pro``. So a friendly
value is accepted only where it names one of those exactly, and a preset for a platform whose
native shape Sora cannot render (Instagram's 4:5 and 1:1 feed) says what it produces instead.
``docs/api.md`` ("Presets") shows the same table to callers; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from videojobs.models.provider_types import ModelName, VideoSeconds, VideoSize

PresetName = Literal[
    "youtube",
    "youtube-shorts",
    "tiktok",
    "instagram-reels",
    "instagram-feed",
    "twitter",
    "x",
    "linkedin",
]
AspectRatio = Literal["16:9", "9:16", "7:4", "4:7"]
Resolution = Literal["720p", "1024p"]
Duration = Literal[4, 8, 12]

PRESET_NAMES: tuple[PresetName, ...] = get_args(PresetName)
ASPECT_RATIOS: tuple[AspectRatio, ...] = get_args(AspectRatio)
RESOLUTIONS: tuple[Resolution, ...] = get_args(Resolution)
DURATIONS: tuple[Duration, ...] = get_args(Duration)


class Shape(BaseModel):
    """The friendly description of one provider size."""

    model_config = ConfigDict(frozen=True)

    aspect_ratio: AspectRatio
    resolution: Resolution
    orientation: Literal["portrait", "landscape"]


SHAPES: Mapping[VideoSize, Shape] = MappingProxyType(
    {
        "720x1280": Shape(aspect_ratio="9:16", resolution="720p", orientation="portrait"),
        "1280x720": Shape(aspect_ratio="16:9", resolution="720p", orientation="landscape"),
        "1024x1792": Shape(aspect_ratio="4:7", resolution="1024p", orientation="portrait"),
        "1792x1024": Shape(aspect_ratio="7:4", resolution="1024p", orientation="landscape"),
    }
)
"""Every size, described by its exact aspect ratio (width:height) and its short side."""

SIZE_BY_ASPECT_RATIO: Mapping[AspectRatio, VideoSize] = MappingProxyType(
    {shape.aspect_ratio: size for size, shape in SHAPES.items()}
)
SECONDS_BY_DURATION: Mapping[Duration, VideoSeconds] = MappingProxyType({4: "4", 8: "8", 12: "12"})

SIZE_BY_RESOLUTION_AND_ORIENTATION: Mapping[tuple[Resolution, str], VideoSize] = MappingProxyType(
    {(shape.resolution, shape.orientation): size for size, shape in SHAPES.items()}
)


class Preset(BaseModel):
    """What a preset asks for. Explicit request fields override each value."""

    model_config = ConfigDict(frozen=True)

    name: PresetName
    platform: str
    native: str
    """The platform's preferred shape, for the docs."""
    size: VideoSize
    seconds: VideoSeconds
    model: ModelName
    style: str | None = None
    """Appended to the caller's prompt (after a blank line) when set."""
    note: str = ""


_VERTICAL = "Vertical 9:16 framing with the main subject centred"

PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        preset.name: preset
        for preset in (
            Preset(
                name="youtube",
                platform="YouTube",
                native="16:9 (1920x1080)",
                size="1280x720",
                seconds="12",
                model="sora-2",
                style="Cinematic widescreen composition.",
            ),
            Preset(
                name="youtube-shorts",
                platform="YouTube Shorts",
                native="9:16 (1080x1920)",
                size="720x1280",
                seconds="8",
                model="sora-2",
                style=f"{_VERTICAL}; it grabs attention in the first second.",
            ),
            Preset(
                name="tiktok",
                platform="TikTok",
                native="9:16 (1080x1920)",
                size="720x1280",
                seconds="8",
                model="sora-2",
                style=f"{_VERTICAL}; fast-paced and energetic.",
            ),
            Preset(
                name="instagram-reels",
                platform="Instagram Reels",
                native="9:16 (1080x1920)",
                size="720x1280",
                seconds="8",
                model="sora-2",
                style=f"{_VERTICAL}; polished and vibrant.",
            ),
            Preset(
                name="instagram-feed",
                platform="Instagram feed",
                native="4:5 (1080x1350) or 1:1 (1080x1080)",
                size="720x1280",
                seconds="8",
                model="sora-2",
                style=(
                    "Keep the main subject and any action in the centre of the frame, away "
                    "from the top and bottom edges."
                ),
                note=(
                    "Sora renders no 4:5 or 1:1, so this is 9:16; the feed shows its centre "
                    "4:5 (720x900), and a 1:1 post needs a centre crop to 720x720."
                ),
            ),
            Preset(
                name="twitter",
                platform="X (Twitter)",
                native="16:9 (1280x720) or 1:1",
                size="1280x720",
                seconds="8",
                model="sora-2",
                style="Striking visuals that read without sound.",
            ),
            Preset(
                name="linkedin",
                platform="LinkedIn",
                native="16:9 (1920x1080), also 1:1 and 4:5",
                size="1280x720",
                seconds="8",
                model="sora-2",
                style="Clean, professional look.",
                note="16:9 plays in every LinkedIn placement; Sora renders no 1:1 or 4:5.",
            ),
        )
    }
)
"""The presets by name (aliases in :data:`PRESET_ALIASES`)."""

PRESET_ALIASES: Mapping[str, PresetName] = MappingProxyType({"x": "twitter"})


def get_preset(name: PresetName) -> Preset:
    """The preset called ``name`` (an alias gives its target)."""
    return PRESETS[PRESET_ALIASES.get(name, name)]
