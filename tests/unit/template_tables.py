"""DynamoDB tables on moto exactly as template.yaml declares them: key schema, attribute
definitions and global secondary indexes come from the template, so a unit test cannot pass
against a key the deployed table does not have."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from videojobs.adapters import aws
from videojobs.settings import get_settings
from videojobs_local.stack import moto_fixes
from videojobs_local.stack.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]


@cache
def _resources() -> dict[str, Any]:
    resources: dict[str, Any] = load_yaml((ROOT / "template.yaml").read_text())["Resources"]
    return resources


def create_table(logical_id: str, name: str) -> str:
    """Create the template's table ``logical_id`` as ``name`` on the current moto mock."""
    resource = _resources()[logical_id]
    assert resource["Type"] == "AWS::DynamoDB::Table", logical_id
    properties = resource["Properties"]
    request: dict[str, Any] = {
        "TableName": name,
        "BillingMode": properties["BillingMode"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
    }
    if "GlobalSecondaryIndexes" in properties:
        request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    boto3.client("dynamodb").create_table(**request)
    return name


@contextmanager
def control_table_with_atomic_writes(monkeypatch: pytest.MonkeyPatch, name: str) -> Iterator[None]:
    """The template's control table as ``name`` (``CONTROL_TABLE``) on moto, with the local
    stack's moto fixes installed: moto checks a condition and applies the write as separate
    steps, and the fixes' one lock over every write makes them atomic, as DynamoDB's are."""
    for variable, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "CONTROL_TABLE": name,
    }.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()
    aws.reset_clients()
    moto_fixes.install()
    try:
        with mock_aws():
            create_table("ControlTable", name)
            yield
    finally:
        moto_fixes.uninstall()
        get_settings.cache_clear()
        aws.reset_clients()
