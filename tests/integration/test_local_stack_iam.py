"""IAM on the local stack: each function's and state machine's AWS calls are checked against
the role template.yaml gives it, and refused the way AWS refuses them."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from videojobs_local.stack import LocalStack

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    CodeUri: functions/
    Timeout: 30
Resources:
  Assets:
    Type: AWS::S3::Bucket
  Items:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Queue:
    Type: AWS::SQS::Queue
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties: {SecretString: '{"k": "v"}'}
  Granted:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.aws_call
      Policies:
        - S3CrudPolicy: {BucketName: !Ref Assets}
        - DynamoDBCrudPolicy: {TableName: !Ref Items}
        - SQSSendMessagePolicy: {QueueName: !GetAtt Queue.QueueName}
        - AWSSecretsManagerGetSecretValuePolicy: {SecretArn: !Ref Secret}
        - EventBridgePutEventsPolicy: {EventBusName: default}
  Bare:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.aws_call}
  Prefixed:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.aws_call
      Policies:
        - Statement:
            - Effect: Allow
              Action: [s3:PutObject]
              Resource: !Sub "${Assets.Arn}/allowed/*"
            - Effect: Deny
              Action: [s3:PutObject]
              Resource: !Sub "${Assets.Arn}/allowed/secret*"
  AllowedMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition:
        StartAt: Write
        States:
          Write:
            Type: Task
            Resource: arn:aws:states:::dynamodb:updateItem
            Parameters:
              TableName: !Ref Items
              Key: {pk: {S: from-machine}}
              UpdateExpression: SET touched = :t
              ExpressionAttributeValues: {":t": {S: "yes"}}
            End: true
      Policies:
        - Statement:
            - Effect: Allow
              Action: [dynamodb:UpdateItem]
              Resource: !GetAtt Items.Arn
  DeniedMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition:
        StartAt: Write
        States:
          Write:
            Type: Task
            Resource: arn:aws:states:::dynamodb:updateItem
            Parameters:
              TableName: !Ref Items
              Key: {pk: {S: from-machine}}
              UpdateExpression: SET touched = :t
              ExpressionAttributeValues: {":t": {S: "yes"}}
            End: true
      Policies:
        - Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem]
              Resource: !GetAtt Items.Arn
"""


@pytest.fixture(scope="module")
def local(fx: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    path = tmp_path_factory.mktemp("iam") / "template.yaml"
    path.write_text(textwrap.dedent(TEMPLATE))
    with LocalStack(path, stack_name="iam") as stack:
        yield stack


def call(local: LocalStack, function: str, service: str, operation: str, **params: Any) -> Any:
    return local.invoke(
        function, {"service": service, "operation": operation, "params": params}
    ).json()


def _calls(local: LocalStack) -> list[tuple[str, str, dict[str, Any]]]:
    ids = local.stack.physical_ids
    queue_url = ids["Queue"]
    return [
        ("s3", "put_object", {"Bucket": ids["Assets"], "Key": "videos/a.mp4", "Body": "x"}),
        ("dynamodb", "put_item", {"TableName": ids["Items"], "Item": {"pk": {"S": "a"}}}),
        ("sqs", "send_message", {"QueueUrl": queue_url, "MessageBody": "hello"}),
        ("secretsmanager", "get_secret_value", {"SecretId": ids["Secret"]}),
        (
            "events",
            "put_events",
            {"Entries": [{"Source": "test", "DetailType": "t", "Detail": "{}"}]},
        ),
    ]


@pytest.mark.parametrize(
    ("service", "code", "status", "action"),
    [
        ("s3", "AccessDenied", 403, "s3:PutObject"),
        ("dynamodb", "AccessDeniedException", 400, "dynamodb:PutItem"),
        ("sqs", "AccessDenied", 403, "sqs:SendMessage"),
        ("secretsmanager", "AccessDeniedException", 400, "secretsmanager:GetSecretValue"),
        ("events", "AccessDeniedException", 400, "events:PutEvents"),
    ],
)
def test_a_call_the_role_does_not_grant_fails_as_aws_fails_it(
    local: LocalStack, service: str, code: str, status: int, action: str
) -> None:
    # Given the same call made by a function granted it and by one granted nothing
    _, operation, params = next(c for c in _calls(local) if c[0] == service)

    granted = call(local, "Granted", service, operation, **params)
    refused = call(local, "Bare", service, operation, **params)

    # Then the first goes through and the second gets the service's access-denied error
    assert granted == {"ok": True}
    assert (refused["code"], refused["status"]) == (code, status)
    role = local.stack.physical_ids["BareRole"]
    function = local.stack.functions["Bare"].name
    assert refused["message"].startswith(
        f"User: arn:aws:sts::{local.account_id}:assumed-role/{role}/{function} "
        f"is not authorized to perform: {action} on resource: "
    )
    assert f"because no identity-based policy allows the {action} action" in refused["message"]


def test_object_arns_prefixes_and_an_explicit_deny_decide_s3_calls(local: LocalStack) -> None:
    bucket = local.stack.physical_ids["Assets"]

    def put(key: str) -> Any:
        return call(local, "Prefixed", "s3", "put_object", Bucket=bucket, Key=key, Body="x")

    assert put("allowed/clip.mp4") == {"ok": True}
    outside = put("elsewhere/clip.mp4")
    assert outside["code"] == "AccessDenied"
    assert f'on resource: "arn:aws:s3:::{bucket}/elsewhere/clip.mp4"' in outside["message"]
    denied = put("allowed/secret.txt")
    assert denied["code"] == "AccessDenied"
    assert "with an explicit deny in an identity-based policy" in denied["message"]


def test_calls_from_outside_any_function_are_not_checked(local: LocalStack) -> None:
    # The test itself (like the CLI's admin commands) acts as the account, not as a role
    bucket = local.stack.physical_ids["Assets"]
    local.client("s3").put_object(Bucket=bucket, Key="admin/anything", Body="x")

    assert local.client("s3").get_object(Bucket=bucket, Key="admin/anything")["Body"].read()


def test_a_state_machine_integration_is_checked_against_the_machine_role(
    local: LocalStack,
) -> None:
    sfn = local.client("stepfunctions")
    machines = local.stack.state_machines

    allowed = sfn.start_execution(stateMachineArn=machines["AllowedMachine"].arn)
    denied = sfn.start_execution(stateMachineArn=machines["DeniedMachine"].arn)

    assert local.wait_for_execution(allowed["executionArn"])["status"] == "SUCCEEDED"
    failed = local.wait_for_execution(denied["executionArn"])
    assert failed["status"] == "FAILED"
    assert failed["error"] == "DynamoDB.AccessDeniedException"
    assert "is not authorized to perform: dynamodb:UpdateItem" in failed["cause"]
