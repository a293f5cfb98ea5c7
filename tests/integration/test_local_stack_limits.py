"""AWS limits on the local stack: past a payload quota or a timeout, a call fails the way
AWS fails it (Lambda, Step Functions, SQS, EventBridge, API Gateway)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from videojobs_local.stack import LocalStack

KIB = 1024
MIB = 1024 * KIB

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    CodeUri: functions/
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Echo:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.echo, Timeout: 10}
  Big:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.big_result, Timeout: 30, MemorySize: 1024}
  Sleepy:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.sleepy, Timeout: 1}
  Slow:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.api_slow
      Timeout: 10
      Events:
        Get:
          Type: Api
          Properties: {Path: /slow, Method: GET}
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition:
        StartAt: Call
        States:
          Call:
            Type: Task
            Resource: arn:aws:states:::lambda:invoke
            Parameters:
              FunctionName: !Ref Big
              Payload: {"bytes.$": "$.bytes"}
            OutputPath: $.Payload
            Catch:
              - {ErrorEquals: [States.ALL], Next: Caught}
            End: true
          Caught:
            Type: Pass
            End: true
      Policies:
        - LambdaInvokePolicy: {FunctionName: !Ref Big}
  TimeoutMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition:
        StartAt: Call
        States:
          Call:
            Type: Task
            Resource: arn:aws:states:::lambda:invoke
            Parameters:
              FunctionName: !Ref Sleepy
              Payload: {"seconds": 1.5}
            End: true
      Policies:
        - LambdaInvokePolicy: {FunctionName: !Ref Sleepy}
"""


@pytest.fixture(scope="module")
def local(fx: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    path = tmp_path_factory.mktemp("limits") / "template.yaml"
    path.write_text(textwrap.dedent(TEMPLATE))
    with LocalStack(path, stack_name="limits") as stack:
        yield stack


def invoke(local: LocalStack, function: str, payload: bytes, **kwargs: Any) -> dict[str, Any]:
    response: dict[str, Any] = local.client("lambda").invoke(
        FunctionName=local.stack.functions[function].name, Payload=payload, **kwargs
    )
    return response


def test_a_function_past_its_timeout_is_reported_timed_out(local: LocalStack) -> None:
    response = invoke(local, "Sleepy", json.dumps({"seconds": 1.5}).encode())

    body = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    assert "slept" not in json.dumps(body)


def test_step_functions_sees_a_timed_out_function_as_sandbox_timedout(local: LocalStack) -> None:
    sfn = local.client("stepfunctions")
    arn = local.stack.state_machines["TimeoutMachine"].arn

    execution = sfn.start_execution(stateMachineArn=arn)
    described = local.wait_for_execution(execution["executionArn"])

    assert (described["status"], described["error"]) == ("FAILED", "Sandbox.Timedout")


def test_a_synchronous_response_over_6_mb_is_refused(local: LocalStack) -> None:
    response = invoke(local, "Big", json.dumps({"bytes": 6 * MIB + 1}).encode())

    body = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"
    assert "exceeded maximum allowed payload size (6291556 bytes)" in body["errorMessage"]


@pytest.mark.parametrize(
    ("invocation_type", "limit"), [("RequestResponse", 6 * MIB), ("Event", 1 * MIB)]
)
def test_a_request_over_the_invoke_quota_is_refused(
    local: LocalStack, fx: ModuleType, invocation_type: str, limit: int
) -> None:
    fx.reset()
    payload = json.dumps({"blob": "x" * limit}).encode()

    with pytest.raises(ClientError) as caught:
        invoke(local, "Echo", payload, InvocationType=invocation_type)

    error = caught.value.response
    assert error["Error"]["Code"] == "RequestEntityTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert fx.records("echo") == []


def test_a_task_result_over_256_kib_fails_the_execution_uncaught(local: LocalStack) -> None:
    sfn = local.client("stepfunctions")
    arn = local.stack.state_machines["Machine"].arn

    small = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"bytes": 1000}))
    large = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"bytes": 300 * KIB}))

    assert local.wait_for_execution(small["executionArn"])["status"] == "SUCCEEDED"
    failed = local.wait_for_execution(large["executionArn"])
    # States.ALL does not catch it: the Catch to "Caught" is not taken
    assert (failed["status"], failed["error"]) == ("FAILED", "States.DataLimitExceeded")


def test_an_execution_input_over_256_kib_is_refused(local: LocalStack) -> None:
    sfn = local.client("stepfunctions")
    arn = local.stack.state_machines["Machine"].arn

    with pytest.raises(ClientError) as caught:
        sfn.start_execution(stateMachineArn=arn, input=json.dumps({"blob": "x" * 256 * KIB}))

    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"] == []


def test_an_sqs_message_over_the_queue_limit_in_bytes_is_refused(local: LocalStack) -> None:
    sqs = local.client("sqs")
    url = local.stack.physical_ids["Queue"]
    limit = int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])["Attributes"][
            "MaximumMessageSize"
        ]
    )

    # Fewer characters than the limit, more bytes (two per character)
    with pytest.raises(ClientError) as caught:
        sqs.send_message(QueueUrl=url, MessageBody="é" * (limit // 2 + 1))

    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert f"Message must be shorter than {limit} bytes" in str(caught.value)
    assert sqs.send_message(QueueUrl=url, MessageBody="é" * (limit // 2))["MessageId"]


def test_put_events_over_256_kb_is_refused(local: LocalStack) -> None:
    events = local.client("events")
    entry = {"Source": "test", "DetailType": "big", "Detail": json.dumps({"x": "y" * 256 * KIB})}

    with pytest.raises(ClientError) as caught:
        events.put_events(Entries=[entry])

    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "Total size of the entries in the request is over the limit" in str(caught.value)


def test_api_gateway_answers_504_past_the_integration_timeout(
    local: LocalStack, fx: ModuleType
) -> None:
    fx.reset()
    front = next(iter(local.fronts.values()))
    front.integration_timeout = 0.5
    try:
        slow = httpx.get(f"{local.api_url}/slow", params={"seconds": "2"}, timeout=10)
        quick = httpx.get(f"{local.api_url}/slow", params={"seconds": "0"}, timeout=10)
    finally:
        front.integration_timeout = 29.0

    assert slow.status_code == 504
    assert slow.json() == {"message": "Endpoint request timed out"}
    assert quick.status_code == 200
    # The function itself ran on, as it does behind API Gateway
    assert len(fx.wait_for("api_slow", count=2)) == 2
