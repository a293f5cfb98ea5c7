"""The job entity: what videojobs knows about one requested video."""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from videojobs.models.money import usd
from videojobs.models.provider_types import AnyModelName, AnySeconds, AnySize, ContentVariant

JobId = Annotated[str, StringConstraints(pattern=r"^video_[0-9a-f]{32}$")]
TenantId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


def new_job_id() -> str:
    """A fresh job id, shaped like an OpenAI video id so SDK users see a familiar value."""
    return "video_" + secrets.token_hex(16)


class JobStatus(StrEnum):
    """Where a job is. Status only moves forward (see ``RANK``)."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def rank(self) -> int:
        return RANK[self]


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
RANK = {
    JobStatus.QUEUED: 0,
    JobStatus.IN_PROGRESS: 1,
    JobStatus.COMPLETED: 2,
    JobStatus.FAILED: 2,
    JobStatus.CANCELLED: 2,
}


class JobError(BaseModel):
    """Why a job failed, normalised across provider, storage and workflow failures."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    retryable: bool = False
    billed: bool = False


class StoredAsset(BaseModel):
    """One file kept in our bucket, with what proves it arrived whole."""

    model_config = ConfigDict(frozen=True)

    key: str
    bytes: int
    content_type: str
    sha256: str
    crc32: str | None = None
    """Of files we uploaded ourselves; a server-side copy records S3's SHA-256 alone."""


class StoredInput(BaseModel):
    """A caller's ``input_reference`` image, kept in the bucket until the job is submitted."""

    model_config = ConfigDict(frozen=True)

    key: str
    content_type: str
    filename: str
    bytes: int


class VideoRequest(BaseModel):
    """What the provider is asked to generate (already validated and normalised)."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    model: AnyModelName = "sora-2"
    seconds: AnySeconds = "4"
    size: AnySize = "720x1280"
    loop: bool | None = None
    """Luma Ray 2 only: whether the clip loops (None: the model's default, no loop)."""
    remix_of: str | None = None
    """The job id this one remixes (what the API shows as ``remixed_from_video_id``)."""
    remix_of_provider_id: str | None = None
    """The provider's video id of that job: what the provider's remix call needs."""
    input_reference: StoredInput | None = None


class CallbackAttempt(BaseModel):
    """One delivery attempt of a signed callback to the job's ``callback_url``."""

    model_config = ConfigDict(frozen=True)

    event: str
    attempt: int
    at: int
    status_code: int | None = None
    error: str | None = None
    delivered: bool = False


class Job(BaseModel):
    """A job as the logic layer sees it. ``version`` guards every conditional write."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    tenant_id: str
    status: JobStatus
    version: int = 0
    created_at: int
    updated_at: int
    request: VideoRequest
    progress: int = 0
    provider_video_id: str | None = None
    provider_status: str | None = None
    task_token: str | None = None
    submit_attempted_at: int | None = None
    throttled_until: int | None = None
    """Set by the submit step when the provider request budget or a provider 429 holds the
    create back: the job waits until about then (what ``status_reason`` reports)."""
    completed_at: int | None = None
    provider_expires_at: int | None = None
    error: JobError | None = None
    provider_error: JobError | None = None
    assets: dict[ContentVariant, StoredAsset] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)
    execution_arn: str | None = None
    callback_url: str | None = None
    callback_attempts: list[CallbackAttempt] = Field(default_factory=list)
    batch_id: str | None = None
    deleted_at: int | None = None
    cost_estimated_micros: int | None = None
    """Seconds x price when submitted (micro-dollars), reserved against the tenant's budgets."""
    cost_settled_micros: int | None = None
    """What the job cost once it ended (micro-dollars); set once, by ``logic.costs``."""
    correlation_id: str | None = None
    """The id that ties the job's log lines together: the API Gateway request id that created
    it (or its intake batch); carried into its execution, every step and its callbacks."""

    @property
    def cost_estimated_usd(self) -> float | None:
        return None if self.cost_estimated_micros is None else usd(self.cost_estimated_micros)

    @property
    def cost_settled_usd(self) -> float | None:
        return None if self.cost_settled_micros is None else usd(self.cost_settled_micros)

    def with_changes(self, **changes: Any) -> Job:
        """A copy with ``changes`` applied (the entity is immutable)."""
        return self.model_copy(update=changes)
