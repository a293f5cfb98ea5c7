"""EventBridge "Step Functions Execution Status Change" (FAILED, TIMED_OUT, ABORTED) -> a
terminal job and a released slot, so that no job is left running and no slot leaks."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs.logic.finalize_job import reap
from videojobs.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event.get("detail") or {}
    job_id = str(detail.get("name", ""))
    status = str(detail.get("status", "FAILED"))
    logger.append_keys(job_id=job_id, execution_status=status)
    job = reap(job_id, status)
    return {"job_id": job_id, "status": job.status.value if job else None}
