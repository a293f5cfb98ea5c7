"""Cached boto3 clients. Built on first use, never at import; tests call ``reset_clients()``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore import UNSIGNED
from botocore.config import Config

# Standard retry mode: the SDK backs off on throttling so callers don't each reinvent it.
_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30
)


@lru_cache(maxsize=1)
def dynamodb() -> Any:
    return boto3.resource("dynamodb", config=_CONFIG)


@lru_cache(maxsize=1)
def dynamodb_client() -> Any:
    """A plain DynamoDB client: the resource's own client rewrites typed attribute values."""
    return boto3.client("dynamodb", config=_CONFIG)


@lru_cache(maxsize=1)
def s3() -> Any:
    return boto3.client("s3", config=Config(signature_version="s3v4", retries=_CONFIG.retries))


@lru_cache(maxsize=1)
def s3_unsigned() -> Any:
    """An S3 client that signs nothing: it builds plain object URLs, with the same host rules
    as :func:`s3`'s presigned ones (where asset links point, for the console's policy)."""
    return boto3.client("s3", config=Config(signature_version=UNSIGNED))


@lru_cache(maxsize=1)
def stepfunctions() -> Any:
    return boto3.client("stepfunctions", config=_CONFIG)


@lru_cache(maxsize=1)
def events() -> Any:
    return boto3.client("events", config=_CONFIG)


@lru_cache(maxsize=1)
def sqs() -> Any:
    return boto3.client("sqs", config=_CONFIG)


@lru_cache(maxsize=4)
def bedrock_runtime(region: str) -> Any:
    """A Bedrock runtime client in ``region`` (each Bedrock model is enabled in one region).

    Fewer SDK attempts than the other clients: a throttled submit is handed back to the state
    machine, which waits it out for longer than the SDK's back-off would.
    """
    config = Config(
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30
    )
    return boto3.client("bedrock-runtime", region_name=region, config=config)


@lru_cache(maxsize=1)
def kms() -> Any:
    return boto3.client("kms", config=_CONFIG)


@lru_cache(maxsize=1)
def secrets_provider() -> Any:
    """Powertools' Secrets Manager provider (its in-memory cache lives as long as it does)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=boto3.client("secretsmanager", config=_CONFIG))


def reset_clients() -> None:
    """Forget every cached client (tests switch endpoints and credentials)."""
    for factory in (
        dynamodb,
        dynamodb_client,
        s3,
        s3_unsigned,
        stepfunctions,
        events,
        sqs,
        bedrock_runtime,
        kms,
        secrets_provider,
    ):
        factory.cache_clear()
