"""The OpenAI Videos protocol's vocabulary: models, sizes, lengths, content variants.

Plain ``Literal`` aliases and constants, no pydantic models, so that the job entity, the
data-access layer and storage can use them without building the protocol's models at import
(a cold-start cost for every function that touches a job). :mod:`videojobs.models.provider`
re-exports all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

ModelName = Literal["sora-2", "sora-2-pro"]
VideoSize = Literal["720x1280", "1280x720", "1024x1792", "1792x1024"]
VideoSeconds = Literal["4", "8", "12"]
ContentVariant = Literal["video", "thumbnail", "spritesheet"]
ListOrder = Literal["asc", "desc"]
AuthStyle = Literal["bearer", "api-key"]

MODEL_NAMES: tuple[ModelName, ...] = get_args(ModelName)
VIDEO_SIZES: tuple[VideoSize, ...] = get_args(VideoSize)
VIDEO_SECONDS: tuple[VideoSeconds, ...] = get_args(VideoSeconds)
CONTENT_VARIANTS: tuple[ContentVariant, ...] = get_args(ContentVariant)

SIZES_BY_MODEL: Mapping[ModelName, tuple[VideoSize, ...]] = MappingProxyType(
    {
        "sora-2": ("720x1280", "1280x720"),
        "sora-2-pro": ("720x1280", "1280x720", "1024x1792", "1792x1024"),
    }
)
"""Which output sizes each model renders; the provider rejects any other combination."""


def model_supports_size(model: ModelName, size: VideoSize) -> bool:
    """Whether ``model`` can render ``size`` (see :data:`SIZES_BY_MODEL`)."""
    return size in SIZES_BY_MODEL[model]
