"""DynamoDB tables on moto exactly as template.yaml declares them: key schema, attribute
definitions and global secondary indexes come from the template, so a unit test cannot pass
against a key the deployed table does not have."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import boto3

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
