"""Copy a finished video's files from the provider into our bucket."""

from __future__ import annotations

import time

from videojobs.adapters.dal import jobs
from videojobs.adapters.storage import assets
from videojobs.logic.provider_access import get_provider
from videojobs.models.bedrock import OUTPUT_FILE, invocation_id
from videojobs.models.errors import AssetsExpiredError, JobCancelledError, StaleTransitionError
from videojobs.models.job import Job, JobStatus, StoredAsset
from videojobs.models.provider_types import ContentVariant, protocol_of
from videojobs.observability import logger

VARIANTS: tuple[ContentVariant, ...] = ("video", "thumbnail", "spritesheet")
# Longest each download waits for a provider request token. Waiting here rather than handing
# the wait back keeps a finished video from exhausting the state machine's retries while the
# bucket is busy; three downloads (360 s of waiting at most) stay well inside the store
# function's 900-s timeout in template.yaml.
DOWNLOAD_MAX_WAIT_SECONDS = 120.0


def store_assets(job_id: str) -> Job:
    """Stream every variant into S3 and record them on the job (idempotent).

    A truncated download raises ``ProviderTransientError`` (the state machine retries it); a
    closed download window raises :class:`AssetsExpiredError` (it does not).
    """
    job = jobs.get(job_id)
    if job.status.is_terminal:
        raise JobCancelledError(f"job {job_id} is already {job.status.value}")
    if not job.provider_video_id:
        raise JobCancelledError(f"job {job_id} has no provider video")
    if job.provider_expires_at is not None and time.time() >= job.provider_expires_at:
        raise AssetsExpiredError(f"the provider's download window for job {job_id} has closed")
    if protocol_of(job.request.model) == "bedrock":
        return _record(job_id, {"video": _copy_bedrock_video(job)})
    stored: dict[ContentVariant, StoredAsset] = {}
    provider = get_provider(max_wait_seconds=DOWNLOAD_MAX_WAIT_SECONDS)
    for variant in VARIANTS:
        if variant in job.assets:
            stored[variant] = job.assets[variant]
            continue
        with provider.stream_content(job.provider_video_id, variant) as stream:
            stored[variant] = assets.store_stream(
                assets.asset_key(job.tenant_id, job.job_id, variant),
                stream.iter_chunks(),
                # Fixed per variant: the provider's Content-Type is not ours to serve.
                content_type=assets.CONTENT_TYPES[variant],
                expected_bytes=stream.content_length,
            )
        logger.info(
            "asset stored",
            extra={"job_id": job_id, "variant": variant, "bytes": stored[variant].bytes},
        )
    return _record(job_id, stored)


def _copy_bedrock_video(job: Job) -> StoredAsset:
    """Bedrock already wrote the video into this bucket: a server-side copy stores it.

    Bedrock makes no thumbnail or spritesheet, so a Bedrock job has the video alone (the API
    answers those variants 404 ``variant_unavailable``).
    """
    if "video" in job.assets:
        return job.assets["video"]
    assert job.provider_video_id is not None
    source = assets.bedrock_output_key(
        job.job_id, invocation_id(job.provider_video_id), OUTPUT_FILE
    )
    stored = assets.copy_bedrock_output(
        source,
        assets.asset_key(job.tenant_id, job.job_id, "video"),
        content_type=assets.CONTENT_TYPES["video"],
    )
    logger.info("asset copied", extra={"job_id": job.job_id, "bytes": stored.bytes})
    return stored


def _record(job_id: str, stored: dict[ContentVariant, StoredAsset]) -> Job:
    try:
        return jobs.record_assets(job_id, stored)
    except StaleTransitionError as exc:
        ended = jobs.get(job_id)
        # Cancelled (or failed) while we uploaded: nobody will ever serve these files. Never
        # for a completed job: an overlapping retry may be looking at its real files.
        if ended.status is not JobStatus.COMPLETED:
            assets.delete_job_assets(ended.tenant_id, job_id)
        raise JobCancelledError(f"job {job_id} ended while its assets were stored") from exc
