"""What every table adapter needs from DynamoDB's answers."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError


def conditional_failed(exc: ClientError) -> bool:
    """The write was refused by its ``ConditionExpression`` (not an AWS failure)."""
    return bool(exc.response["Error"]["Code"] == "ConditionalCheckFailedException")


def plain(value: Any) -> Any:
    """A DynamoDB value with its Decimals turned back into ints (the models want int)."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
