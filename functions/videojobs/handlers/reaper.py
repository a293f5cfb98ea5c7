"""No job left running, no slot leaked.

Two triggers: EventBridge "Step Functions Execution Status Change" (FAILED, TIMED_OUT,
ABORTED) settles that execution's job; a schedule ("Scheduled Event") sweeps the semaphore
for slots whose execution is no longer running, in case a status-change event was lost, and
sweeps the slot line: a granted job left parked is woken again and free slots are handed out.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs.adapters import workflow
from videojobs.logic import service_status, slots
from videojobs.logic.finalize_job import reap, sweep_slots
from videojobs.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") == "Scheduled Event":
        reaped = sweep_slots(workflow.execution_status)
        woken = slots.sweep_line()
        # The sweep's schedule is also the dashboard's sample of the slot line.
        in_use, waiting = service_status.record_gauges()
        return {
            "swept": reaped,
            "woken": woken,
            "slots_in_use": in_use,
            "jobs_waiting": waiting,
        }
    detail = event.get("detail") or {}
    job_id = str(detail.get("name", ""))
    status = str(detail.get("status", "FAILED"))
    logger.append_keys(job_id=job_id, execution_status=status)
    correlation_id = _execution_input(detail).get("correlation_id")
    if correlation_id:
        logger.set_correlation_id(str(correlation_id))
    job = reap(job_id, status)
    return {"job_id": job_id, "status": job.status.value if job else None}


def _execution_input(detail: dict[str, Any]) -> dict[str, Any]:
    """The execution's input from a status-change event (a JSON string; may be absent)."""
    try:
        loaded = json.loads(detail.get("input") or "{}")
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}
