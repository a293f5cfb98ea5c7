"""The callbacks queue's consumer: one delivery attempt per message, partial batch failures.

A record fails (and SQS hands it out again, then dead-letters it) only when it could not be
handled at all: an unreadable message or an AWS error. A callback URL that fails is not a
failed record: the logic has already queued its next attempt. A record that was not started
because too little time was left in the invocation is handed back as a failed record too,
without an attempt being counted; it is tried by a later invocation.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs.logic import callbacks
from videojobs.observability import logger, metrics
from videojobs.tracing import tracer

# A batch whose every record was handed back (none started: the invocation had too little time
# left) is an ordinary answer, not a failed invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    budget = callbacks.InvocationBudget(remaining_ms=context.get_remaining_time_in_millis)
    records = callbacks.fair_order(
        list(event.get("Records") or []), lambda r: callbacks.claimed_tenant(str(r.get("body")))
    )

    def record_handler(record: SQSRecord) -> str:
        metrics.add_metric(name="CallbackMessages", unit="Count", value=1)
        return callbacks.handle(record.body, budget).value

    return process_partial_response(
        event={**event, "Records": records},
        record_handler=record_handler,
        processor=processor,
        context=context,
    )
