"""The Lambda seam: every Invoke of a template function runs its handler in-process."""

from __future__ import annotations

import json
import os
import textwrap
import threading
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from videojobs_local.stack import LocalStack
from videojobs_local.stack.lambda_dispatch import is_patched, plan_environment

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    CodeUri: functions/
    Environment:
      Variables:
        COMMON: same-everywhere
        TABLE_NAME: !Ref Items
Resources:
  Items:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Echo:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.echo, Timeout: 7, MemorySize: 256}
  Fail:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.fail}
  ProbeA:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.env_probe
      Timeout: 10
      Environment: {Variables: {ROLE: alpha}}
  ProbeB:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.env_probe
      Timeout: 10
      Environment: {Variables: {ROLE: beta}}
  Decimals:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.decimal_result}
  Unserialisable:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.unserialisable}
  NoModule:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.nothing_here.handler}
  NoAttribute:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.nothing_here}
  Sleepy:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.sleepy, Timeout: 1}
  Writer:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.use_boto3
      # Room for a loaded test machine: the handler waits on moto.
      Timeout: 30
      Policies: [{DynamoDBCrudPolicy: {TableName: !Ref Items}}]
  Collect:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.collect}
"""


@pytest.fixture(scope="module")
def local(fx: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    path = tmp_path_factory.mktemp("lambda") / "template.yaml"
    path.write_text(textwrap.dedent(TEMPLATE))
    with LocalStack(path, stack_name="seam") as stack:
        yield stack


@pytest.fixture(autouse=True)
def clean(fx: ModuleType) -> None:
    fx.reset()


def invoke(local: LocalStack, logical_id: str, event: Any, **kwargs: Any) -> dict[str, Any]:
    client = local.client("lambda", via_server=kwargs.pop("via_server", False))
    response: dict[str, Any] = client.invoke(
        FunctionName=local.stack.functions[logical_id].name, Payload=json.dumps(event), **kwargs
    )
    response["Body"] = json.loads(response["Payload"].read() or b"null")
    return response


def test_boto3_invoke_runs_the_handler_with_a_realistic_context(
    local: LocalStack, fx: ModuleType
) -> None:
    # When a boto3 client invokes the function
    response = invoke(local, "Echo", {"hello": "world"})

    # Then the handler ran in-process and its return value is the payload
    assert is_patched()
    assert fx.records("echo") == [{"hello": "world"}]
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    body = response["Body"]
    assert body["event"] == {"hello": "world"}
    context = body["context"]
    function = local.stack.functions["Echo"]
    assert context["function_name"] == function.name
    assert context["invoked_function_arn"] == function.arn
    assert context["function_version"] == "$LATEST"
    assert context["memory_limit_in_mb"] == "256"
    assert context["log_group_name"] == f"/aws/lambda/{function.name}"
    assert 6000 < context["remaining_ms"] <= 7000
    uuid.UUID(context["aws_request_id"])


def test_invoke_through_the_moto_server_reaches_the_same_handler(
    local: LocalStack, fx: ModuleType
) -> None:
    response = invoke(local, "Echo", {"via": "server"}, via_server=True)
    assert response["Body"]["event"] == {"via": "server"}
    assert fx.records("echo") == [{"via": "server"}]


def test_qualified_invoke_reports_the_qualified_arn(local: LocalStack) -> None:
    function = local.stack.functions["Echo"]
    response = local.client("lambda").invoke(FunctionName=f"{function.arn}:$LATEST", Payload=b"{}")
    body = json.loads(response["Payload"].read())
    assert body["context"]["invoked_function_arn"] == f"{function.arn}:$LATEST"


def test_an_exception_becomes_an_unhandled_function_error(local: LocalStack) -> None:
    response = invoke(local, "Fail", {"message": "429 from provider"})

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    body = response["Body"]
    assert body["errorType"] == "ProviderTransientError"
    assert body["errorMessage"] == "429 from provider"
    assert set(body) == {"errorType", "errorMessage", "requestId", "stackTrace"}
    assert any("handlers.py" in line and "in fail" in line for line in body["stackTrace"])
    assert not any("lambda_dispatch" in line for line in body["stackTrace"])


@pytest.mark.parametrize(
    ("logical_id", "error_type", "message"),
    [
        (
            "NoModule",
            "Runtime.ImportModuleError",
            "Unable to import module 'stack_fixtures.nothing_here'",
        ),
        (
            "NoAttribute",
            "Runtime.HandlerNotFound",
            "Handler 'nothing_here' missing on module 'stack_fixtures.handlers'",
        ),
        ("Unserialisable", "Runtime.MarshalError", "Unable to marshal response"),
    ],
)
def test_runtime_errors_look_like_lambdas(
    local: LocalStack, logical_id: str, error_type: str, message: str
) -> None:
    response = invoke(local, logical_id, {})
    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == error_type
    assert response["Body"]["errorMessage"].startswith(message)


def test_decimals_serialise_as_numbers(local: LocalStack) -> None:
    assert invoke(local, "Decimals", {})["Body"] == {"price": 1.5, "count": 3.0}


def test_unknown_function_is_resource_not_found(local: LocalStack) -> None:
    with pytest.raises(ClientError) as caught:
        local.client("lambda").invoke(FunctionName="does-not-exist", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_event_invocations_return_at_once_and_run_in_the_background(
    local: LocalStack, fx: ModuleType
) -> None:
    response = invoke(local, "Collect", {"n": 1}, InvocationType="Event")
    assert response["StatusCode"] == 202
    assert fx.wait_for("collect") == [{"n": 1}]


def test_each_function_sees_its_own_environment(local: LocalStack) -> None:
    keys = ["ROLE", "COMMON", "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER", "AWS_REGION"]
    alpha = invoke(local, "ProbeA", {"keys": keys})["Body"]
    beta = invoke(local, "ProbeB", {"keys": keys})["Body"]

    assert alpha["ROLE"] == "alpha" and beta["ROLE"] == "beta"
    assert alpha["COMMON"] == beta["COMMON"] == "same-everywhere"
    assert alpha["AWS_LAMBDA_FUNCTION_NAME"] == local.stack.functions["ProbeA"].name
    assert alpha["_HANDLER"] == "stack_fixtures.handlers.env_probe"
    assert alpha["AWS_REGION"] == "us-east-1"
    # Iteration (what settings libraries do) sees the overlay too
    assert "ROLE" in alpha["_all"] and "AWS_LAMBDA_FUNCTION_NAME" in alpha["_all"]


def test_concurrent_invocations_do_not_see_each_others_environment(local: LocalStack) -> None:
    # Given two functions disagreeing on ROLE, invoked at the same time many times
    results: dict[str, list[str]] = {"ProbeA": [], "ProbeB": []}

    def call(logical_id: str) -> None:
        body = invoke(local, logical_id, {"keys": ["ROLE"], "hold": 0.05})["Body"]
        results[logical_id].append(body["ROLE"])

    threads = [
        threading.Thread(target=call, args=(logical_id,)) for logical_id in ("ProbeA", "ProbeB") * 6
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each call read only its own value
    assert results == {"ProbeA": ["alpha"] * 6, "ProbeB": ["beta"] * 6}


def test_shared_variables_are_process_wide_and_conflicts_are_not(local: LocalStack) -> None:
    plan = plan_environment(local.stack.functions.values())
    assert "ROLE" in plan.conflicts
    assert plan.shared["COMMON"] == "same-everywhere"
    # Outside any invocation: shared values are set, per-function ones are not
    assert os.environ["COMMON"] == "same-everywhere"
    assert os.environ["TABLE_NAME"] == local.stack.physical_ids["Items"]
    assert "ROLE" not in os.environ
    assert "AWS_LAMBDA_FUNCTION_NAME" not in os.environ


def test_handlers_reach_moto_with_their_own_boto3_clients(local: LocalStack) -> None:
    body = invoke(local, "Writer", {"pk": "from-handler"})["Body"]

    assert body == {"table": local.stack.physical_ids["Items"], "region": "us-east-1"}
    item = local.client("dynamodb").get_item(
        TableName=body["table"], Key={"pk": {"S": "from-handler"}}
    )
    assert "Item" in item


def test_overrunning_the_timeout_fails_or_warns(
    local: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    # By default an overrun fails as Lambda would, its result discarded
    response = invoke(local, "Sleepy", {"seconds": 1.1})
    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in response["Body"]["errorMessage"]

    # With timeouts not enforced it is only reported and the result is kept
    local.dispatcher.enforce_timeouts = False
    try:
        assert invoke(local, "Sleepy", {"seconds": 1.1})["Body"] == {"slept": 1.1}
    finally:
        local.dispatcher.enforce_timeouts = True
    assert "over its 1s Timeout" in caplog.text


def test_invalid_json_payload_is_rejected_before_the_handler(
    local: LocalStack, fx: ModuleType
) -> None:
    with pytest.raises(ClientError) as caught:
        local.client("lambda").invoke(
            FunctionName=local.stack.functions["Collect"].name, Payload=b"{not json"
        )
    assert caught.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert fx.records("collect") == []


def test_invocation_history_is_kept(local: LocalStack) -> None:
    before = len(local.dispatcher.history)
    invoke(local, "Fail", {})
    record = local.dispatcher.history[-1]
    assert len(local.dispatcher.history) == before + 1
    assert (record.function_logical_id, record.error_type) == ("Fail", "ProviderTransientError")
