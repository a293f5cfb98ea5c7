"""The callbacks queue's consumer: one delivery attempt per message, partial batch failures.

A record fails (and SQS hands it out again, then dead-letters it) only when it could not be
handled at all: an unreadable message or an AWS error. A callback URL that fails is not a
failed record: the logic has already queued its next attempt.
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

from videojobs.logic import notify
from videojobs.observability import logger, metrics
from videojobs.tracing import tracer

# An attempt may take ~25 s against a slow receiver (connect 5 s, then 10 s each way); with
# less time left than this a message is put back rather than cut off mid-attempt.
MIN_TIME_LEFT_MS = 30_000

processor = BatchProcessor(event_type=EventType.SQS)


def _record_handler(record: SQSRecord, lambda_context: LambdaContext) -> str:
    metrics.add_metric(name="CallbackMessages", unit="Count", value=1)
    if lambda_context.get_remaining_time_in_millis() < MIN_TIME_LEFT_MS:
        notify.postpone(record.body)
        return "postponed"
    return notify.handle(record.body).value


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=_record_handler, processor=processor, context=context
    )
