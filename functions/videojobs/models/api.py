"""Request and response bodies of the public ``/v1`` API (OpenAI-compatible shapes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from videojobs.models.presets import AspectRatio, Duration, PresetName, Resolution
from videojobs.models.provider_types import AnyModelName, AnySeconds, AnySize

PROMPT_MAX_CHARS = 4000
"""The default prompt bound; the deployed bound is ``Settings.prompt_max_chars``."""
METADATA_MAX_PAIRS = 16
CALLBACK_URL_MAX_CHARS = 2048

Metadata = dict[
    Annotated[str, Field(min_length=1, max_length=64)],
    Annotated[str, Field(max_length=512)],
]


def _lowercase(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


class InputReferenceParam(BaseModel):
    """``input_reference`` given as an object (JSON, or ``input_reference[...]`` form fields).

    Only a ``data:`` URL of a JPEG, PNG or WebP image is accepted: fetching a caller's URL
    from inside the service is a door into the network behind it, and file ids belong to
    another API. An upload (multipart file part) is the usual way to send an image.
    """

    model_config = ConfigDict(extra="forbid")

    image_url: str | None = Field(
        default=None, description="A data: URL (data:image/png;base64,...)."
    )
    file_id: str | None = Field(default=None, description="Not supported: upload the image.")


class CreateVideoBody(BaseModel):
    """``POST /v1/videos``: the OpenAI fields plus this service's extensions.

    Fields left out come from ``preset`` when one is named, else from the provider's defaults
    (sora-2, 4 seconds, 720x1280). Unknown fields are refused.
    """

    model_config = ConfigDict(extra="forbid")

    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        description="What the video shows. Its longest length is configured per deployment."
    )
    model: AnyModelName | None = Field(
        default=None,
        description=(
            "Defaults to sora-2. amazon.nova-reel-v1:1 and luma.ray-v2:0 run on Amazon "
            "Bedrock where the deployment enables them (GET /v1/models lists them)."
        ),
    )
    seconds: AnySeconds | None = Field(
        default=None,
        description=(
            'Clip length (an integer is accepted too): sora-2 models "4", "8" or "12"; '
            'amazon.nova-reel-v1:1 "6" or "12" to "120" in steps of 6; luma.ray-v2:0 "5" or "9".'
        ),
    )
    size: AnySize | None = Field(
        default=None,
        description=(
            "Width x height; 1024x1792 and 1792x1024 need sora-2-pro; amazon.nova-reel-v1:1 "
            "renders 1280x720; luma.ray-v2:0 its aspect ratios at 540p or 720p (see docs)."
        ),
    )
    loop: bool | None = Field(
        default=None, description="luma.ray-v2:0 only: a clip whose end runs into its start."
    )
    input_reference: InputReferenceParam | None = Field(
        default=None,
        description="An image the video starts from, matching `size` exactly.",
    )
    metadata: Metadata = Field(
        default_factory=dict,
        max_length=METADATA_MAX_PAIRS,
        description="Up to 16 string pairs, kept on the job (keys <= 64, values <= 512 chars).",
    )
    callback_url: str | None = Field(
        default=None,
        max_length=CALLBACK_URL_MAX_CHARS,
        description="https URL that receives signed video.completed / video.failed events.",
    )
    preset: PresetName | None = Field(
        default=None,
        description="Size, seconds, model and a style line for a platform (see docs).",
    )
    duration: Duration | None = Field(
        default=None, description="Seconds as a number: 4, 8 or 12 (same as `seconds`)."
    )
    aspect_ratio: AspectRatio | None = Field(
        default=None,
        description="16:9 (1280x720), 9:16 (720x1280), 7:4 (1792x1024) or 4:7 (1024x1792).",
    )
    resolution: Resolution | None = Field(
        default=None,
        description="Short side: 720p (both models) or 1024p (sora-2-pro).",
    )

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds_as_string(cls, value: Any) -> Any:
        # OpenAI takes seconds as a string; accept the obvious integer too.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("duration", mode="before")
    @classmethod
    def _duration_as_int(cls, value: Any) -> Any:
        # Form fields are text; a bool is not a number of seconds.
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return value

    _lower = field_validator("preset", "resolution", mode="before")(_lowercase)


class RemixVideoBody(BaseModel):
    """``POST /v1/videos/{id}/remix``: a new prompt for a completed video.

    The remix keeps the source's model, size and seconds, as the provider does.
    """

    model_config = ConfigDict(extra="forbid")

    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    metadata: Metadata = Field(default_factory=dict, max_length=METADATA_MAX_PAIRS)
    callback_url: str | None = Field(default=None, max_length=CALLBACK_URL_MAX_CHARS)


class UploadedImage(BaseModel):
    """An ``input_reference`` file as it arrived, before it is checked."""

    model_config = ConfigDict(frozen=True)

    filename: str
    declared_type: str | None = None
    data: bytes = Field(repr=False)


class VideoErrorBody(BaseModel):
    code: str
    message: str


class VideoCost(BaseModel):
    """What a job costs in USD: estimated when submitted, settled once it has ended."""

    estimated_usd: float
    settled_usd: float | None = None


StatusReason = (
    Literal[
        "waiting_for_slot",
        "waiting_for_tenant_slot",
        "provider_throttled",
        "waiting_for_provider",
        "storing",
    ]
    | None
)


class VideoResource(BaseModel):
    """``GET /v1/videos/{id}``: the OpenAI Video object plus what jobs add."""

    id: str
    object: Literal["video"] = "video"
    model: str
    status: Literal["queued", "in_progress", "completed", "failed", "cancelled"]
    progress: int
    seconds: str
    size: str
    prompt: str
    created_at: int
    completed_at: int | None = None
    expires_at: int | None = None
    error: VideoErrorBody | None = None
    remixed_from_video_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    batch_id: str | None = None
    assets: dict[str, str] | None = None
    queue_position: int | None = None
    """While queued and waiting for a concurrency slot: 1 = next in line (by age)."""
    status_reason: StatusReason = Field(
        default=None,
        description=(
            "Extension: why a job that has not ended is waiting. `waiting_for_slot` (in line "
            "for a concurrency slot, see `queue_position`), `waiting_for_tenant_slot` (in line, "
            "but your own jobs already hold as many slots as one tenant may, MaxJobsPerTenant: "
            "it starts when one of them ends), `provider_throttled` (the provider "
            "request budget or a provider 429 holds its submission back for a few seconds), "
            "`waiting_for_provider` (submitted; the provider is generating it), `storing` "
            "(generated; the files are being copied into storage). null once the job has ended."
        ),
    )
    cost: VideoCost | None = None


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """The OpenAI error shape every failure is answered with."""

    error: ErrorDetail


class ModelResource(BaseModel):
    """One model this deployment serves (OpenAI's ``Model`` object)."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="When the model was published (Unix seconds).")
    owned_by: str


class ModelList(BaseModel):
    """``GET /v1/models``: what this deployment serves, in OpenAI's list shape."""

    object: Literal["list"] = "list"
    data: list[ModelResource]
