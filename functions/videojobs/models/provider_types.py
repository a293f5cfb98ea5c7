"""The OpenAI Videos protocol's vocabulary: models, sizes, lengths, content variants.

Plain ``Literal`` aliases and constants, no pydantic models, so that the job entity, the
data-access layer and storage can use them without building the protocol's models at import
(a cold-start cost for every function that touches a job). :mod:`videojobs.models.provider`
re-exports all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal, get_args

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


# --- every model this service knows, across provider protocols -------------------------------
#
# The names above are the OpenAI Videos protocol's (Sora 2). Amazon Bedrock's video models
# speak another protocol (StartAsyncInvoke); a job names any of them in ``model``, and the
# model decides the protocol. The OpenAI-shaped fields map onto Bedrock's as docs/provider.md
# ("Field mapping") shows: ``seconds`` is the clip length, ``size`` the frame.

BedrockModelName = Literal["amazon.nova-reel-v1:1", "luma.ray-v2:0"]
AnyModelName = Literal["sora-2", "sora-2-pro", "amazon.nova-reel-v1:1", "luma.ray-v2:0"]
ProtocolName = Literal["openai", "bedrock"]

NOVA_REEL: Final = "amazon.nova-reel-v1:1"
LUMA_RAY: Final = "luma.ray-v2:0"

# Each model's own values first, then Sora's: pydantic lists them in this order when it
# refuses a value, and the Sora values keep reading as before at the end.
AnySeconds = Literal[
    "5", "9",  # luma.ray-v2:0
    "6", "18", "24", "30", "36", "42", "48", "54", "60",  # amazon.nova-reel-v1:1 (and "12")
    "66", "72", "78", "84", "90", "96", "102", "108", "114", "120",
    "4", "8", "12",  # sora-2, sora-2-pro
]  # fmt: skip
AnySize = Literal[
    # luma.ray-v2:0 at 720p (with 1280x720 and 720x1280) and at 540p, by aspect ratio
    "720x720", "960x720", "720x960", "1680x720", "720x1680",
    "960x540", "540x960", "540x540", "720x540", "540x720", "1260x540", "540x1260",
    "720x1280", "1280x720", "1024x1792", "1792x1024",  # sora-2 models (1280x720: all)
]  # fmt: skip

ANY_MODEL_NAMES: tuple[AnyModelName, ...] = get_args(AnyModelName)
BEDROCK_MODEL_NAMES: tuple[BedrockModelName, ...] = get_args(BedrockModelName)
ANY_SECONDS: tuple[AnySeconds, ...] = get_args(AnySeconds)
ANY_SIZES: tuple[AnySize, ...] = get_args(AnySize)

PROTOCOL_BY_MODEL: Mapping[AnyModelName, ProtocolName] = MappingProxyType(
    {"sora-2": "openai", "sora-2-pro": "openai", NOVA_REEL: "bedrock", LUMA_RAY: "bedrock"}
)

LUMA_ASPECT_RATIOS: tuple[str, ...] = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21")
LUMA_RESOLUTIONS: tuple[str, ...] = ("540p", "720p")
# Luma's aspect_ratio x resolution, as the frame size videojobs names it (short side =
# resolution). Nova Reel renders one frame size, 1280x720.
LUMA_SHAPES: Mapping[AnySize, tuple[str, str]] = MappingProxyType(
    {
        "1280x720": ("16:9", "720p"),
        "720x1280": ("9:16", "720p"),
        "720x720": ("1:1", "720p"),
        "960x720": ("4:3", "720p"),
        "720x960": ("3:4", "720p"),
        "1680x720": ("21:9", "720p"),
        "720x1680": ("9:21", "720p"),
        "960x540": ("16:9", "540p"),
        "540x960": ("9:16", "540p"),
        "540x540": ("1:1", "540p"),
        "720x540": ("4:3", "540p"),
        "540x720": ("3:4", "540p"),
        "1260x540": ("21:9", "540p"),
        "540x1260": ("9:21", "540p"),
    }
)
"""``size`` → Luma's (``aspect_ratio``, ``resolution``)."""

NOVA_REEL_SINGLE_SHOT_SECONDS: Final = 6
"""Nova Reel's TEXT_VIDEO length; longer clips (12-120 s in steps of 6) are MULTI_SHOT_AUTOMATED."""

ALL_SIZES_BY_MODEL: Mapping[AnyModelName, tuple[AnySize, ...]] = MappingProxyType(
    {
        "sora-2": SIZES_BY_MODEL["sora-2"],
        "sora-2-pro": SIZES_BY_MODEL["sora-2-pro"],
        NOVA_REEL: ("1280x720",),
        LUMA_RAY: tuple(LUMA_SHAPES),
    }
)
"""Which frame sizes each model renders, for every protocol."""

_NOVA_REEL_SECONDS: tuple[AnySeconds, ...] = (
    "6", "12", "18", "24", "30", "36", "42", "48", "54", "60",
    "66", "72", "78", "84", "90", "96", "102", "108", "114", "120",
)  # fmt: skip

SECONDS_BY_MODEL: Mapping[AnyModelName, tuple[AnySeconds, ...]] = MappingProxyType(
    {
        "sora-2": VIDEO_SECONDS,
        "sora-2-pro": VIDEO_SECONDS,
        NOVA_REEL: _NOVA_REEL_SECONDS,
        LUMA_RAY: ("5", "9"),
    }
)
"""Which clip lengths each model makes."""

# The longest prompt each model takes, by Nova Reel task type where it differs.
NOVA_REEL_PROMPT_MAX: Final = 512
NOVA_REEL_MULTI_SHOT_PROMPT_MAX: Final = 4000
LUMA_PROMPT_MAX: Final = 5000


def protocol_of(model: str) -> ProtocolName:
    """The protocol that serves ``model`` (``openai`` for a name this table does not know)."""
    return PROTOCOL_BY_MODEL.get(model, "openai")  # type: ignore[call-overload, no-any-return]


def prompt_limit(model: str, seconds: str) -> int | None:
    """The model's own prompt bound for a clip of ``seconds`` (None: only the service's)."""
    if model == NOVA_REEL:
        single = int(seconds) == NOVA_REEL_SINGLE_SHOT_SECONDS
        return NOVA_REEL_PROMPT_MAX if single else NOVA_REEL_MULTI_SHOT_PROMPT_MAX
    if model == LUMA_RAY:
        return LUMA_PROMPT_MAX
    return None
