"""S3 intake: the S3 event that brings a file, the batch it becomes, and its results manifest."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from videojobs.models.batches import Batch
from videojobs.models.errors import VideojobsError
from videojobs.models.job import Job, JobStatus

IntakeFormat = Literal["json", "jsonl", "csv", "txt"]
ManifestStatus = Literal["completed", "failed", "rejected"]

INTAKE_PREFIX = "intake/"
RESULTS_PREFIX = "results/"
DEFAULTS_FILE = "_defaults.json"
MANIFEST_SUFFIX = ".results.jsonl"
ERROR_MAX_CHARS = 300
"""Longest reason kept per rejected line: an intake batch's plan lives in one DynamoDB item."""


class IntakeFileRejectedError(VideojobsError):
    """The whole file is refused (too large, too many lines, unreadable, unknown tenant)."""


class IntakeIncompleteError(VideojobsError):
    """The file was only partly processed (time ran out); its message is delivered again."""


# --- the event ---------------------------------------------------------------------------------


class _S3Bucket(BaseModel):
    name: str


class _S3Object(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    key: str = Field(min_length=1)
    size: int | None = None
    etag: str | None = None
    version_id: str | None = Field(default=None, alias="version-id")


class _S3Detail(BaseModel):
    bucket: _S3Bucket
    object: _S3Object


class S3ObjectCreated(BaseModel):
    """The EventBridge event S3 sends for a new object (``Object Created``)."""

    source: Literal["aws.s3"]
    detail_type: Literal["Object Created"] = Field(alias="detail-type")
    detail: _S3Detail


class S3ObjectRef(BaseModel):
    """The object an event is about, as the event describes it."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None


def parse_object_created(body: str) -> S3ObjectRef | None:
    """The object of an ``Object Created`` event (an SQS message body); None for anything else."""
    try:
        event = S3ObjectCreated.model_validate_json(body)
    except ValidationError:
        return None
    obj = event.detail.object
    return S3ObjectRef(
        bucket=event.detail.bucket.name,
        key=obj.key,
        size=obj.size,
        etag=obj.etag.strip('"') if obj.etag else None,
        # "null" is the version of an object in an unversioned bucket: no version to pin.
        version_id=obj.version_id if obj.version_id not in (None, "", "null") else None,
    )


class IntakeObject(BaseModel):
    """An intake file as read from S3: what identifies this content, and (some of) its bytes."""

    model_config = ConfigDict(frozen=True)

    key: str
    etag: str
    version_id: str | None = None
    size: int
    data: bytes = Field(repr=False)
    """At most the configured largest file size plus one byte (enough to tell it is over)."""


# --- the batch a file becomes ------------------------------------------------------------------


class PlanLine(BaseModel):
    """One input line of an intake file: the job it became, or why it did not become one.

    ``line`` is None for a reason about the whole file.
    """

    model_config = ConfigDict(frozen=True)

    line: int | None
    job_id: str | None = None
    error: str | None = None


class IntakeSource(BaseModel):
    """Where an intake batch came from, and (once sealed) what became of every line."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    etag: str
    version_id: str | None = None
    format: IntakeFormat
    manifest_key: str
    sealed: bool = False
    """True once every line has a job or a reason; only then may the batch complete."""
    lines: list[PlanLine] = Field(default_factory=list)
    """Every line's outcome, in input order (once sealed)."""
    progress: list[PlanLine] = Field(default_factory=list)
    """Lines whose job exists, recorded one by one until sealed: a later delivery skips them
    (for good, unlike the idempotency records, which expire)."""


class IntakeBatch(Batch):
    """A batch made from an intake file."""

    source: IntakeSource


# --- the results manifest ----------------------------------------------------------------------


class ManifestLine(BaseModel):
    """One line of ``results/<tenant>/<stem>.results.jsonl``."""

    line: int | None
    status: ManifestStatus
    job_id: str | None = None
    video: str | None = None
    """``s3://bucket/key`` of the MP4, when completed."""
    error: str | None = None


def short_reason(message: str) -> str:
    """A reason short enough to keep per line."""
    if len(message) <= ERROR_MAX_CHARS:
        return message
    return message[: ERROR_MAX_CHARS - 1] + "…"


def _job_outcome(job: Job | None, bucket: str) -> tuple[ManifestStatus, str | None, str | None]:
    if job is None:
        return "failed", None, "The job no longer exists."
    if job.status is JobStatus.COMPLETED and "video" in job.assets:
        return "completed", f"s3://{bucket}/{job.assets['video'].key}", None
    if job.status is JobStatus.CANCELLED:
        return "failed", None, "The job was cancelled."
    if job.error is not None:
        return "failed", None, job.error.message
    if job.status.is_terminal:
        return "failed", None, "The video failed."
    return "failed", None, f"The job had not finished ({job.status.value})."


def manifest_lines(
    plan: Sequence[PlanLine], jobs: Mapping[str, Job], *, bucket: str
) -> list[ManifestLine]:
    """Every planned line, in input order, with the outcome of its job (videos in ``bucket``)."""
    out: list[ManifestLine] = []
    for entry in plan:
        if entry.job_id is None:
            out.append(
                ManifestLine(line=entry.line, status="rejected", error=entry.error or "Rejected.")
            )
            continue
        status, video, error = _job_outcome(jobs.get(entry.job_id), bucket)
        out.append(
            ManifestLine(
                line=entry.line, status=status, job_id=entry.job_id, video=video, error=error
            )
        )
    return out


def render_manifest(lines: Sequence[ManifestLine]) -> bytes:
    """JSON Lines, every field present (null when it does not apply)."""
    return b"".join(
        json.dumps(line.model_dump(mode="json"), ensure_ascii=False).encode("utf-8") + b"\n"
        for line in lines
    )
