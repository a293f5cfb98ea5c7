"""Batches: many jobs submitted in one request, tracked together as a ``video.batch``."""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from videojobs.models.api import METADATA_MAX_PAIRS, CreateVideoBody, Metadata
from videojobs.models.presets import PRESET_NAMES, PresetName

BatchId = Annotated[str, StringConstraints(pattern=r"^vbatch_[0-9a-f]{32}$")]

MAX_BATCH_JOBS = 100
"""Jobs one batch may hold: enough for a campaign, small enough to create in one request."""

MIN_VARIATIONS = 2


def new_batch_id() -> str:
    """A fresh batch id (``vbatch_`` + 32 hex digits)."""
    return "vbatch_" + secrets.token_hex(16)


def is_batch_id(value: str) -> bool:
    """Whether ``value`` is shaped like one of our batch ids (anything else cannot exist)."""
    hex_part = value[len("vbatch_") :]
    return (
        value.startswith("vbatch_")
        and len(hex_part) == 32
        and all(c in "0123456789abcdef" for c in hex_part)
    )


class CreateBatchBody(BaseModel):
    """``POST /v1/video_batches``, in one of three shapes.

    - ``requests``: a list of create bodies, each exactly what ``POST /v1/videos`` accepts;
    - ``prompt`` + ``n``: one prompt, ``n`` variations (any other create field applies to all);
    - ``brief`` + ``presets``: one brief rendered for each preset (the campaign case).

    ``metadata`` and ``callback_url`` belong to the batch: ``batch.completed`` goes to that
    URL. Create fields beside ``prompt``/``brief`` are passed to every job of shapes two and
    three, which is why this model allows extra fields; each job body is validated on its own.
    """

    model_config = ConfigDict(extra="allow")

    requests: list[CreateVideoBody] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_BATCH_JOBS,
        description="Create bodies, one per video (`POST /v1/videos` JSON bodies).",
    )
    prompt: str | None = Field(
        default=None, description="With `n`: the prompt every variation is made from."
    )
    n: StrictInt | None = Field(
        default=None,
        ge=MIN_VARIATIONS,
        le=MAX_BATCH_JOBS,
        description="With `prompt`: how many variations to make.",
    )
    brief: str | None = Field(
        default=None, description="With `presets`: the prompt every preset's video is made from."
    )
    presets: list[PresetName] | None = Field(
        default=None,
        min_length=1,
        max_length=len(PRESET_NAMES),
        description="With `brief`: one video per preset, in this order (no repeats).",
    )
    metadata: Metadata = Field(
        default_factory=dict,
        max_length=METADATA_MAX_PAIRS,
        description="Up to 16 string pairs kept on the batch (not copied onto its jobs).",
    )
    callback_url: str | None = Field(
        default=None,
        description="https URL that receives the signed batch.completed event.",
    )


class Batch(BaseModel):
    """A batch as stored: its jobs and how many of them have finished, by status."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    tenant_id: str
    created_at: int
    total: int
    job_ids: list[str] = Field(default_factory=list)
    finished: frozenset[str] = frozenset()
    """Ids of the jobs already counted as terminal (makes counting idempotent)."""
    terminal_counts: dict[str, int] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)
    callback_url: str | None = None
    completed_at: int | None = None
    event_published: bool = False

    @property
    def all_finished(self) -> bool:
        return len(self.finished) >= self.total


class BatchCounts(BaseModel):
    """How many of a batch's jobs are in each status."""

    queued: int = 0
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0


class BatchResource(BaseModel):
    """``GET /v1/video_batches/{id}``: progress of a batch."""

    id: str
    object: Literal["video.batch"] = "video.batch"
    status: Literal["in_progress", "completed"] = Field(
        description="completed once every job has ended, whatever its outcome."
    )
    created_at: int
    completed_at: int | None = None
    total: int = Field(description="How many jobs the batch holds.")
    counts: BatchCounts = Field(description="How many jobs are in each status now.")
    percent_complete: int = Field(
        description="Mean progress of the jobs (an ended job counts 100); 100 only when done."
    )
    job_ids: list[str] = Field(
        description="The jobs, in the order of `requests`, of the variations, or of `presets`."
    )
    metadata: dict[str, str] = Field(default_factory=dict)
