"""EventBridge: job lifecycle events for anyone who subscribes (source ``videojobs``)."""

from __future__ import annotations

import json
from typing import Any

from videojobs.adapters import aws
from videojobs.models.job import Job
from videojobs.observability import logger
from videojobs.settings import get_settings


def job_event_detail(job: Job) -> dict[str, Any]:
    """The event payload for a job: ids, status, reason and where its files are.

    Files are named by their keys in the assets bucket: an event carries no bucket name.
    """
    return {
        "job_id": job.job_id,
        "tenant_id": job.tenant_id,
        "status": job.status.value,
        "model": job.request.model,
        "seconds": job.request.seconds,
        "size": job.request.size,
        "metadata": job.metadata,
        "error": job.error.model_dump() if job.error else None,
        "assets": {
            variant: {"key": asset.key, "bytes": asset.bytes}
            for variant, asset in job.assets.items()
        },
        "cost": {"estimated_usd": job.cost_estimated_usd, "settled_usd": job.cost_settled_usd},
    }


def publish_job_event(job: Job, event_type: str) -> None:
    """Publish ``video.completed`` / ``video.failed`` / ``video.cancelled`` for a job."""
    settings = get_settings()
    resp = aws.events().put_events(
        Entries=[
            {
                "Source": settings.event_source,
                "DetailType": event_type,
                "Detail": json.dumps(job_event_detail(job)),
                "EventBusName": settings.event_bus_name,
                "Resources": [],
            }
        ]
    )
    if resp.get("FailedEntryCount"):
        # The job itself is final and correct; a lost notification must not undo that.
        logger.warning("event not published", extra={"job_id": job.job_id, "type": event_type})


def publish_batch_event(detail: dict[str, Any]) -> bool:
    """Publish ``batch.completed`` with ``detail``; whether EventBridge accepted it."""
    settings = get_settings()
    resp = aws.events().put_events(
        Entries=[
            {
                "Source": settings.event_source,
                "DetailType": "batch.completed",
                "Detail": json.dumps(detail),
                "EventBusName": settings.event_bus_name,
                "Resources": [],
            }
        ]
    )
    if resp.get("FailedEntryCount"):
        logger.warning(
            "event not published", extra={"batch_id": detail.get("batch_id"), "type": "batch"}
        )
        return False
    return True
