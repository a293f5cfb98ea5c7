"""What an operator relies on: ``videojobs status`` on the local stack and on a "deployed" one
(CloudFormation in moto), and one correlation id from the API request through the job's
execution to its callback."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipeline_support import wait_for_job

from videojobs.adapters import aws
from videojobs.adapters.dal import jobs
from videojobs.settings import get_settings
from videojobs_local.cli import main
from videojobs_local.emulator import WebhookReceiver
from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def state_file(running_service: LocalVideojobs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state file `videojobs local up` would write for this stack."""
    path = tmp_path_factory.mktemp("status-cli") / "stack.json"
    path.write_text(json.dumps(running_service.state()))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    # The stack's functions run in this process and log to the same stdout meanwhile.
    out = "".join(line for line in out.splitlines(keepends=True) if not _is_log_record(line))
    return code, out, err


def _is_log_record(line: str) -> bool:
    """A JSON log line or metrics (EMF) line of a function, not the command's output."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    if not isinstance(record, dict):
        return False
    return "_aws" in record or {"level", "location", "message"} <= set(record)


def submit(api: httpx.Client, **body: Any) -> httpx.Response:
    payload = {"prompt": "a lighthouse in a storm", "seconds": "4", "size": "720x1280", **body}
    response = api.post("/videos", json=payload)
    assert response.status_code == 200, response.text
    return response


def stored_job(job_id: str) -> Any:
    get_settings.cache_clear()
    aws.reset_clients()
    return jobs.get(job_id)


def test_status_counts_recent_jobs_shows_failures_with_codes_and_dead_letters(
    service: LocalVideojobs,
    api: httpx.Client,
    state_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a completed job, a job the provider refused, and a message in the callbacks
    # dead-letter queue
    done = submit(api).json()
    refused = submit(api, prompt="something [[moderation]] unacceptable").json()
    assert wait_for_job(api, done["id"])["status"] == "completed"
    assert wait_for_job(api, refused["id"])["status"] == "failed"
    dead_letters = service.state()["dead_letter_queues"]
    assert set(dead_letters) == {
        "BedrockOutputDeadLetterQueue",
        "CallbacksDeadLetterQueue",
        "IntakeDeadLetterQueue",
        "ReaperDeadLetterQueue",
    }
    sqs = service.stack.client("sqs")
    sqs.send_message(QueueUrl=dead_letters["CallbacksDeadLetterQueue"], MessageBody="{}")

    # When the operator asks for the status as JSON
    code, out, err = run(capsys, "status", "--state-file", str(state_file), "--json")

    # Then jobs of the last hour are counted by status, the slot line is empty, and each
    # dead-letter queue says how many messages wait in it
    assert code == 0, err
    status = json.loads(out)
    assert status["jobs_by_status"]["completed"] >= 1
    assert status["jobs_by_status"]["failed"] >= 1
    assert set(status["jobs_by_status"]) == {
        "queued",
        "in_progress",
        "completed",
        "failed",
        "cancelled",
    }
    assert status["slots_in_use"] == 0
    assert status["jobs_waiting_for_slot"] == 0
    assert status["dead_letters"] == {
        "BedrockOutputDeadLetterQueue": 0,
        "CallbacksDeadLetterQueue": 1,
        "IntakeDeadLetterQueue": 0,
        "ReaperDeadLetterQueue": 0,
    }
    # ... and the refused job is among the recent failures, with its code and correlation id
    (failure,) = [f for f in status["recent_failures"] if f["job_id"] == refused["id"]]
    assert failure["code"] == "moderation_blocked"
    assert failure["correlation_id"] == stored_job(refused["id"]).correlation_id
    assert done["id"] not in {f["job_id"] for f in status["recent_failures"]}

    # When it asks for the text view
    code, out, _ = run(capsys, "status", "--state-file", str(state_file))

    # Then the same figures read as lines
    assert code == 0
    assert "slots in use: 0; jobs waiting for a slot: 0" in out
    assert "CallbacksDeadLetterQueue 1" in out
    assert f"{refused['id']} tenant={service.tenant_id} code=moderation_blocked" in out


def test_status_counts_jobs_waiting_for_a_slot_and_slots_in_use(
    service: LocalVideojobs,
    api: httpx.Client,
    state_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given every slot taken by holders that are not running jobs, and one job submitted
    control = service.stack.client("dynamodb")
    table = service.state()["control_table"]
    holders = [f"video_held{i:028d}" for i in range(5)]
    control.put_item(
        TableName=table,
        Item={
            "pk": {"S": "semaphore#jobs"},
            "in_flight": {"N": "5"},
            "holders": {"SS": holders},
        },
    )
    try:
        waiting = submit(api).json()

        # When the operator asks for the status
        code, out, err = run(capsys, "status", "--state-file", str(state_file), "--json")

        # Then the five slots are in use and the new job waits for one
        assert code == 0, err
        status = json.loads(out)
        assert status["slots_in_use"] == 5
        assert status["jobs_waiting_for_slot"] == 1
        assert status["jobs_by_status"]["queued"] >= 1
    finally:
        control.put_item(
            TableName=table,
            Item={"pk": {"S": "semaphore#jobs"}, "in_flight": {"N": "0"}},
        )
    # ... and once the slots are free again the job runs to the end
    assert wait_for_job(api, waiting["id"], timeout=90)["status"] == "completed"


def test_status_of_a_deployed_stack_reads_its_resources_through_cloudformation(
    running_service: LocalVideojobs, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployed stack (here: CloudFormation in moto) with the tables and queues that
    # status reads, and one failed job of one tenant in it
    template = {
        "Resources": {
            "JobsTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [
                        {"AttributeName": n, "AttributeType": "S"}
                        for n in ("job_id", "tenant_id", "created_key", "waiting")
                    ],
                    "KeySchema": [{"AttributeName": "job_id", "KeyType": "HASH"}],
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "by-tenant",
                            "KeySchema": [
                                {"AttributeName": "tenant_id", "KeyType": "HASH"},
                                {"AttributeName": "created_key", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "ALL"},
                        },
                        {
                            "IndexName": "by-waiting",
                            "KeySchema": [
                                {"AttributeName": "waiting", "KeyType": "HASH"},
                                {"AttributeName": "created_key", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "KEYS_ONLY"},
                        },
                    ],
                },
            },
            "ControlTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                },
            },
            "TenantsTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "tenant_id", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "tenant_id", "KeyType": "HASH"}],
                },
            },
            "IntakeDeadLetterQueue": {"Type": "AWS::SQS::Queue"},
            "CallbacksQueue": {"Type": "AWS::SQS::Queue"},
        },
    }
    cloudformation = running_service.stack.client("cloudformation")
    cloudformation.create_stack(StackName="videojobs-status", TemplateBody=json.dumps(template))
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName="videojobs-status")[
            "StackResourceSummaries"
        ]
    }
    dynamodb = running_service.stack.client("dynamodb")
    now = int(time.time())
    dynamodb.put_item(
        TableName=physical["TenantsTable"],
        Item={
            "tenant_id": {"S": "deployed-co"},
            "webhook_secret": {"S": "whsec_x"},
            "created_at": {"N": str(now)},
        },
    )
    job_id = "video_" + "d" * 32
    dynamodb.put_item(
        TableName=physical["JobsTable"],
        Item={
            "job_id": {"S": job_id},
            "tenant_id": {"S": "deployed-co"},
            "status": {"S": "failed"},
            "created_at": {"N": str(now - 60)},
            "updated_at": {"N": str(now - 30)},
            "created_key": {"S": f"{now - 60:012d}#{job_id}"},
            "request": {
                "M": {
                    "prompt": {"S": "a boat"},
                    "model": {"S": "sora-2"},
                    "seconds": {"S": "4"},
                    "size": {"S": "720x1280"},
                }
            },
            "error": {
                "M": {
                    "code": {"S": "provider_auth_failed"},
                    "message": {"S": "The provider refused the key."},
                    "retryable": {"BOOL": False},
                    "billed": {"BOOL": False},
                }
            },
            "correlation_id": {"S": "req-deployed-1"},
        },
    )

    # When the operator asks for the status of that stack by name
    code, out, err = run(
        capsys,
        "status",
        "--stack-name",
        "videojobs-status",
        "--region",
        running_service.state()["region"],
        "--json",
    )

    # Then it reads the stack's own tables and dead-letter queues (only those)
    assert code == 0, err
    status = json.loads(out)
    assert status["jobs_by_status"]["failed"] == 1
    assert sum(status["jobs_by_status"].values()) == 1
    assert status["dead_letters"] == {"IntakeDeadLetterQueue": 0}
    (failure,) = status["recent_failures"]
    assert (failure["job_id"], failure["code"], failure["correlation_id"]) == (
        job_id,
        "provider_auth_failed",
        "req-deployed-1",
    )

    # When the stack does not exist
    code, _, err = run(capsys, "status", "--stack-name", "no-such-stack")

    # Then the command says which stack it could not read
    assert code == 2
    assert "cannot read the stack no-such-stack" in err


def test_a_state_file_without_the_dead_letter_queues_is_reported(
    running_service: LocalVideojobs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a state file written by an older `local up`
    state = running_service.state()
    del state["dead_letter_queues"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(state))

    # When status reads it
    code, _, err = run(capsys, "status", "--state-file", str(old))

    # Then it names what is missing
    assert code == 2
    assert "no dead_letter_queues" in err


def test_one_correlation_id_from_the_api_request_to_the_callback(
    service: LocalVideojobs, api: httpx.Client, webhook_receiver: WebhookReceiver
) -> None:
    # Given a job submitted with a callback URL
    response = submit(api, callback_url=webhook_receiver.url)
    request_id = response.headers["x-amzn-RequestId"]
    job = response.json()

    # When it completes
    assert wait_for_job(api, job["id"])["status"] == "completed"
    (delivery,) = webhook_receiver.wait_for(1, timeout=30)

    # Then the API request's id is the job's correlation id, in its execution's input and in
    # the callback's headers
    assert stored_job(job["id"]).correlation_id == request_id
    execution = service.stack.client("stepfunctions").describe_execution(
        executionArn=service.state()["state_machine_arn"].replace(":stateMachine:", ":execution:")
        + ":"
        + job["id"]
    )
    assert json.loads(execution["input"])["correlation_id"] == request_id
    assert delivery.headers["x-correlation-id"] == request_id
