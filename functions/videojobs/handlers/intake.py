"""The intake queue's consumer: S3 ``Object Created`` events for files under ``intake/``.

Each SQS record is one event; a record fails (SQS delivers it again, then dead-letters it)
only when the file could not be handled for a reason that may pass: an AWS error, or time
running out part-way. A file the service refuses (bad content, unknown tenant) is not a failed
record: its results manifest says why.
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

from videojobs.logic import intake
from videojobs.models.intake import parse_object_created
from videojobs.observability import logger, metrics

# Keys one record appends to the logs; the next record of the same invocation starts clean.
_RECORD_KEYS = ["intake_key", "tenant_id", "batch_id", "job_id"]

processor = BatchProcessor(event_type=EventType.SQS)


def _record_handler(record: SQSRecord, lambda_context: LambdaContext) -> str:
    logger.remove_keys(_RECORD_KEYS)
    ref = parse_object_created(record.body)
    if ref is None:
        # Redelivering a message that is not an S3 event cannot make it one.
        logger.warning("not an S3 Object Created event; dropped", extra={"id": record.message_id})
        return "dropped"
    return intake.process_object(ref, lambda_context).value


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=_record_handler, processor=processor, context=context
    )
