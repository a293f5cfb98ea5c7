"""Request and response bodies of the public ``/v1`` API (OpenAI-compatible shapes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from videojobs.models.provider import ModelName, VideoSize

PROMPT_MAX_CHARS = 4000
METADATA_MAX_PAIRS = 16


class CreateVideoBody(BaseModel):
    """``POST /v1/videos``: the OpenAI fields. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    prompt: Annotated[str, Field(min_length=1, max_length=PROMPT_MAX_CHARS)]
    model: ModelName = "sora-2"
    seconds: Literal["4", "8", "12"] = "4"
    size: VideoSize = "720x1280"
    metadata: dict[
        Annotated[str, Field(min_length=1, max_length=64)],
        Annotated[str, Field(max_length=512)],
    ] = Field(default_factory=dict, max_length=METADATA_MAX_PAIRS)

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds_as_string(cls, value: Any) -> Any:
        # OpenAI takes seconds as a string; accept the obvious integer too.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class VideoErrorBody(BaseModel):
    code: str
    message: str


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
    assets: dict[str, str] | None = None


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """The OpenAI error shape every failure is answered with."""

    error: ErrorDetail
