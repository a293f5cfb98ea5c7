"""No job left running, no slot leaked.

Two triggers: EventBridge "Step Functions Execution Status Change" (FAILED, TIMED_OUT,
ABORTED) settles that execution's job; a schedule ("Scheduled Event") sweeps the semaphore
for slots whose execution is no longer running, in case a status-change event was lost.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs import workflow
from videojobs.logic.finalize_job import reap, sweep_slots
from videojobs.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") == "Scheduled Event":
        reaped = sweep_slots(workflow.execution_status)
        return {"swept": reaped}
    detail = event.get("detail") or {}
    job_id = str(detail.get("name", ""))
    status = str(detail.get("status", "FAILED"))
    logger.append_keys(job_id=job_id, execution_status=status)
    job = reap(job_id, status)
    return {"job_id": job_id, "status": job.status.value if job else None}
