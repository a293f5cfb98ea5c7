"""Models of the OpenAI Videos protocol (Sora 2), as the provider speaks it.

These are the provider's shapes, owned by the provider layer. Other layers map them onto their
own models (job, API response); nothing outside the provider client should see raw provider
JSON. Request-side types are strict (we only send what the protocol accepts); response-side
types are lenient where a gateway might reasonably differ (extra fields, model name spelling),
because refusing a completed, paid-for video over a cosmetic difference helps nobody.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

# The vocabulary lives in a module without models (cheap to import); re-exported here.
from videojobs.models.provider_types import (
    CONTENT_VARIANTS,
    MODEL_NAMES,
    SIZES_BY_MODEL,
    VIDEO_SECONDS,
    VIDEO_SIZES,
    AuthStyle,
    ContentVariant,
    ListOrder,
    ModelName,
    VideoSeconds,
    VideoSize,
    model_supports_size,
)

__all__ = [
    "CONTENT_VARIANTS",
    "MODEL_NAMES",
    "SIZES_BY_MODEL",
    "VIDEO_SECONDS",
    "VIDEO_SIZES",
    "AuthStyle",
    "ContentVariant",
    "CreateVideoRequest",
    "DeletedVideo",
    "InputReference",
    "ListOrder",
    "ModelName",
    "ModerationResult",
    "ProviderConfig",
    "ProviderErrorBody",
    "ProviderErrorDetail",
    "ProviderVideo",
    "ProviderVideoError",
    "ProviderVideoStatus",
    "RetrievedVideo",
    "VideoPage",
    "VideoSeconds",
    "VideoSize",
    "model_supports_size",
]

_HTTP_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


class ProviderVideoStatus(StrEnum):
    """Lifecycle of a provider video; ``completed`` and ``failed`` are terminal."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """True once the provider will not change this video's status again."""
        return self in (ProviderVideoStatus.COMPLETED, ProviderVideoStatus.FAILED)


class _ProviderResponse(BaseModel):
    # Providers add fields over time; ignoring them keeps an additive change from failing jobs.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ProviderVideoError(_ProviderResponse):
    """Why the provider failed a video (``Video.error``)."""

    # Defaults because a failed video missing its reason is still a failed video, not a
    # protocol violation worth retrying over.
    code: str = "unknown"
    message: str = ""


class ProviderVideo(_ProviderResponse):
    """The provider's ``Video`` object."""

    # Some gateways send ``seconds`` as a number; the protocol says string.
    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    id: str = Field(min_length=1)
    object: Literal["video"] = "video"
    model: str
    status: ProviderVideoStatus
    progress: int = Field(default=0, ge=0, le=100)
    seconds: str
    size: str
    prompt: str | None = None
    created_at: int
    completed_at: int | None = None
    expires_at: int | None = None
    error: ProviderVideoError | None = None
    remixed_from_video_id: str | None = None


class VideoPage(_ProviderResponse):
    """One page of ``GET /videos``; pass ``last_id`` as ``after`` for the next page."""

    object: Literal["list"] = "list"
    data: list[ProviderVideo]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class DeletedVideo(_ProviderResponse):
    """Answer to ``DELETE /videos/{id}``."""

    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool


class ProviderErrorDetail(_ProviderResponse):
    """The ``error`` member of an OpenAI error body; every field is optional in practice."""

    message: str | None = None
    type: str | None = None
    param: str | None = None
    code: str | None = None

    @field_validator("code", "param", mode="before")
    @classmethod
    def _stringify(cls, value: object) -> object:
        # Some gateways send numeric codes; they are still codes.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value


class ProviderErrorBody(_ProviderResponse):
    """``{"error": {"message", "type", "param", "code"}}``."""

    error: ProviderErrorDetail


class InputReference(BaseModel):
    """An image the video starts from; it must match the requested size."""

    model_config = ConfigDict(frozen=True)

    filename: str = Field(min_length=1)
    content_type: str = Field(min_length=1)
    # Kept out of repr so that logging a request never dumps an image into the logs.
    data: bytes = Field(repr=False)


class CreateVideoRequest(BaseModel):
    """Body of ``POST /videos``; defaults are the provider's own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=1)
    model: ModelName = "sora-2"
    seconds: VideoSeconds = "4"
    size: VideoSize = "720x1280"
    input_reference: InputReference | None = None

    @model_validator(mode="after")
    def _size_fits_model(self) -> CreateVideoRequest:
        # Failing here costs nothing; failing at the provider costs a round trip and a
        # confusing error far from the caller.
        if not model_supports_size(self.model, self.size):
            allowed = ", ".join(SIZES_BY_MODEL[self.model])
            raise ValueError(f"size {self.size} is not available for {self.model} ({allowed})")
        return self


class RetrievedVideo(BaseModel):
    """A retrieved video plus the provider's hint of when to ask again."""

    model_config = ConfigDict(frozen=True)

    video: ProviderVideo
    poll_after_ms: int | None = None
    """From the ``openai-poll-after-ms`` response header; None when absent or unreadable."""
    request_id: str | None = None


class ProviderConfig(BaseModel):
    """Where the provider is and how to authenticate: base URL + auth style + key.

    Lives with the models, not the client, so that settings can build it without importing
    the HTTP stack. The key is a :class:`~pydantic.SecretStr`: it shows as ``**********`` in
    repr, str and ``model_dump``, and a validation error's text leaves inputs out. (Its
    ``errors()`` list still carries raw inputs, as pydantic's always does: log the text.)
    """

    # Without hide_input_in_errors a "field required" error would print the whole input,
    # key included.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    base_url: str
    """Normalised without a trailing slash.

    E.g. ``https://<resource>.openai.azure.com/openai/v1`` or ``http://127.0.0.1:8765/v1``.
    """
    auth_style: AuthStyle = "bearer"
    """``bearer`` sends ``Authorization: Bearer <key>``; ``api-key`` sends ``api-key: <key>``."""
    api_key: SecretStr
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    """Longest silence while waiting for an API response."""
    write_timeout: float = Field(default=60.0, gt=0)
    """Generous because ``create`` may upload a reference image."""
    pool_timeout: float = Field(default=10.0, gt=0)
    content_read_timeout: float = Field(default=120.0, gt=0)
    """Longest silence between two reads of a content download (not the whole download)."""
    max_connections: int = Field(default=10, ge=1)

    @field_validator("base_url")
    @classmethod
    def _http_url_without_credentials(cls, value: str) -> str:
        try:
            url = _HTTP_URL.validate_python(value.strip())
        except ValidationError:
            raise ValueError("base_url must be an http(s) URL") from None
        # The URL is shown in repr and error messages; credentials belong in api_key.
        if url.username or url.password:
            raise ValueError("base_url must not carry credentials; use api_key")
        return str(url).rstrip("/")

    @field_validator("api_key")
    @classmethod
    def _key_present(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if not secret.strip():
            raise ValueError("api_key must not be empty")
        # A newline in a header value would be rejected deep in the HTTP stack, with the
        # key in the traceback; refuse it here where the message can stay generic.
        if any(ch in secret for ch in "\r\n\x00"):
            raise ValueError("api_key contains control characters")
        return value


class ModerationResult(BaseModel):
    """The provider's verdict on a text (``POST /moderations``)."""

    model_config = ConfigDict(frozen=True)

    flagged: bool
    categories: tuple[str, ...] = ()
    """The categories that were flagged, sorted."""
