"""Counting a batch's finished jobs, and announcing the batch when the last one ends.

Kept apart from batch creation so that the paths which end jobs (finalize, fail, reaper,
cancel) import no more than this: the DynamoDB counter and one EventBridge call (and, for a
batch made from an intake file, one S3 write: its results manifest).

``batch.completed`` is published at least once and, unless a report crashes between
completing the batch and publishing, exactly once; its callback carries a stable event id,
so a receiver can drop a repeat.
"""

from __future__ import annotations

from typing import Any

from videojobs.adapters import eventbus
from videojobs.adapters.dal import batches
from videojobs.adapters.storage import assets
from videojobs.models.batches import Batch, BatchCounts
from videojobs.models.errors import BatchNotFoundError
from videojobs.models.intake import IntakeBatch, manifest_lines, render_manifest
from videojobs.models.job import Job
from videojobs.observability import logger, metrics
from videojobs.settings import get_settings


def batch_event_detail(batch: Batch) -> dict[str, Any]:
    """The ``batch.completed`` payload: the batch resource plus who it belongs to.

    A batch made from an intake file also names the file and its results manifest, by their
    keys in the assets bucket (an event carries no bucket name).
    """
    detail: dict[str, Any] = {
        "batch_id": batch.batch_id,
        "tenant_id": batch.tenant_id,
        "id": batch.batch_id,
        "object": "video.batch",
        "status": "completed",
        "created_at": batch.created_at,
        "completed_at": batch.completed_at,
        "total": batch.total,
        "counts": BatchCounts(**batch.terminal_counts).model_dump(),
        "percent_complete": 100,
        "job_ids": list(batch.job_ids),
        "metadata": dict(batch.metadata),
        "has_callback_url": batch.callback_url is not None,
    }
    if isinstance(batch, IntakeBatch):
        source = batch.source
        detail["intake"] = {"source": source.key, "results": source.manifest_key}
    return detail


def on_job_terminal(job: Job) -> None:
    """Count a finished job towards its batch; the last one completes the batch.

    Safe to call any number of times per job, from any path that ends a job (finalize,
    fail, reaper, cancel) or that finds it already ended: the job is counted once, and
    ``batch.completed`` is published by whichever call completes the batch. A job outside
    any batch, or not yet terminal, is ignored.
    """
    if job.batch_id is None or not job.status.is_terminal:
        return
    try:
        batch = batches.record_job_finished(job.tenant_id, job.batch_id, job.job_id, job.status)
    except BatchNotFoundError:
        logger.warning("job names a batch that does not exist", extra={"batch_id": job.batch_id})
        return
    complete_if_finished(batch)


def complete_if_finished(batch: Batch) -> None:
    """Complete and announce ``batch`` if all of its jobs have been counted (once)."""
    if not batch.all_finished:
        return
    if isinstance(batch, IntakeBatch) and not batch.source.sealed:
        # Its total still counts lines not yet placed; sealing completes it if it is done.
        return
    if batch.completed_at is None:
        claimed = batches.claim_completion(batch.batch_id)
        if claimed is None:
            return  # another report completed it, and publishes
        batch = claimed
        metrics.add_metric(name="BatchesCompleted", unit="Count", value=1)
        logger.info("batch completed", extra={"batch_id": batch.batch_id})
    if batch.event_published:
        return
    # Reached by a later report only when an earlier one completed the batch but did not get
    # the event out (a crash, a refused entry): the repeat sends it then.
    if isinstance(batch, IntakeBatch):
        # Before the event, so whoever hears of the batch finds its manifest in place.
        write_manifest(batch)
    if eventbus.publish_batch_event(batch_event_detail(batch)):
        batches.mark_event_published(batch.batch_id)


def write_manifest(batch: IntakeBatch) -> None:
    """Write ``results/<tenant>/<stem>.results.jsonl``: every input line with its outcome."""
    jobs = {job.job_id: job for job in batches.load_jobs(batch.job_ids)}
    lines = manifest_lines(batch.source.lines, jobs, bucket=get_settings().bucket)
    assets.write_results(batch.source.manifest_key, render_manifest(lines))
    logger.info("intake results written", extra={"lines": len(lines)})
