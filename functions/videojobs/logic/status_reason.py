"""Why a job that has not ended is where it is: the ``status_reason`` of the Video view."""

from __future__ import annotations

import time

from videojobs.models.api import StatusReason
from videojobs.models.job import Job


def status_reason(
    job: Job,
    queue_position: int | None,
    now: float | None = None,
    *,
    tenant_at_cap: bool = False,
) -> StatusReason:
    """What the job waits for, from what its record knows; None once it has ended.

    - ``waiting_for_slot``: in line for a concurrency slot (``queue_position`` says where);
    - ``waiting_for_tenant_slot``: in line, and its own tenant's jobs hold every slot one
      tenant may (``tenant_at_cap``): only the end of one of them lets it start;
    - ``provider_throttled``: holds a slot, but the provider request budget (or a provider 429)
      holds its create back until about ``throttled_until``;
    - ``waiting_for_provider``: being submitted, or the provider is generating it;
    - ``storing``: the provider has finished; the files are being copied into the bucket.
    """
    if job.status.is_terminal:
        return None
    if job.provider_video_id is None:
        clock = time.time() if now is None else now
        if job.throttled_until is not None and job.throttled_until > clock:
            return "provider_throttled"
        if queue_position is not None:
            return "waiting_for_tenant_slot" if tenant_at_cap else "waiting_for_slot"
        return "waiting_for_provider"
    if job.provider_status == "completed":
        return "storing"
    if job.provider_status == "failed":
        # The provider's failure is being recorded; the job is about to end with its reason.
        return None
    return "waiting_for_provider"
