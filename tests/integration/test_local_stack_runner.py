"""LocalStack as a whole: shared backends, isolation from real AWS, clean start and stop."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from types import ModuleType

import boto3
import httpx
import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.models import botocore_stubber
from moto.events.models import Rule

from videojobs_local.stack import LocalStack, TemplateError

HERE = Path(__file__).parent

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting: {Type: String, Default: hello}
Globals:
  Function:
    Runtime: python3.13
    # Room for a loaded test machine; Lambda's 3 s default fails handlers that wait on it.
    Timeout: 30
    Environment:
      Variables:
        GREETING: !Ref Greeting
        TABLE_NAME: !Ref Items
Resources:
  Items:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Files:
    Type: AWS::S3::Bucket
  Token:
    Type: AWS::SecretsManager::Secret
    Properties: {GenerateSecretString: {PasswordLength: 16}}
  Probe:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.env_probe}
  Api:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.api
      Events:
        Get: {Type: Api, Properties: {Path: "/things/{id}", Method: get}}
  Writer:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.use_boto3
      Policies: [{DynamoDBCrudPolicy: {TableName: !Ref Items}}]
  Inline:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition:
        StartAt: Write
        States:
          Write:
            Type: Task
            Resource: !GetAtt Writer.Arn
            Parameters: {pk: "${Key}"}
            End: true
      DefinitionSubstitutions: {Key: from-machine}
      Policies: [{LambdaInvokePolicy: {FunctionName: !Ref Writer}}]
Outputs:
  ItemsTable: {Value: !Ref Items}
"""


@pytest.fixture
def template(tmp_path: Path, fx: ModuleType) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(TEMPLATE))
    return path


def port_is_free(port: int) -> bool:
    """Nothing listens on the port. SO_REUSEADDR lets the probe bind past connections the
    server closed (TIME_WAIT), never past a socket still listening."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_server_endpoint_and_in_process_share_backends(template: Path) -> None:
    with LocalStack(template) as local:
        remote = local.client("dynamodb", via_server=True)
        in_process = local.client("dynamodb")
        # Created through the moto server, seen in-process
        remote.create_table(
            TableName="made-remotely",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        assert "made-remotely" in in_process.list_tables()["TableNames"]
        # Written in-process, read through the server
        table = local.stack.physical_ids["Items"]
        in_process.put_item(TableName=table, Item={"pk": {"S": "local"}})
        assert remote.get_item(TableName=table, Key={"pk": {"S": "local"}})["Item"]
        # Provisioned resources are visible to outside clients
        s3 = local.client("s3", via_server=True)
        assert local.stack.physical_ids["Files"] in [
            b["Name"] for b in s3.list_buckets()["Buckets"]
        ]


def test_environment_is_isolated_and_restored(
    template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a shell that points at a real profile
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.example.invalid")
    monkeypatch.delenv("GREETING", raising=False)
    environ_class = type(os.environ)

    with LocalStack(template, parameter_overrides="Greeting='good day'") as local:
        # Then inside, no profile and only fake credentials are visible
        assert "AWS_PROFILE" not in os.environ
        assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ
        assert os.environ["AWS_CONFIG_FILE"] == os.devnull
        assert os.environ["AWS_ACCESS_KEY_ID"] != "AKIAREALKEY"
        assert local.client("dynamodb").list_tables()["TableNames"] == [
            local.stack.physical_ids["Items"]
        ]
        assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
        identity = local.client("sts").get_caller_identity()
        assert identity["Account"] == "123456789012"
        # And the functions' shared variables are set process-wide
        assert os.environ["GREETING"] == "good day"

    # And afterwards everything is as it was
    assert os.environ["AWS_PROFILE"] == "production"
    assert os.environ["AWS_ENDPOINT_URL_DYNAMODB"] == "https://dynamodb.example.invalid"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIAREALKEY"
    assert "GREETING" not in os.environ
    assert type(os.environ) is environ_class


def test_stop_releases_ports_threads_and_patches(template: Path) -> None:
    with LocalStack(template) as local:
        aws_port = int(local.aws_endpoint_url.rsplit(":", 1)[1])
        api_port = int(local.api_url.split(":")[2].split("/")[0])
        assert not port_is_free(aws_port) and not port_is_free(api_port)
        assert httpx.get(f"{local.api_url}/things/1").status_code == 200
        assert botocore_stubber.enabled
        names = {thread.name for thread in threading.enumerate()}
        assert "sfn-status-watcher" in names

    assert port_is_free(aws_port) and port_is_free(api_port)
    names = {thread.name for thread in threading.enumerate()}
    assert not any(name.startswith(("sfn-status", "sqs-", "apigw-")) for name in names)
    assert not botocore_stubber.enabled
    # moto's own behaviour is back for anyone else using it in this process
    assert Rule.send_to_targets.__module__ == "moto.events.models"
    assert LambdaSimpleBackend.invoke.__module__ == "moto.awslambda_simple.models"


def test_fixed_ports_are_honoured(template: Path) -> None:
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        aws_port, api_port = first.getsockname()[1], second.getsockname()[1]
    with LocalStack(template, aws_port=aws_port, api_port=api_port) as local:
        assert local.aws_endpoint_url == f"http://127.0.0.1:{aws_port}"
        assert local.api_url == f"http://127.0.0.1:{api_port}/Prod"


def test_only_one_local_stack_per_process(template: Path) -> None:
    with LocalStack(template), pytest.raises(RuntimeError, match="already running"):
        LocalStack(template).start()


def test_failed_start_cleans_up(tmp_path: Path, template: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {X: !Ref Nope}}\n")

    with pytest.raises(TemplateError):
        LocalStack(broken).start()

    assert not botocore_stubber.enabled
    with LocalStack(template) as local:
        assert local.stack.functions


def test_clients_can_be_routed_through_the_server(template: Path, fx: ModuleType) -> None:
    with LocalStack(template, route_clients_via_server=True) as local:
        assert os.environ["AWS_ENDPOINT_URL"] == local.aws_endpoint_url
        s3 = local.client("s3")
        assert s3.meta.endpoint_url == local.aws_endpoint_url
        bucket = local.stack.physical_ids["Files"]
        s3.put_object(Bucket=bucket, Key="a.txt", Body=b"presigned")
        # Presigned URLs then point at the server and work from any HTTP client
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a.txt"})
        assert url.startswith(local.aws_endpoint_url)
        assert httpx.get(url).content == b"presigned"
        # Handlers' own clients follow the same route and reach the same tables
        result = local.invoke("Writer", {"pk": "routed"})
        assert result.function_error is None
        # Step Functions' Lambda tasks too (the interpreter's clients also go over HTTP)
        execution = local.client("stepfunctions").start_execution(
            stateMachineArn=local.stack.state_machines["Inline"].arn
        )
        assert local.wait_for_execution(execution["executionArn"])["status"] == "SUCCEEDED"
        table = local.stack.physical_ids["Items"]
        ddb = local.client("dynamodb")
        assert ddb.get_item(TableName=table, Key={"pk": {"S": "routed"}})["Item"]
        assert ddb.get_item(TableName=table, Key={"pk": {"S": "from-machine"}})["Item"]
    assert "AWS_ENDPOINT_URL" not in os.environ


def test_state_describes_the_running_stack(template: Path) -> None:
    with LocalStack(template, stack_name="described") as local:
        state = json.loads(json.dumps(local.state()))

    assert state["stack_name"] == "described"
    assert state["api_url"] == state["api_urls"]["ServerlessRestApi"]
    assert state["aws_endpoint_url"].startswith("http://127.0.0.1:")
    assert state["outputs"] == {"ItemsTable": state["physical_ids"]["Items"]}
    assert state["functions"]["Probe"]["handler"] == "stack_fixtures.handlers.env_probe"
    assert state["api_url"].endswith("/Prod")
    assert state["physical_ids"]["Token"].startswith("arn:aws:secretsmanager:")


CLI = """
import json, sys
from videojobs_local.stack import LocalStack

with LocalStack(sys.argv[1]) as local:
    print(json.dumps(local.state()), flush=True)
    sys.stdin.read()
"""


def test_usable_from_a_separate_process(template: Path) -> None:
    # Given a CLI-like process running the stack
    environment = {**os.environ, "PYTHONPATH": str(HERE)}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", CLI, str(template)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        assert process.stdout is not None
        state = json.loads(process.stdout.readline())

        # Then an ordinary client reaches its AWS endpoint and its API
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=state["aws_endpoint_url"],
            region_name=state["region"],
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        assert state["physical_ids"]["Items"] in ddb.list_tables()["TableNames"]
        assert httpx.get(f"{state['api_url']}/things/7").json()["pathParameters"] == {"id": "7"}
        # And an outside Invoke runs the handler inside that process
        invoked = boto3.client(
            "lambda",
            endpoint_url=state["aws_endpoint_url"],
            region_name=state["region"],
            aws_access_key_id="x",
            aws_secret_access_key="x",
        ).invoke(
            FunctionName=state["functions"]["Probe"]["name"],
            Payload=json.dumps({"keys": ["GREETING"]}),
        )
        assert json.loads(invoked["Payload"].read())["GREETING"] == "hello"
    finally:
        if process.stdin is not None:
            process.stdin.close()
        assert process.wait(timeout=30) == 0
