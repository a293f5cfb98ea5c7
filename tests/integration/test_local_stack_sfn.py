"""moto's Step Functions interpreter driving template handlers, and status-change events.

Each test pins down one capability the job state machine relies on, so a moto upgrade
that breaks it fails here first.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from videojobs_local.stack import LocalStack

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    Timeout: 10
Resources:
  Semaphore:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  StatusQueue:
    Type: AWS::SQS::Queue
  AllStatuses:
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [aws.states]
        detail-type: [Step Functions Execution Status Change]
        detail:
          stateMachineArn: [!Ref Publisher]
      Targets: [{Id: queue, Arn: !GetAtt StatusQueue.Arn}]
  Echo:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.echo}
  Fail:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.fail}
  Flaky:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.flaky}
  KeepToken:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.keep_token}
  Collect:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.collect
      Events:
        JobEvents:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [videojobs]
              detail-type: [Job Completed]
  Reaper:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.reaper
      Events:
        Stuck:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.states]
              detail-type: [Step Functions Execution Status Change]
              detail:
                status: [FAILED, TIMED_OUT, ABORTED]
                stateMachineArn: [{prefix: !Sub "arn:aws:states:${AWS::Region}:"}]
  Tasks:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: asl/tasks.asl.json
      DefinitionSubstitutions:
        EchoArn: !GetAtt Echo.Arn
        FailArn: !GetAtt Fail.Arn
        FlakyArn: !GetAtt Flaky.Arn
      Policies:
        - LambdaInvokePolicy: {FunctionName: !Ref Echo}
        - LambdaInvokePolicy: {FunctionName: !Ref Fail}
        - LambdaInvokePolicy: {FunctionName: !Ref Flaky}
  Callback:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: asl/callback.asl.json
      DefinitionSubstitutions: {KeepTokenArn: !GetAtt KeepToken.Arn}
      Policies:
        - LambdaInvokePolicy: {FunctionName: !Ref KeepToken}
  Slot:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: asl/slot.asl.json
      DefinitionSubstitutions: {SemaphoreTable: !Ref Semaphore}
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Semaphore}
  Publisher:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: asl/publisher.asl.json
      Policies:
        - EventBridgePutEventsPolicy: {EventBusName: default}
  Waiter:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: asl/waiter.asl.json
"""

RETRY = {
    "ErrorEquals": ["ProviderTransientError"],
    "IntervalSeconds": 1,
    "MaxAttempts": 2,
    "BackoffRate": 1.0,
    "JitterStrategy": "FULL",
}

ASL: dict[str, dict[str, Any]] = {
    "tasks": {
        "StartAt": "Route",
        "States": {
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.mode", "StringEquals": "retry", "Next": "Flaky"},
                    {"Variable": "$.mode", "StringEquals": "catch", "Next": "Failing"},
                    {"Variable": "$.mode", "StringEquals": "uncaught", "Next": "Uncaught"},
                ],
                "Default": "Invoke",
            },
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "${EchoArn}", "Payload": {"job.$": "$.job"}},
                "ResultSelector": {"echoed.$": "$.Payload.event"},
                "ResultPath": "$.invoke",
                "Next": "Plain",
            },
            "Plain": {
                "Type": "Task",
                "Resource": "${EchoArn}",
                "Parameters": {"again.$": "$.invoke.echoed.job"},
                "ResultPath": "$.plain",
                "End": True,
            },
            "Flaky": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "${FlakyArn}", "Payload.$": "$"},
                "Retry": [RETRY],
                "Catch": [
                    {
                        "ErrorEquals": ["ProviderTransientError"],
                        "ResultPath": "$.error",
                        "Next": "GaveUp",
                    }
                ],
                "ResultSelector": {"attempts.$": "$.Payload.attempts"},
                "End": True,
            },
            "Failing": {
                "Type": "Task",
                "Resource": "${FailArn}",
                "Catch": [
                    {"ErrorEquals": ["SomethingElse"], "Next": "Wrong"},
                    {
                        "ErrorEquals": ["ProviderTransientError"],
                        "ResultPath": "$.error",
                        "Next": "GaveUp",
                    },
                ],
                "End": True,
            },
            "Uncaught": {"Type": "Task", "Resource": "${FailArn}", "End": True},
            "GaveUp": {"Type": "Pass", "End": True},
            "Wrong": {"Type": "Fail", "Error": "WrongCatch"},
        },
    },
    "callback": {
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Result": 0, "ResultPath": "$.checks", "Next": "Await"},
            "Await": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                    "FunctionName": "${KeepTokenArn}",
                    "Payload": {"token.$": "$$.Task.Token"},
                },
                "TimeoutSecondsPath": "$.poll_seconds",
                "ResultPath": "$.result",
                "Catch": [
                    {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timeout", "Next": "Check"},
                    {
                        "ErrorEquals": ["ProviderRejectedError"],
                        "ResultPath": "$.error",
                        "Next": "Rejected",
                    },
                ],
                "End": True,
            },
            "Check": {
                "Type": "Pass",
                "Parameters": {
                    "poll_seconds.$": "$.poll_seconds",
                    "max_checks.$": "$.max_checks",
                    "checks.$": "States.MathAdd($.checks, 1)",
                    "timeout.$": "$.timeout",
                },
                "Next": "Again",
            },
            "Again": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.checks", "NumericLessThanPath": "$.max_checks", "Next": "Await"}
                ],
                "Default": "GiveUp",
            },
            "GiveUp": {"Type": "Fail", "Error": "StillRunning", "Cause": "no callback"},
            "Rejected": {"Type": "Pass", "End": True},
        },
    },
    "slot": {
        "StartAt": "Acquire",
        "States": {
            "Acquire": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:updateItem",
                "Parameters": {
                    "TableName": "${SemaphoreTable}",
                    "Key": {"pk": {"S": "slots"}},
                    "UpdateExpression": "SET in_flight = if_not_exists(in_flight, :zero) + :one",
                    "ConditionExpression": "attribute_not_exists(in_flight) OR in_flight < :limit",
                    "ExpressionAttributeValues": {
                        ":zero": {"N": "0"},
                        ":one": {"N": "1"},
                        ":limit": {"N.$": "$.limit"},
                    },
                },
                "ResultPath": None,
                "Catch": [
                    {
                        "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                        "ResultPath": "$.error",
                        "Next": "Full",
                    }
                ],
                "Next": "Acquired",
            },
            "Acquired": {"Type": "Succeed"},
            "Full": {"Type": "Pass", "Result": "full", "ResultPath": "$.outcome", "End": True},
        },
    },
    "publisher": {
        "StartAt": "Publish",
        "States": {
            "Publish": {
                "Type": "Task",
                "Resource": "arn:aws:states:::events:putEvents",
                "Parameters": {
                    "Entries": [
                        {
                            "Source": "videojobs",
                            "DetailType": "Job Completed",
                            "Detail": {"job_id.$": "$.job_id"},
                        }
                    ]
                },
                "End": True,
            }
        },
    },
    "waiter": {
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Result": 0, "ResultPath": "$.i", "Next": "Loop"},
            "Loop": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.i", "NumericGreaterThanEquals": 2, "Next": "Done"}],
                "Default": "Next",
            },
            "Next": {
                "Type": "Pass",
                "Parameters": {"i.$": "States.MathAdd($.i, 1)", "wait.$": "$.wait"},
                "Next": "Wait",
            },
            "Wait": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Loop"},
            "Done": {"Type": "Succeed"},
        },
        "TimeoutSeconds": 1,
    },
}


@pytest.fixture(scope="module")
def local(fx: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("sfn")
    (root / "asl").mkdir()
    for name, definition in ASL.items():
        (root / "asl" / f"{name}.asl.json").write_text(json.dumps(definition, indent=2))
    (root / "template.yaml").write_text(textwrap.dedent(TEMPLATE))
    with LocalStack(root / "template.yaml", stack_name="sfn", poll_interval=0.05) as stack:
        yield stack


@pytest.fixture(autouse=True)
def clean(fx: ModuleType) -> None:
    fx.reset()


def start(local: LocalStack, machine: str, payload: dict[str, Any]) -> str:
    arn = local.stack.state_machines[machine].arn
    response = local.client("stepfunctions").start_execution(
        stateMachineArn=arn, name=f"job-{uuid.uuid4().hex[:12]}", input=json.dumps(payload)
    )
    return str(response["executionArn"])


def run(local: LocalStack, machine: str, payload: dict[str, Any]) -> dict[str, Any]:
    return local.wait_for_execution(start(local, machine, payload), timeout=20)


def test_lambda_tasks_in_both_forms_return_handler_results(
    local: LocalStack, fx: ModuleType
) -> None:
    result = run(local, "Tasks", {"mode": "plain", "job": "j-1"})

    assert result["status"] == "SUCCEEDED"
    output = json.loads(result["output"])
    assert output["invoke"] == {"echoed": {"job": "j-1"}}
    assert output["plain"]["event"] == {"again": "j-1"}
    assert fx.records("echo") == [{"job": "j-1"}, {"again": "j-1"}]


def test_retry_with_full_jitter_then_success(local: LocalStack, fx: ModuleType) -> None:
    result = run(local, "Tasks", {"mode": "retry", "key": "r1", "succeed_on": 2})

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"attempts": 2}
    attempts = fx.records("flaky")
    assert [a["attempt"] for a in attempts] == [1, 2]
    # FULL jitter waits somewhere in [0, IntervalSeconds], in real time
    assert attempts[1]["at"] - attempts[0]["at"] <= 1.5


def test_retries_exhausted_fall_into_the_matching_catch(local: LocalStack, fx: ModuleType) -> None:
    result = run(local, "Tasks", {"mode": "retry", "key": "r2", "succeed_on": 9})

    assert result["status"] == "SUCCEEDED"
    assert len(fx.records("flaky")) == 3
    error = json.loads(result["output"])["error"]
    assert error["Error"] == "ProviderTransientError"
    cause = json.loads(error["Cause"])
    assert cause["errorType"] == "ProviderTransientError"
    assert cause["errorMessage"] == "attempt 3"


def test_catch_matches_the_exception_class_name(local: LocalStack) -> None:
    result = run(local, "Tasks", {"mode": "catch", "message": "try later"})

    assert result["status"] == "SUCCEEDED"
    error = json.loads(result["output"])["error"]
    assert error["Error"] == "ProviderTransientError"
    assert json.loads(error["Cause"])["errorMessage"] == "try later"


def test_uncaught_error_fails_the_execution_and_reaches_the_reaper(
    local: LocalStack, fx: ModuleType
) -> None:
    execution_arn = start(local, "Tasks", {"mode": "uncaught", "message": "boom"})
    result = local.wait_for_execution(execution_arn)

    assert result["status"] == "FAILED"
    assert result["error"] == "ProviderTransientError"
    (event,) = fx.wait_for("reaper")
    assert event["source"] == "aws.states"
    assert event["detail-type"] == "Step Functions Execution Status Change"
    assert event["resources"] == [execution_arn]
    detail = event["detail"]
    assert detail["executionArn"] == execution_arn
    assert detail["stateMachineArn"] == local.stack.state_machines["Tasks"].arn
    assert detail["status"] == "FAILED"
    assert detail["error"] == "ProviderTransientError"
    assert json.loads(detail["cause"])["errorMessage"] == "boom"
    assert detail["name"] == execution_arn.rsplit(":", 1)[-1]
    assert json.loads(detail["input"]) == {"mode": "uncaught", "message": "boom"}
    assert isinstance(detail["startDate"], int) and detail["stopDate"] >= detail["startDate"]
    assert detail["output"] is None


def test_the_status_watcher_lists_executions_as_list_executions_does(
    local: LocalStack, fx: ModuleType
) -> None:
    # Given executions that ended each way, and one still running (parked on a task token)
    failed = start(local, "Tasks", {"mode": "uncaught", "message": "boom"})
    local.wait_for_execution(failed)
    parked = start(local, "Callback", {"poll_seconds": 5, "max_checks": 1})
    (token,) = fx.wait_for("tokens")
    # When the watcher's in-process listing is read
    listed = local.execution_statuses()
    # Then it is what the API's ListExecutions answers, oldest first
    sfn = local.client("stepfunctions")
    answered = [
        (execution["executionArn"], execution["status"])
        for machine in sfn.list_state_machines()["stateMachines"]
        for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])[
            "executions"
        ]
    ]
    assert sorted(listed) == sorted(answered)
    assert (failed, "FAILED") in listed and (parked, "RUNNING") in listed
    assert listed.index((failed, "FAILED")) < listed.index((parked, "RUNNING"))
    sfn.send_task_success(taskToken=token, output=json.dumps({"status": "completed"}))
    assert local.wait_for_execution(parked)["status"] == "SUCCEEDED"


def test_wait_for_task_token_resumes_on_send_task_success(
    local: LocalStack, fx: ModuleType
) -> None:
    execution_arn = start(local, "Callback", {"poll_seconds": 5, "max_checks": 1})

    def webhook() -> None:
        (token,) = fx.wait_for("tokens")
        sfn = local.client("stepfunctions", via_server=True)
        sfn.send_task_success(taskToken=token, output=json.dumps({"status": "completed"}))

    sender = threading.Thread(target=webhook)
    sender.start()
    result = local.wait_for_execution(execution_arn)
    sender.join()

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["result"] == {"status": "completed"}


def test_send_task_failure_is_caught_with_its_cause(local: LocalStack, fx: ModuleType) -> None:
    execution_arn = start(local, "Callback", {"poll_seconds": 5, "max_checks": 1})
    (token,) = fx.wait_for("tokens")
    local.client("stepfunctions").send_task_failure(
        taskToken=token, error="ProviderRejectedError", cause="content policy"
    )
    result = local.wait_for_execution(execution_arn)

    assert result["status"] == "SUCCEEDED"
    error = json.loads(result["output"])["error"]
    assert error == {"Error": "ProviderRejectedError", "Cause": "content policy"}


def test_task_token_timeout_raises_states_timeout_and_loops(
    local: LocalStack, fx: ModuleType
) -> None:
    started = time.monotonic()
    result = run(local, "Callback", {"poll_seconds": 1, "max_checks": 2})
    elapsed = time.monotonic() - started

    # Two 1 s waits, each ending in States.Timeout, then the loop gives up
    assert result["status"] == "FAILED"
    assert (result["error"], result["cause"]) == ("StillRunning", "no callback")
    assert 2 <= elapsed < 6
    tokens = fx.records("tokens")
    assert len(tokens) == 2 and tokens[0] != tokens[1]
    # A token that timed out is gone: moto says InvalidToken (AWS says TaskTimedOut)
    with pytest.raises(ClientError) as caught:
        local.client("stepfunctions").send_task_success(taskToken=tokens[0], output="{}")
    assert caught.value.response["Error"]["Code"] == "InvalidToken"


def test_direct_dynamodb_integration_with_condition_and_catch(local: LocalStack) -> None:
    first = run(local, "Slot", {"limit": "1"})
    second = run(local, "Slot", {"limit": "1"})

    assert first["status"] == "SUCCEEDED"
    assert "outcome" not in json.loads(first["output"])
    output = json.loads(second["output"])
    assert output["outcome"] == "full"
    assert output["error"]["Error"] == "DynamoDB.ConditionalCheckFailedException"
    item = local.client("dynamodb").get_item(
        TableName=local.stack.physical_ids["Semaphore"], Key={"pk": {"S": "slots"}}
    )["Item"]
    assert item["in_flight"] == {"N": "1"}


def test_put_events_integration_reaches_lambda_and_sqs_targets(
    local: LocalStack, fx: ModuleType
) -> None:
    execution_arn = start(local, "Publisher", {"job_id": "job-7"})
    result = local.wait_for_execution(execution_arn)
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["FailedEntryCount"] == 0

    # The Lambda target of the function's EventBridgeRule got the event
    (event,) = fx.wait_for("collect")
    assert event["source"] == "videojobs" and event["detail-type"] == "Job Completed"
    assert event["detail"] == {"job_id": "job-7"}
    assert event["time"].endswith("Z")
    assert execution_arn in event["resources"]

    # And the SQS-targeted rule saw this machine's RUNNING and SUCCEEDED status changes
    sqs = local.client("sqs")
    statuses: list[str] = []
    deadline = time.monotonic() + 5
    while len(statuses) < 2 and time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=local.stack.physical_ids["StatusQueue"], MaxNumberOfMessages=10
        ).get("Messages", [])
        statuses += [json.loads(m["Body"])["detail"]["status"] for m in messages]
    assert statuses == ["RUNNING", "SUCCEEDED"]
    # A SUCCEEDED execution does not match the reaper's pattern
    assert fx.records("reaper") == []


def test_wait_choice_loop_in_real_time_and_execution_timeout(
    local: LocalStack, fx: ModuleType
) -> None:
    # Waits of 0 s loop quickly; the machine's TimeoutSeconds is 1
    quick = run(local, "Waiter", {"wait": 0})
    assert quick["status"] == "SUCCEEDED"

    started = time.monotonic()
    execution_arn = start(local, "Waiter", {"wait": 3})
    result = local.wait_for_execution(execution_arn)
    assert result["status"] == "TIMED_OUT"
    assert 0.9 < time.monotonic() - started < 2.5
    (event,) = fx.wait_for("reaper")
    assert event["detail"]["status"] == "TIMED_OUT"
    assert event["detail"]["stopDate"] is not None


def test_stop_execution_aborts_with_error_and_cause(local: LocalStack, fx: ModuleType) -> None:
    execution_arn = start(local, "Callback", {"poll_seconds": 30, "max_checks": 1})
    fx.wait_for("tokens")
    local.client("stepfunctions").stop_execution(
        executionArn=execution_arn, error="JobCancelled", cause="user cancelled"
    )
    result = local.wait_for_execution(execution_arn)

    assert result["status"] == "ABORTED"
    assert (result["error"], result["cause"]) == ("JobCancelled", "user cancelled")
    (event,) = fx.wait_for("reaper")
    assert event["detail"]["status"] == "ABORTED"
    assert event["detail"]["error"] == "JobCancelled"


def test_start_execution_without_a_name_gets_a_unique_one(local: LocalStack) -> None:
    sfn = local.client("stepfunctions")
    arn = local.stack.state_machines["Slot"].arn
    first = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"limit": "9"}))
    second = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"limit": "9"}))

    assert first["executionArn"] != second["executionArn"]
    name = first["executionArn"].rsplit(":", 1)[-1]
    assert str(uuid.UUID(name)) == name
    local.wait_for_execution(first["executionArn"])
    local.wait_for_execution(second["executionArn"])
