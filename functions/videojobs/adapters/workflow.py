"""Step Functions access: start a job's execution, wake a parked one, stop one."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from videojobs.adapters import aws
from videojobs.models.errors import WorkflowUnavailableError
from videojobs.observability import logger
from videojobs.settings import get_settings

# A task token that is already resolved, timed out or gone answers with one of these; for us
# they all mean "someone else already woke it", which is fine.
_ALREADY_RESOLVED = {"TaskDoesNotExist", "InvalidToken", "TaskTimedOut"}


def execution_arn(job_id: str) -> str:
    """The execution ARN of a job (execution name = job id)."""
    machine = get_settings().state_machine_arn
    return machine.replace(":stateMachine:", ":execution:", 1) + ":" + job_id


def start(job_id: str, payload: dict[str, Any]) -> str:
    """Start the job's execution; a second start with the same input is a no-op (same name).

    Raises :class:`WorkflowUnavailableError` when Step Functions refuses (throttled, down,
    denied): the caller decides what becomes of the job.
    """
    try:
        resp = aws.stepfunctions().start_execution(
            stateMachineArn=get_settings().state_machine_arn,
            name=job_id,
            input=json.dumps(payload, separators=(",", ":")),
        )
    except ClientError as exc:
        raise WorkflowUnavailableError("the job workflow could not be started") from exc
    return str(resp["executionArn"])


def wake(task_token: str, output: dict[str, Any]) -> bool:
    """Complete a parked task. False when it was already resolved by someone else."""
    try:
        aws.stepfunctions().send_task_success(taskToken=task_token, output=json.dumps(output))
    except ClientError as exc:
        if exc.response["Error"]["Code"] in _ALREADY_RESOLVED:
            logger.info(
                "task token already resolved", extra={"code": exc.response["Error"]["Code"]}
            )
            return False
        raise
    return True


def execution_status(job_id: str) -> str | None:
    """RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED; None when there is no execution."""
    try:
        resp = aws.stepfunctions().describe_execution(executionArn=execution_arn(job_id))
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return None
        raise
    return str(resp["status"])


def stop(job_id: str, cause: str) -> bool:
    """Stop a job's execution. False when it had already ended."""
    try:
        aws.stepfunctions().stop_execution(
            executionArn=execution_arn(job_id), error="JobCancelled", cause=cause
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"ExecutionDoesNotExist", "ExecutionAlreadyStopped"}:
            return False
        raise
    return True
