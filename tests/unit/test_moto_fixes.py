"""The local stack's moto fixes that need no running stack to show."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.backends import get_backend
from template_tables import control_table_with_atomic_writes

TABLE = "moto-fixes-test"
ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with control_table_with_atomic_writes(monkeypatch, TABLE):
        yield


def test_a_dynamodb_answer_is_a_copy_of_the_stored_item(table: None) -> None:
    # Given an item, as the backend stores it
    client = boto3.client("dynamodb")
    client.put_item(TableName=TABLE, Item={"pk": {"S": "semaphore"}, "n": {"N": "1"}})
    backend = get_backend("dynamodb")[ACCOUNT][REGION]
    (stored,) = backend.get_table(TABLE).items.values()
    key = {"pk": {"S": "semaphore"}}

    # When it is read, and when a write returns it
    read = backend.get_item(TABLE, key)
    written = backend.update_item(
        TABLE,
        key,
        update_expression="SET n = :two",
        expression_attribute_names={},
        expression_attribute_values={":two": {"N": "2"}},
        attribute_updates=None,
        expected=None,
        condition_expression=None,
        return_values_on_condition_check_failure=None,
    )
    # Then neither answer is the stored item itself: a later write does not change them
    # while they are turned into a response
    assert read is not None and read.attrs is not stored.attrs
    assert written.attrs is not stored.attrs
    stored.attrs.clear()
    assert read.attrs["n"].value == "1"
    assert written.attrs["n"].value == "2"
