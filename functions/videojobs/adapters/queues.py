"""SQS queue depth, for the operator's view of the dead-letter queues."""

from __future__ import annotations

from videojobs.adapters import aws


def depth(queue_url: str) -> int:
    """Messages waiting in the queue, visible or being received (SQS's approximate counts)."""
    attributes = aws.sqs().get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )
