"""The callbacks queue (SQS): where a failed callback waits for its next attempt."""

from __future__ import annotations

from videojobs.adapters import aws
from videojobs.settings import get_settings

MAX_DELAY_SECONDS = 900  # the longest DelaySeconds SQS accepts


def enqueue(body: str, delay_seconds: int = 0) -> None:
    """Put ``body`` on the callbacks queue, visible after ``delay_seconds`` (at most 900)."""
    aws.sqs().send_message(
        QueueUrl=get_settings().callbacks_queue_url,
        MessageBody=body,
        DelaySeconds=max(0, min(delay_seconds, MAX_DELAY_SECONDS)),
    )
