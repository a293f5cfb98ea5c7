"""Cached boto3 clients. Built on first use, never at import; tests call ``reset_clients()``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
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
def stepfunctions() -> Any:
    return boto3.client("stepfunctions", config=_CONFIG)


@lru_cache(maxsize=1)
def events() -> Any:
    return boto3.client("events", config=_CONFIG)


@lru_cache(maxsize=1)
def sqs() -> Any:
    return boto3.client("sqs", config=_CONFIG)


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
        stepfunctions,
        events,
        sqs,
        kms,
        secrets_provider,
    ):
        factory.cache_clear()
