"""Provisioning a SAM template's resources into moto."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from videojobs_local.stack.provision import IMPLICIT_API_ID, Stack, physical_name, provision
from videojobs_local.stack.template import PseudoParameters, TemplateError, load_template

REGION = "us-east-1"
PSEUDO = PseudoParameters(region=REGION, account_id="123456789012", stack_name="prov")

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Retention: {Type: Number, Default: 3}
Globals:
  Function:
    Runtime: python3.13
    Timeout: 20
    MemorySize: 512
    Environment:
      Variables:
        JOBS_TABLE: !Ref Jobs
        SECRET_ARN: !Ref ProviderKey
Resources:
  Jobs:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: tenant, AttributeType: S}
        - {AttributeName: created_at, AttributeType: S}
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: by-tenant
          KeySchema:
            - {AttributeName: tenant, KeyType: HASH}
            - {AttributeName: created_at, KeyType: RANGE}
          Projection: {ProjectionType: ALL}
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
  Provisioned:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: fixed-name
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      ProvisionedThroughput: {ReadCapacityUnits: 2, WriteCapacityUnits: 3}
  Media:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        EventBridgeConfiguration: {EventBridgeEnabled: true}
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {SSEAlgorithm: AES256}
      LifecycleConfiguration:
        Rules:
          - {Id: expire, Status: Enabled, Prefix: videos/, ExpirationInDays: !Ref Retention}
  ProviderKey:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString: {PasswordLength: 24, ExcludePunctuation: true}
  WebhookSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString:
        SecretStringTemplate: '{"user": "svc"}'
        GenerateStringKey: password
  Literal:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: literal-secret
      SecretString: from-template
  IntakeDlq:
    Type: AWS::SQS::Queue
  Intake:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 45
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt IntakeDlq.Arn
        maxReceiveCount: 3
  Bus:
    Type: AWS::Events::EventBus
    Properties: {Name: jobs-bus}
  ToQueue:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !Ref Bus
      EventPattern: {source: [videojobs]}
      Targets:
        - {Id: q, Arn: !GetAtt Intake.Arn}
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1stage
      BinaryMediaTypes: ["multipart~1form-data", "image~1png"]
      Auth:
        DefaultAuthorizer: Keys
        Authorizers:
          Keys:
            FunctionArn: !GetAtt Authorizer.Arn
            FunctionPayloadType: REQUEST
            Identity: {ReauthorizeEvery: 0}
  Authorizer:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.authorizer
      CodeUri: functions/
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: explicit-worker
      Handler: stack_fixtures.handlers.echo
      Runtime: python3.12
      Timeout: 60
      Environment:
        Variables:
          EXTRA: "1"
          FLAG: true
      Events:
        Create:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /v1/videos, Method: post}
        Health:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /health
            Method: get
            Auth: {Authorizer: NONE}
        Implicit:
          Type: Api
          Properties: {Path: /implicit, Method: get}
        FromQueue:
          Type: SQS
          Properties:
            Queue: !GetAtt Intake.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
        Failed:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.states]
              detail: {status: [FAILED, TIMED_OUT]}
        Nightly:
          Type: Schedule
          Properties: {Schedule: rate(1 day), Enabled: false}
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachine/job.asl.json
      DefinitionSubstitutions:
        WorkerArn: !GetAtt Worker.Arn
        JobsTable: !Ref Jobs
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {RetentionInDays: 7}
Outputs:
  JobsTable: {Value: !Ref Jobs}
  JobsStream: {Value: !GetAtt Jobs.StreamArn}
  MachineArn: {Value: !Ref Machine}
  ApiUrl: {Value: !Sub "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/v1stage"}
  LogsArn: {Value: !GetAtt Logs.Arn}
"""

ASL = {
    "StartAt": "Work",
    "States": {
        "Work": {
            "Type": "Task",
            "Resource": "${WorkerArn}",
            "Parameters": {"table": "${JobsTable}"},
            "End": True,
        }
    },
}


@pytest.fixture
def template_path(tmp_path: Path) -> Path:
    (tmp_path / "statemachine").mkdir()
    (tmp_path / "statemachine" / "job.asl.json").write_text(json.dumps(ASL))
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(TEMPLATE))
    return path


@pytest.fixture
def aws() -> Iterator[boto3.session.Session]:
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )


@pytest.fixture
def stack(template_path: Path, aws: boto3.session.Session) -> Stack:
    template = load_template(template_path, pseudo=PSEUDO)
    return provision(template, session=aws, secret_values={"WebhookSecret": "whsec_injected"})


def test_tables_have_keys_indexes_ttl_and_streams(stack: Stack, aws: boto3.session.Session) -> None:
    ddb = aws.client("dynamodb")
    name = stack.physical_ids["Jobs"]
    assert name == physical_name("prov", "Jobs", max_length=255)

    table = ddb.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-tenant"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    assert stack.outputs["JobsStream"] == table["LatestStreamArn"]

    provisioned = ddb.describe_table(TableName="fixed-name")["Table"]
    assert provisioned["ProvisionedThroughput"]["WriteCapacityUnits"] == 3


def test_bucket_gets_a_generated_name_and_its_configuration(
    stack: Stack, aws: boto3.session.Session
) -> None:
    s3 = aws.client("s3")
    name = stack.physical_ids["Media"]
    assert name == name.lower() and name.startswith("prov-media-")

    # (EventBridge notifications are observed end to end in test_local_stack_events.py:
    # moto does not echo EventBridgeConfiguration back.)
    block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert rules[0]["Expiration"] == {"Days": 3}
    assert rules[0]["Filter"] == {"Prefix": "videos/"}
    assert stack.resources["Media"].attributes["Arn"] == f"arn:aws:s3:::{name}"


def test_secrets_are_generated_given_or_injected(stack: Stack, aws: boto3.session.Session) -> None:
    sm = aws.client("secretsmanager")

    generated = sm.get_secret_value(SecretId=stack.physical_ids["ProviderKey"])["SecretString"]
    assert len(generated) == 24 and generated.isalnum()
    # Ref of a secret is its ARN, as in CloudFormation
    assert stack.physical_ids["ProviderKey"].startswith("arn:aws:secretsmanager:")
    injected = sm.get_secret_value(SecretId=stack.physical_ids["WebhookSecret"])
    assert injected["SecretString"] == "whsec_injected"
    literal = sm.get_secret_value(SecretId="literal-secret")
    assert literal["SecretString"] == "from-template"


def test_generated_secret_string_template(template_path: Path, aws: boto3.session.Session) -> None:
    stack = provision(load_template(template_path, pseudo=PSEUDO), session=aws)
    value = aws.client("secretsmanager").get_secret_value(
        SecretId=stack.physical_ids["WebhookSecret"]
    )["SecretString"]
    document = json.loads(value)
    assert document["user"] == "svc" and len(document["password"]) == 32


def test_injecting_a_secret_for_an_unknown_resource_fails(
    template_path: Path, aws: boto3.session.Session
) -> None:
    with pytest.raises(TemplateError, match="unknown resources"):
        provision(
            load_template(template_path, pseudo=PSEUDO),
            session=aws,
            secret_values={"Nope": "x"},
        )


def test_queue_redrive_policy_points_at_the_dlq(stack: Stack, aws: boto3.session.Session) -> None:
    sqs = aws.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=stack.physical_ids["Intake"], AttributeNames=["All"]
    )["Attributes"]
    assert attributes["VisibilityTimeout"] == "45"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == stack.resources["IntakeDlq"].attributes["Arn"]
    assert int(redrive["maxReceiveCount"]) == 3


def test_rules_are_created_with_targets(stack: Stack, aws: boto3.session.Session) -> None:
    events = aws.client("events")
    rule = stack.rules["ToQueue"]
    assert rule.event_bus_name == "jobs-bus"
    targets = events.list_targets_by_rule(Rule=rule.name, EventBusName="jobs-bus")["Targets"]
    assert targets == [{"Id": "q", "Arn": stack.resources["Intake"].attributes["Arn"]}]

    failed = stack.rules["WorkerFailed"]
    assert failed.event_pattern == {
        "source": ["aws.states"],
        "detail": {"status": ["FAILED", "TIMED_OUT"]},
    }
    assert [t.arn for t in failed.targets] == [stack.functions["Worker"].arn]
    nightly = stack.rules["WorkerNightly"]
    assert nightly.schedule_expression == "rate(1 day)"
    assert nightly.state == "DISABLED"


def test_functions_are_registered_with_resolved_environment(
    stack: Stack, aws: boto3.session.Session
) -> None:
    worker = stack.functions["Worker"]
    assert worker.name == "explicit-worker"
    assert worker.handler == "stack_fixtures.handlers.echo"
    assert (worker.runtime, worker.timeout, worker.memory_size) == ("python3.12", 60, 512)
    assert worker.environment == {
        "JOBS_TABLE": stack.physical_ids["Jobs"],
        "SECRET_ARN": stack.physical_ids["ProviderKey"],
        "EXTRA": "1",
        "FLAG": "true",
    }
    configuration = aws.client("lambda").get_function_configuration(FunctionName=worker.name)
    assert configuration["Environment"]["Variables"] == worker.environment
    assert configuration["Handler"] == worker.handler
    # moto keeps the template's runtime as given, the newest included
    authorizer = aws.client("lambda").get_function_configuration(
        FunctionName=stack.functions["Authorizer"].name
    )
    assert authorizer["Runtime"] == "python3.13"
    assert stack.functions["Authorizer"].code_uri == stack.template.directory / "functions/"
    assert stack.resources["WorkerRole"].attributes["Arn"] == worker.role_arn


def test_function_events_are_recorded(stack: Stack) -> None:
    worker = stack.functions["Worker"]
    assert [(e.name, e.type) for e in worker.events] == [
        ("Create", "Api"),
        ("Health", "Api"),
        ("Implicit", "Api"),
        ("FromQueue", "SQS"),
        ("Failed", "EventBridgeRule"),
        ("Nightly", "Schedule"),
    ]
    (source,) = stack.sqs_event_sources
    assert source.queue_arn == stack.resources["Intake"].attributes["Arn"]
    assert source.queue_url == stack.physical_ids["Intake"]
    assert (source.batch_size, source.report_batch_item_failures) == (5, True)


def test_state_machine_definition_is_substituted(stack: Stack, aws: boto3.session.Session) -> None:
    machine = stack.state_machines["Machine"]
    definition = json.loads(
        aws.client("stepfunctions").describe_state_machine(stateMachineArn=machine.arn)[
            "definition"
        ]
    )
    work = definition["States"]["Work"]
    assert work["Resource"] == stack.functions["Worker"].arn
    assert work["Parameters"] == {"table": stack.physical_ids["Jobs"]}
    assert stack.outputs["MachineArn"] == machine.arn


def test_apis_collect_routes_and_authorizers(stack: Stack) -> None:
    api = stack.apis["Api"]
    assert api.stage_name == "v1stage"
    assert api.binary_media_types == ["multipart/form-data", "image/png"]
    keys = api.authorizers["Keys"]
    assert keys.function_arn == stack.functions["Authorizer"].arn
    routes = {(r.method, r.path): r.authorizer for r in api.routes}
    assert routes == {("POST", "/v1/videos"): "Keys", ("GET", "/health"): None}

    implicit = stack.apis[IMPLICIT_API_ID]
    assert implicit.stage_name == "Prod"
    assert [(r.method, r.path) for r in implicit.routes] == [("GET", "/implicit")]
    assert stack.outputs["ApiUrl"] == (
        f"https://{api.rest_api_id}.execute-api.us-east-1.amazonaws.com/v1stage"
    )


def test_unknown_resource_types_are_skipped_not_fatal(stack: Stack) -> None:
    assert stack.skipped == {"Logs": "AWS::Logs::LogGroup"}
    assert "Logs" not in stack.physical_ids
    assert stack.outputs["LogsArn"] == "Logs.Arn"


def test_function_lookup_by_name_arn_or_logical_id(stack: Stack) -> None:
    worker = stack.functions["Worker"]
    found: list[Any] = [stack.function(key) for key in ("Worker", worker.name, worker.arn)]
    assert found == [worker, worker, worker]
    with pytest.raises(KeyError):
        stack.function("missing")


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (
            """
            Api:
              Type: AWS::Serverless::Api
              Properties:
                StageName: s
                Auth: {Authorizers: {Keys: {FunctionArn: arn:aws:lambda:us-east-1:1:function:a}}}
            """,
            "only REQUEST authorizers",
        ),
        (
            """
            Api:
              Type: AWS::Serverless::Api
              Properties:
                StageName: s
                Auth:
                  Authorizers:
                    Keys:
                      FunctionArn: arn:aws:lambda:us-east-1:1:function:a
                      FunctionPayloadType: REQUEST
                      Identity: {Headers: [Authorization]}
            """,
            "without identity sources",
        ),
        (
            """
            Fn:
              Type: AWS::Serverless::Function
              Properties:
                Handler: a.b
                Runtime: python3.13
                Events:
                  All: {Type: Api, Properties: {Path: "/files/{proxy+}", Method: get}}
            """,
            "greedy",
        ),
        (
            """
            Fn:
              Type: AWS::Serverless::Function
              Properties:
                Handler: a.b
                Runtime: python3.13
                Events:
                  Shaped:
                    Type: EventBridgeRule
                    Properties: {Pattern: {source: [x]}, InputPath: $.detail}
            """,
            "InputPath",
        ),
    ],
)
def test_features_template_yaml_does_not_use_are_refused(
    tmp_path: Path, aws: boto3.session.Session, resources: str, message: str
) -> None:
    # Refused loudly rather than run differently from AWS
    path = tmp_path / "template.yaml"
    path.write_text("Resources:\n" + textwrap.indent(textwrap.dedent(resources), "  "))
    with pytest.raises(TemplateError, match=message):
        provision(load_template(path, pseudo=PSEUDO), session=aws)
