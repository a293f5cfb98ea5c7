"""The state machine's Lambda tasks. Each parses its payload and calls one logic function.

Handlers and logic functions are named after the ASL state they serve (table in
docs/architecture.md, "The job state machine").

Errors propagate as raised: the exception class name is the error name that the ASL's
Retry/Catch match (see infra/statemachine/video_job.asl.json).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs.logic import apply_provider_status, finalize_job, slots, submit_job

# The logic module shares its name with the StoreAssets handler below.
from videojobs.logic import store_assets as store_assets_logic
from videojobs.observability import logger, metrics
from videojobs.tracing import annotate, tracer


def _job_id(event: dict[str, Any]) -> str:
    job_id = str(event["job_id"])
    logger.append_keys(job_id=job_id)
    # The ASL hands every task the execution's input, where the job's correlation id is.
    correlation_id = (event.get("execution_input") or {}).get("correlation_id")
    if correlation_id:
        logger.set_correlation_id(str(correlation_id))
    annotate(job_id, str(correlation_id) if correlation_id else None)
    return job_id


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def submit(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return submit_job.submit(_job_id(event)).model_dump()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def await_completion(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Both parked waits of the workflow: ParkForSlot (``wait_for`` = ``slot``) and
    AwaitCompletion (the provider's answer)."""
    job_id = _job_id(event)
    token = str(event["task_token"])
    if event.get("wait_for") == "slot":
        woke = slots.park_for_slot(job_id, str(event["tenant_id"]), token)
    else:
        woke = apply_provider_status.await_completion(job_id, token)
    return {"parked": True, "woke_itself": woke}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def check_status(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    interval = int(event.get("interval_seconds") or 1)
    return apply_provider_status.check_status(_job_id(event), interval).model_dump()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def store_assets(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job = store_assets_logic.store_assets(_job_id(event))
    return {"assets": sorted(job.assets)}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def finalize(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job = finalize_job.finalize(_job_id(event))
    return {"status": job.status.value}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def record_failure(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job = finalize_job.record_failure(_job_id(event), event.get("error"))
    return {"status": job.status.value, "error": job.error.model_dump() if job.error else None}
