"""Create a job: the one function the API (and later S3 intake and batches) go through."""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from videojobs import workflow
from videojobs.dal import jobs
from videojobs.models.api import CreateVideoBody
from videojobs.models.errors import InvalidRequestError
from videojobs.models.job import Job, JobError, JobStatus, VideoRequest, new_job_id
from videojobs.models.provider import SIZES_BY_MODEL, model_supports_size
from videojobs.observability import logger, metrics


class WorkflowUnavailableError(Exception):
    """Step Functions refused to start the job's execution; the job was failed, not lost."""


def validate_request(body: CreateVideoBody) -> VideoRequest:
    """The provider request for a create body, or :class:`InvalidRequestError`."""
    if not model_supports_size(body.model, body.size):
        valid = ", ".join(SIZES_BY_MODEL[body.model])
        raise InvalidRequestError(
            f"size '{body.size}' is not available for model '{body.model}'; valid sizes: {valid}.",
            param="size",
        )
    return VideoRequest(prompt=body.prompt, model=body.model, seconds=body.seconds, size=body.size)


def create_job(tenant_id: str, body: CreateVideoBody) -> Job:
    """Store a queued job and start its workflow (execution name = job id)."""
    request = validate_request(body)
    now = int(time.time())
    job = Job(
        job_id=new_job_id(),
        tenant_id=tenant_id,
        status=JobStatus.QUEUED,
        created_at=now,
        updated_at=now,
        request=request,
        metadata=dict(body.metadata),
    )
    jobs.create(job)
    logger.append_keys(job_id=job.job_id)
    try:
        workflow.start(job.job_id, {"job_id": job.job_id})
    except ClientError as exc:
        # Never leave a queued job that nothing will ever run.
        jobs.transition(
            job.job_id,
            JobStatus.FAILED,
            allowed_from=[JobStatus.QUEUED],
            fields={
                "error": JobError(
                    code="workflow_unavailable",
                    message="The job could not be started; submit it again.",
                    retryable=True,
                ).model_dump()
            },
        )
        raise WorkflowUnavailableError("the job workflow could not be started") from exc
    metrics.add_metric(name="JobsCreated", unit="Count", value=1)
    return job
