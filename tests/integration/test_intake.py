"""S3 intake on the local stack: a file put under intake/<tenant>/ travels S3 -> EventBridge ->
SQS -> the intake function, becomes one batch with one job per valid line, and ends in a
results manifest; redelivered events and identical uploads create nothing more."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from pipeline_support import PIPELINE_PARAMETERS, EventProbe, wait_for_job

from videojobs.adapters.dal import batches as batches_dal
from videojobs.logic import intake
from videojobs.models.intake import IntakeBatch, S3ObjectRef
from videojobs_local.local import LocalVideojobs
from videojobs_local.stack import LambdaContext

pytestmark = pytest.mark.slow

INTAKE_DOC = Path(__file__).resolve().parents[2] / "docs" / "intake.md"
PROMPT_MAX_CHARS = 200
MAX_FILE_BYTES = 4096
MAX_LINES = 20


# The module's stack (see conftest.running_service), with small intake limits so that the
# limits are cheap to reach.
STACK_PARAMETERS = (
    f"{PIPELINE_PARAMETERS} PromptMaxChars={PROMPT_MAX_CHARS} "
    f"IntakeMaxFileBytes={MAX_FILE_BYTES} IntakeMaxLines={MAX_LINES}"
)


@pytest.fixture
def s3(service: LocalVideojobs) -> Any:
    return service.stack.client("s3")


@pytest.fixture
def paused_intake_rule(service: LocalVideojobs) -> Iterator[None]:
    """No S3 event reaches the intake queue: the test delivers the file's event itself."""
    events = service.stack.client("events")
    rule = service.stack.stack.physical_ids["IntakeRule"]
    events.disable_rule(Name=rule)
    yield
    events.enable_rule(Name=rule)


def intake_context(service: LocalVideojobs) -> LambdaContext:
    """The context the intake function's runtime would pass (its full timeout ahead)."""
    spec = service.stack.stack.functions["IntakeFunction"]
    return LambdaContext(
        function=spec,
        request_id=str(uuid.uuid4()),
        invoked_function_arn=spec.arn,
        deadline=time.time() + spec.timeout,
    )


def wait_until(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met in {timeout} s")
        time.sleep(0.1)


def unique(name: str) -> str:
    """A file name no other test uses (each file is its own batch)."""
    stem, _, extension = name.rpartition(".")
    return f"{stem}-{uuid.uuid4().hex[:8]}.{extension}"


def read_manifest(service: LocalVideojobs, key: str, timeout: float = 40.0) -> list[dict[str, Any]]:
    """The results manifest at ``key`` once it exists, one dict per line."""
    s3 = service.stack.client("s3")
    bucket = service.state()["bucket"]
    deadline = time.monotonic() + timeout
    while True:
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchKey":
                raise
            if time.monotonic() > deadline:
                raise AssertionError(f"no manifest at {key} after {timeout} s") from None
            time.sleep(0.2)
            continue
        return [json.loads(line) for line in body.decode("utf-8").splitlines()]


def intake_queue_idle(service: LocalVideojobs) -> bool:
    """Nothing waiting in the intake queue and nothing being handled."""
    sqs = service.stack.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=service.stack.stack.physical_ids["IntakeQueue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def dead_letters(service: LocalVideojobs) -> int:
    sqs = service.stack.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=service.stack.stack.physical_ids["IntakeDeadLetterQueue"],
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def expire_idempotency_records(service: LocalVideojobs) -> None:
    ddb = service.stack.client("dynamodb")
    table = service.stack.stack.physical_ids["IdempotencyTable"]
    for item in ddb.scan(TableName=table, ProjectionExpression="id")["Items"]:
        ddb.delete_item(TableName=table, Key={"id": item["id"]})


def job_count(service: LocalVideojobs) -> int:
    ddb = service.stack.client("dynamodb")
    return int(ddb.scan(TableName=service.state()["jobs_table"], Select="COUNT")["Count"])


def provider_creates(service: LocalVideojobs) -> int:
    return sum(
        1
        for r in service.emulator.requests()
        if r["method"] == "POST" and r["path"] == "/v1/videos"
    )


def jsonl(*lines: Any) -> bytes:
    return "".join(
        (json.dumps(line) if isinstance(line, dict) else line) + "\n" for line in lines
    ).encode()


def object_created_event(bucket: str, key: str, etag: str, size: int) -> str:
    """The EventBridge event S3 sends for a new object, as the intake queue receives it."""
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": "123456789012",
            "time": "2026-11-26T12:00:00Z",
            "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {
                "version": "0",
                "bucket": {"name": bucket},
                "object": {"key": key, "size": size, "etag": etag, "sequencer": "00"},
                "reason": "PutObject",
            },
        }
    )


def test_a_jsonl_file_yields_one_video_per_valid_line_and_is_processed_once(
    service: LocalVideojobs,
    s3: Any,
    api: httpx.Client,
    batch_events: EventProbe,
) -> None:
    # Given a JSONL file with valid lines, broken ones and a blank one
    bucket = service.state()["bucket"]
    name = unique("shots.jsonl")
    key = f"intake/{service.tenant_id}/{name}"
    body = jsonl(
        {"prompt": "a red kite over the dunes", "metadata": {"shot": "1"}},
        '{"prompt": "an unfinished line"',
        "",
        {"prompt": "a kite in a size nobody makes", "size": "640x480"},
        {"prompt": "k" * (PROMPT_MAX_CHARS + 1)},
        {"prompt": "a blue kite at dusk", "size": "1280x720"},
        {"prompt": "a kite that will not fly [[fail]]"},
        '["a list", "not a body"]',
    )

    # When it is put into the bucket (in-process client)
    put = s3.put_object(Bucket=bucket, Key=key, Body=body)

    # Then its manifest accounts for every line, in input order
    manifest = read_manifest(service, f"results/{service.tenant_id}/{name[:-6]}.results.jsonl")
    assert [m["line"] for m in manifest] == [1, 2, 4, 5, 6, 7, 8]
    assert [m["status"] for m in manifest] == [
        "completed",
        "rejected",
        "rejected",
        "rejected",
        "completed",
        "failed",
        "rejected",
    ]
    assert "Not valid JSON" in manifest[1]["error"]
    assert "'size'" in manifest[2]["error"]
    assert "too long" in manifest[3]["error"]
    assert manifest[6]["error"] == "Expected a JSON object (a create body)."
    assert manifest[5]["error"] and manifest[5]["job_id"] and manifest[5]["video"] is None
    for rejected in (manifest[1], manifest[2], manifest[3], manifest[6]):
        assert rejected["job_id"] is None and rejected["video"] is None
    # ... and every completed line's video is in S3
    for done in (manifest[0], manifest[4]):
        assert done["error"] is None
        assert (
            done["video"] == f"s3://{bucket}/videos/{service.tenant_id}/{done['job_id']}/video.mp4"
        )
        video_key = done["video"].split("/", 3)[3]
        assert s3.head_object(Bucket=bucket, Key=video_key)["ContentLength"] > 1000
    # ... made through the API's create path: one job per valid line, in one batch
    first = api.get(f"/videos/{manifest[0]['job_id']}").json()
    assert first["metadata"] == {"shot": "1"}
    assert api.get(f"/videos/{manifest[4]['job_id']}").json()["size"] == "1280x720"
    batch = api.get(f"/video_batches/{first['batch_id']}").json()
    assert batch["status"] == "completed"
    assert batch["job_ids"] == [manifest[i]["job_id"] for i in (0, 4, 5)]
    assert batch["counts"]["completed"] == 2 and batch["counts"]["failed"] == 1
    assert batch["metadata"]["intake_file"] == key
    assert provider_creates(service) == 3
    jobs_before = job_count(service)

    # When the same S3 event is delivered again, and the identical object is put again
    sqs = service.stack.client("sqs")
    sqs.send_message(
        QueueUrl=service.stack.stack.physical_ids["IntakeQueue"],
        MessageBody=object_created_event(bucket, key, put["ETag"].strip('"'), len(body)),
    )
    # (both messages are in the queue as these calls return: moto sends them synchronously)
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    wait_until(lambda: intake_queue_idle(service), what="intake queue drained")

    # Then no job was added and nothing went to the dead-letter queue
    assert job_count(service) == jobs_before
    assert provider_creates(service) == 3
    listed = api.get("/videos", params={"batch_id": first["batch_id"], "limit": 100}).json()
    assert len(listed["data"]) == 3
    assert dead_letters(service) == 0
    # ... and the batch was announced once, naming the file and its manifest
    (event,) = [e for e in batch_events.drain() if e["detail"]["batch_id"] == first["batch_id"]]
    assert event["detail"]["total"] == 3
    assert event["detail"]["intake"] == {
        "source": key,
        "results": f"results/{service.tenant_id}/{name[:-6]}.results.jsonl",
    }


def test_a_csv_file_put_through_the_aws_endpoint(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a CSV file with API field names as columns, metadata as columns and as JSON
    state = service.state()
    name = unique("boats.csv")
    body = (
        b"prompt,size,metadata.shot,metadata\r\n"
        b'"a paper boat, drifting",1280x720,1,"{""scene"": ""harbour""}"\r\n'
        b"a boat in an odd size,999x999,2,\r\n"
        b",,,\r\n"
        b'"a boat\r\nin a bottle",,3,\r\n'
    )
    # When an ordinary client puts it through the stack's AWS endpoint (as the AWS CLI would)
    client = boto3.client(
        "s3",
        endpoint_url=state["aws_endpoint_url"],
        region_name=state["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    client.put_object(Bucket=state["bucket"], Key=f"intake/{service.tenant_id}/{name}", Body=body)

    # Then each row is a line, numbered by the line it starts on, the blank row left out
    manifest = read_manifest(service, f"results/{service.tenant_id}/{name[:-4]}.results.jsonl")
    assert [(m["line"], m["status"]) for m in manifest] == [
        (2, "completed"),
        (3, "rejected"),
        (5, "completed"),
    ]
    assert "'size'" in manifest[1]["error"]
    first = api.get(f"/videos/{manifest[0]['job_id']}").json()
    assert (first["prompt"], first["size"]) == ("a paper boat, drifting", "1280x720")
    assert first["metadata"] == {"shot": "1", "scene": "harbour"}
    last = api.get(f"/videos/{manifest[2]['job_id']}").json()
    assert (last["prompt"], last["size"], last["metadata"]) == (
        "a boat\r\nin a bottle",
        "720x1280",
        {"shot": "3"},
    )
    assert provider_creates(service) == 2


def test_a_txt_file_takes_its_settings_from_the_defaults_beside_it(
    service: LocalVideojobs, s3: Any, api: httpx.Client
) -> None:
    # Given a folder with a defaults file
    bucket = service.state()["bucket"]
    folder = f"intake/{service.tenant_id}/{uuid.uuid4().hex[:8]}"
    defaults = {"size": "1280x720", "metadata": {"campaign": "kites"}}
    s3.put_object(Bucket=bucket, Key=f"{folder}/_defaults.json", Body=json.dumps(defaults))

    # When a prompt file and a single-body file are dropped beside it
    s3.put_object(
        Bucket=bucket,
        Key=f"{folder}/prompts.txt",
        Body=b"a kite over a lighthouse\n\n   a kite over a harbour  \n",
    )
    s3.put_object(
        Bucket=bucket,
        Key=f"{folder}/hero.json",
        Body=json.dumps({"prompt": "a kite in a storm", "metadata": {"shot": "hero"}}),
    )

    # Then one job per prompt, with the defaults under each line's own fields
    results = folder.replace("intake/", "results/", 1)
    prompts = read_manifest(service, f"{results}/prompts.results.jsonl")
    assert [(m["line"], m["status"]) for m in prompts] == [(1, "completed"), (3, "completed")]
    jobs = [api.get(f"/videos/{m['job_id']}").json() for m in prompts]
    assert [j["prompt"] for j in jobs] == ["a kite over a lighthouse", "a kite over a harbour"]
    assert {j["size"] for j in jobs} == {"1280x720"}
    assert all(j["metadata"] == {"campaign": "kites"} for j in jobs)
    (hero,) = read_manifest(service, f"{results}/hero.results.jsonl")
    assert (hero["line"], hero["status"]) == (1, "completed")
    hero_job = api.get(f"/videos/{hero['job_id']}").json()
    assert hero_job["size"] == "1280x720"
    assert hero_job["metadata"] == {"campaign": "kites", "shot": "hero"}
    # ... and the defaults file itself is not a job file
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{results}/")
    assert sorted(o["Key"] for o in listed["Contents"]) == [
        f"{results}/hero.results.jsonl",
        f"{results}/prompts.results.jsonl",
    ]
    assert provider_creates(service) == 3


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        # 20 lines of ~250 bytes: within the line limit, over the byte limit
        (
            [{"prompt": "p" * 180, "metadata": {"n": "x" * 40}}] * 20,
            f"at most {MAX_FILE_BYTES} bytes",
        ),
        ([{"prompt": "a small kite"}] * (MAX_LINES + 1), f"more than {MAX_LINES} lines"),
    ],
    ids=["too many bytes", "too many lines"],
)
def test_a_file_over_the_limits_is_rejected_whole(
    service: LocalVideojobs, s3: Any, lines: list[dict[str, Any]], reason: str
) -> None:
    # Given a file over one of the intake limits
    name = unique("big.jsonl")
    jobs_before = job_count(service)
    # When it is dropped
    s3.put_object(
        Bucket=service.state()["bucket"],
        Key=f"intake/{service.tenant_id}/{name}",
        Body=jsonl(*lines),
    )
    # Then its manifest is one rejection of the whole file, and nothing was created
    (only,) = read_manifest(service, f"results/{service.tenant_id}/{name[:-6]}.results.jsonl")
    assert (only["line"], only["status"], only["job_id"], only["video"]) == (
        None,
        "rejected",
        None,
        None,
    )
    assert reason in only["error"]
    assert job_count(service) == jobs_before
    assert provider_creates(service) == 0


def test_a_file_of_an_unknown_tenant_is_rejected_not_retried(
    service: LocalVideojobs, s3: Any
) -> None:
    # Given a tenant folder that belongs to no tenant
    tenant = f"nobody-{uuid.uuid4().hex[:8]}"
    jobs_before = job_count(service)
    # When a valid file is dropped there
    s3.put_object(
        Bucket=service.state()["bucket"],
        Key=f"intake/{tenant}/shots.jsonl",
        Body=jsonl({"prompt": "a kite"}),
    )
    # Then it is rejected with the reason, once: nothing created, nothing left to retry
    (only,) = read_manifest(service, f"results/{tenant}/shots.results.jsonl")
    assert only["status"] == "rejected" and only["line"] is None
    assert only["error"].startswith(f"Unknown tenant '{tenant}'")
    wait_until(lambda: intake_queue_idle(service), what="intake queue drained")
    assert dead_letters(service) == 0
    assert job_count(service) == jobs_before


def test_a_file_cut_short_continues_on_a_later_delivery_without_doubling(
    service: LocalVideojobs,
    s3: Any,
    api: httpx.Client,
    in_process: None,
    paused_intake_rule: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a file of four valid lines (and one bad) whose first delivery fails on line 4
    bucket = service.state()["bucket"]
    name = unique("resume.txt")
    key = f"intake/{service.tenant_id}/{name}"
    body = (
        b"a kite one\na kite two\n"
        + b"k" * (PROMPT_MAX_CHARS + 1)
        + b"\na kite three\na kite four\n"
    )
    put = s3.put_object(Bucket=bucket, Key=key, Body=body)
    ref = S3ObjectRef(bucket=bucket, key=key, size=len(body), etag=put["ETag"].strip('"'))
    real_create = intake.create_job
    calls = 0

    def create_then_fail(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "StartExecution")
        return real_create(*args, **kwargs)

    monkeypatch.setattr(intake, "create_job", create_then_fail)
    with pytest.raises(ClientError):
        intake.process_object(ref, intake_context(service))

    # Then the batch holds the jobs made so far and stays open, even once they have ended
    batch_id = intake.intake_batch_id(bucket, key, ref.etag or "")
    listed = api.get("/videos", params={"batch_id": batch_id}).json()["data"]
    assert len(listed) == 2
    for job in listed:
        wait_for_job(api, job["id"])
    batch = batches_dal.get(batch_id)
    assert isinstance(batch, IntakeBatch) and not batch.source.sealed
    assert batch.completed_at is None
    assert api.get(f"/video_batches/{batch_id}").json()["status"] == "in_progress"

    assert [line.line for line in batch.source.progress] == [1, 2]

    # When the event is delivered again, after the idempotency records have expired (TTL),
    # and once more after that
    expire_idempotency_records(service)
    monkeypatch.setattr(intake, "create_job", real_create)
    assert intake.process_object(ref, intake_context(service)) is intake.IntakeResult.ACCEPTED
    assert intake.process_object(ref, intake_context(service)) is intake.IntakeResult.DUPLICATE

    # Then the missing lines were created and the first two were not made again
    manifest = read_manifest(service, f"results/{service.tenant_id}/{name[:-4]}.results.jsonl")
    assert [(m["line"], m["status"]) for m in manifest] == [
        (1, "completed"),
        (2, "completed"),
        (3, "rejected"),
        (4, "completed"),
        (5, "completed"),
    ]
    assert {m["job_id"] for m in manifest[:2]} == {job["id"] for job in listed}
    assert len({m["job_id"] for m in manifest if m["job_id"]}) == 4
    assert provider_creates(service) == 4


def test_an_object_replaced_or_deleted_before_it_is_read_is_left_to_its_own_event(
    service: LocalVideojobs, s3: Any, in_process: None, paused_intake_rule: None
) -> None:
    # Given an event about a file that has since been overwritten, and one since deleted
    bucket = service.state()["bucket"]
    replaced = f"intake/{service.tenant_id}/{unique('replaced.jsonl')}"
    old = s3.put_object(Bucket=bucket, Key=replaced, Body=jsonl({"prompt": "first draft"}))
    s3.put_object(Bucket=bucket, Key=replaced, Body=jsonl({"prompt": "second draft"}))
    deleted = f"intake/{service.tenant_id}/{unique('deleted.jsonl')}"
    gone = s3.put_object(Bucket=bucket, Key=deleted, Body=jsonl({"prompt": "a kite"}))
    s3.delete_object(Bucket=bucket, Key=deleted)
    jobs_before = job_count(service)
    # When those events are handled
    for key, put in ((replaced, old), (deleted, gone)):
        ref = S3ObjectRef(bucket=bucket, key=key, etag=put["ETag"].strip('"'))
        result = intake.process_object(ref, intake_context(service))
        # Then nothing is made from them: the newer object's own event covers it
        assert result is intake.IntakeResult.STALE
    assert job_count(service) == jobs_before
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"results/{service.tenant_id}/")
    assert not [
        o for o in listed.get("Contents", []) if "replaced" in o["Key"] or "deleted" in o["Key"]
    ]


def test_the_guide_s_local_example_does_what_it_says(
    service: LocalVideojobs, tmp_path: Path
) -> None:
    # Given the python example of docs/intake.md and the state file `videojobs local up` writes
    match = re.search(
        r"<!-- example: drop a file on the local stack -->\n```python\n(?P<code>.*?)```",
        INTAKE_DOC.read_text(),
        flags=re.DOTALL,
    )
    assert match is not None, "docs/intake.md lost its local example"
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "stack.json").write_text(json.dumps(service.state()))
    # When a reader runs it
    result = subprocess.run(  # noqa: S603 - the repository's own documented example
        [sys.executable, "-c", match["code"]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then it prints what the guide shows
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert re.fullmatch(r"1 completed s3://[^/]+/videos/local/video_[0-9a-f]{32}/video\.mp4", first)
    assert second.startswith("2 rejected Invalid value for 'size'")
