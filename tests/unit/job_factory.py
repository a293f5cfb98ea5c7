"""Jobs as the logic layer sees them, for unit tests that stand in for the tables."""

from __future__ import annotations

from typing import Any

from videojobs.models.job import Job, JobStatus, VideoRequest

NOW = 1_800_000_000
JOB_ID = "video_" + "1" * 32


def make_job(
    status: JobStatus = JobStatus.QUEUED,
    *,
    request: VideoRequest | None = None,
    **changes: Any,
) -> Job:
    """Job ``JOB_ID`` of tenant acme, created at ``NOW``, asking for "a lighthouse" unless
    ``request`` says otherwise; ``changes`` set any other field."""
    fields: dict[str, Any] = {
        "job_id": JOB_ID,
        "tenant_id": "acme",
        "status": status,
        "created_at": NOW,
        "updated_at": NOW,
        "request": request or VideoRequest(prompt="a lighthouse"),
    }
    return Job(**{**fields, **changes})
