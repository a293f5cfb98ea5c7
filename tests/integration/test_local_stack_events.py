"""EventBridge delivery, S3 notifications and SQS event sources on the local stack."""

from __future__ import annotations

import json
import textwrap
import time
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
Resources:
  Media:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        EventBridgeConfiguration: {EventBridgeEnabled: true}
  IntakeDlq:
    Type: AWS::SQS::Queue
  Intake:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy: {deadLetterTargetArn: !GetAtt IntakeDlq.Arn, maxReceiveCount: 2}
  IntakeRule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [aws.s3]
        detail-type: [Object Created]
        detail:
          bucket: {name: [!Ref Media]}
          object: {key: [{prefix: intake/}]}
      Targets: [{Id: intake, Arn: !GetAtt Intake.Arn}]
  CrashDlq:
    Type: AWS::SQS::Queue
  CrashQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy: {deadLetterTargetArn: !GetAtt CrashDlq.Arn, maxReceiveCount: 1}
  IntakeFn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.sqs_batch
      Events:
        Objects:
          Type: SQS
          Properties:
            Queue: !GetAtt Intake.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
  CrashFn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.sqs_crash
      Events:
        Messages:
          Type: SQS
          Properties: {Queue: !GetAtt CrashQueue.Arn, BatchSize: 5}
  Listener:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.collect
      Events:
        Whole:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [videojobs], detail-type: [whole]}
        Off:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [videojobs], detail-type: [disabled]}
            State: DISABLED
        Nightly:
          Type: Schedule
          Properties: {Schedule: rate(1 day)}
  Mirror:
    Type: AWS::SQS::Queue
  MirrorRule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [videojobs]}
      Targets: [{Id: mirror, Arn: !GetAtt Mirror.Arn}]
  ScheduledToQueue:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(5 minutes)
      Targets: [{Id: wrong, Arn: !GetAtt Mirror.Arn}]
"""


@pytest.fixture(scope="module")
def local(fx: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    path = tmp_path_factory.mktemp("events") / "template.yaml"
    path.write_text(textwrap.dedent(TEMPLATE))
    with LocalStack(path, stack_name="events", poll_interval=0.05) as stack:
        yield stack


@pytest.fixture(autouse=True)
def clean(fx: ModuleType, local: LocalStack) -> None:
    fx.reset()
    sqs, queue = local.client("sqs"), local.stack.physical_ids["Mirror"]
    # PurgeQueue is limited to once a minute, so empty the queue by hand
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def put(local: LocalStack, detail_type: str, detail: dict[str, Any]) -> None:
    response = local.client("events").put_events(
        Entries=[{"Source": "videojobs", "DetailType": detail_type, "Detail": json.dumps(detail)}]
    )
    assert response["FailedEntryCount"] == 0


def drain(local: LocalStack, logical_id: str, expected: int, timeout: float = 8) -> list[Any]:
    sqs = local.client("sqs")
    bodies: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(bodies) < expected and time.monotonic() < deadline:
        for message in sqs.receive_message(
            QueueUrl=local.stack.physical_ids[logical_id], MaxNumberOfMessages=10
        ).get("Messages", []):
            bodies.append(json.loads(message["Body"]))
    return bodies


def test_put_events_reach_lambda_targets_and_moto_still_feeds_sqs(
    local: LocalStack, fx: ModuleType
) -> None:
    put(local, "whole", {"job_id": "j-1"})

    (event,) = fx.wait_for("collect")
    assert (event["source"], event["detail-type"], event["detail"]) == (
        "videojobs",
        "whole",
        {"job_id": "j-1"},
    )
    assert event["account"] == "123456789012" and event["region"] == "us-east-1"
    assert event["time"].endswith("Z") and "ingestion-time" not in event
    (mirrored,) = drain(local, "Mirror", 1)
    assert mirrored["detail"] == {"job_id": "j-1"}


def test_disabled_and_schedule_rules_get_no_events(local: LocalStack, fx: ModuleType) -> None:
    put(local, "disabled", {"job_id": "j-3"})
    # The SQS mirror proves the event went through; the Lambda target never sees it
    (mirrored,) = drain(local, "Mirror", 1)
    assert mirrored["detail-type"] == "disabled"
    assert local.wait_idle()
    assert fx.records("collect") == []
    # ScheduledToQueue also targets the mirror: had it matched, a second copy would be there
    assert drain(local, "Mirror", 1, timeout=0.3) == []


def test_schedules_fire_on_demand(local: LocalStack, fx: ModuleType) -> None:
    local.fire_schedule("ListenerNightly")

    (event,) = fx.wait_for("collect")
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == [local.stack.rules["ListenerNightly"].arn]


def test_s3_intake_flow_with_partial_batch_failures(local: LocalStack, fx: ModuleType) -> None:
    # Given objects dropped into the intake prefix (and one elsewhere)
    s3 = local.client("s3", via_server=True)
    bucket = local.stack.physical_ids["Media"]
    for key in ("intake/t1/a.txt", "intake/t1/fail.txt", "intake/t1/b.txt", "videos/x.mp4"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"prompt")

    # Then S3 -> EventBridge -> SQS -> Lambda delivers each intake object once ...
    first = fx.wait_for("sqs", 3)
    records = first[:3]
    keys = sorted(json.loads(r["body"])["detail"]["object"]["key"] for r in records)
    assert keys == ["intake/t1/a.txt", "intake/t1/b.txt", "intake/t1/fail.txt"]
    record = records[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == local.stack.resources["Intake"].attributes["Arn"]
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    body = json.loads(record["body"])
    assert body["source"] == "aws.s3" and body["detail-type"] == "Object Created"
    assert body["detail"]["bucket"]["name"] == bucket
    # Every object's event has its own id (moto alone would repeat one constant)
    assert len({json.loads(r["body"])["id"] for r in records}) == 3

    # ... the reported failure comes back after the visibility timeout, then dead-letters
    retried = fx.wait_for("sqs", 4)[3]
    assert json.loads(retried["body"])["detail"]["object"]["key"] == "intake/t1/fail.txt"
    assert retried["attributes"]["ApproximateReceiveCount"] == "2"
    (dead,) = drain(local, "IntakeDlq", 1)
    assert dead["detail"]["object"]["key"] == "intake/t1/fail.txt"
    assert len(fx.records("sqs")) == 4


def test_s3_events_describe_the_object_as_s3_does(local: LocalStack, fx: ModuleType) -> None:
    # Given an object put into an unversioned bucket with EventBridge notifications
    bucket = local.stack.physical_ids["Media"]
    put = local.client("s3").put_object(Bucket=bucket, Key="intake/t2/shape.txt", Body=b"a kite")
    # Then its event names the object as S3 would: etag (not eTag), and no version id
    (record,) = fx.wait_for("sqs", 1)
    obj = json.loads(record["body"])["detail"]["object"]
    assert set(obj) == {"key", "size", "etag", "sequencer"}
    assert (obj["key"], obj["size"]) == ("intake/t2/shape.txt", 6)
    assert obj["etag"] == put["ETag"].strip('"')


def test_a_crashing_batch_is_retried_whole(local: LocalStack, fx: ModuleType) -> None:
    sqs = local.client("sqs")
    queue = local.stack.physical_ids["CrashQueue"]
    sqs.send_message(
        QueueUrl=queue,
        MessageBody="m1",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
    )

    (received,) = fx.wait_for("sqs_crash")
    assert received["body"] == "m1"
    assert received["messageAttributes"]["kind"] == {
        "stringValue": "test",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    # maxReceiveCount 1: after the visibility timeout it moves to the DLQ, not retried
    sqs_dlq = local.client("sqs")
    deadline = time.monotonic() + 5
    messages: list[Any] = []
    while not messages and time.monotonic() < deadline:
        messages = sqs_dlq.receive_message(QueueUrl=local.stack.physical_ids["CrashDlq"]).get(
            "Messages", []
        )
    assert [m["Body"] for m in messages] == ["m1"]
    assert len(fx.records("sqs_crash")) == 1
