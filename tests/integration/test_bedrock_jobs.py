"""Amazon Bedrock's video models through the same jobs API: Nova Reel and Luma Ray 2 on the
local stack, where the emulator's Bedrock face writes real MP4s into the stack's bucket and the
bucket's Object Created event wakes the job."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import av
import httpx
import openai
import pytest
from pipeline_support import PIPELINE_PARAMETERS, wait_for_job

from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow

# The status check comes later than in the pipeline tests: a completion must be seen to come
# from the output event alone, even on a busy machine whose encoder is slow.
# (A later value of a parameter overrides an earlier one, as with sam deploy.)
STACK_PARAMETERS = f"{PIPELINE_PARAMETERS} PollIntervalSeconds=20 MaxPollIntervalSeconds=20"
EVENTS = Path(__file__).resolve().parents[2] / "events"
NOVA = "amazon.nova-reel-v1:1"
LUMA = "luma.ray-v2:0"


def submit(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.post("/videos", json={"prompt": "a lighthouse at dusk", **body})
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def bucket_keys(service: LocalVideojobs, prefix: str) -> list[str]:
    listed = service.stack.client("s3").list_objects_v2(
        Bucket=service.state()["bucket"], Prefix=prefix
    )
    return sorted(obj["Key"] for obj in listed.get("Contents", []))


def read(service: LocalVideojobs, key: str) -> bytes:
    s3 = service.stack.client("s3")
    return bytes(s3.get_object(Bucket=service.state()["bucket"], Key=key)["Body"].read())


def media(data: bytes) -> tuple[int, int, float, float]:
    """Width, height, seconds and frame rate of an MP4."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert container.duration is not None
        return (
            stream.codec_context.width,
            stream.codec_context.height,
            container.duration / 1_000_000,
            float(stream.average_rate or 0),
        )


def bedrock_calls(service: LocalVideojobs, method: str) -> list[dict[str, Any]]:
    return [
        r
        for r in service.emulator.requests()
        if r["path"].startswith("/async-invoke") and r["method"] == method
    ]


def test_a_nova_reel_job_completes_from_its_output_event_alone(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a Nova Reel job of 6 seconds
    job = submit(api, model=NOVA, seconds="6", size="1280x720")
    # When Bedrock writes its output
    done = wait_for_job(api, job["id"])
    # Then the job completed, woken by the output event: no GetAsyncInvoke was ever made
    assert done["status"] == "completed", done
    assert len(bedrock_calls(service, "POST")) == 1
    assert bedrock_calls(service, "GET") == []
    # And Bedrock's files lie under the job's Bedrock folder as Bedrock writes them
    written = bucket_keys(service, f"bedrock/{job['id']}/")
    invocation = written[0].split("/")[2]
    assert written == [
        f"bedrock/{job['id']}/{invocation}/{name}"
        for name in ("generation-status.json", "manifest.json", "output.mp4")
    ]
    # And the stored copy is a real 1280x720, 6-second, 24 fps video, with its checksum
    video = read(service, f"videos/{service.tenant_id}/{job['id']}/video.mp4")
    width, height, seconds, fps = media(video)
    assert (width, height, round(fps)) == (1280, 720, 24)
    assert abs(seconds - 6.0) <= 0.1
    assert video == read(service, written[2])
    # And its cost is Nova Reel's $0.08 a second
    assert done["cost"] == {"estimated_usd": 0.48, "settled_usd": 0.48}


def test_a_multi_shot_nova_reel_job_is_twelve_seconds(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    job = submit(api, model=NOVA, seconds=12)
    done = wait_for_job(api, job["id"])
    assert done["status"] == "completed", done
    video = read(service, f"videos/{service.tenant_id}/{job['id']}/video.mp4")
    assert abs(media(video)[2] - 12.0) <= 0.1


def test_a_luma_job_through_the_openai_sdk_is_the_size_and_length_asked_for(
    service: LocalVideojobs,
) -> None:
    # Given the openai SDK pointed at the service
    client = openai.OpenAI(base_url=service.api_url, api_key=service.api_key, max_retries=0)
    # When it creates a 9-second 540p Luma clip that loops, and waits for it
    video = client.videos.create(
        prompt="a paper boat on a rainy street",
        model=LUMA,  # type: ignore[arg-type]
        seconds="9",  # type: ignore[arg-type]
        size="960x540",  # type: ignore[arg-type]
        extra_body={"loop": True},
    )
    done = client.videos.poll(video.id, poll_interval_ms=200)
    # Then it completed, and the download is a 960x540, 9-second MP4
    assert done.status == "completed", done
    data = client.videos.download_content(video.id).read()
    width, height, seconds, _ = media(data)
    assert (width, height) == (960, 540)
    assert abs(seconds - 9.0) <= 0.1
    # And Luma was asked for exactly that, in its own vocabulary
    invocations = service.emulator.emulator.bedrock.invocations()
    assert [i["modelArn"].rsplit("/", 1)[-1] for i in invocations] == [LUMA]
    assert ":us-west-2:" in invocations[0]["invocationArn"]
    # And it cost Luma's 540p price, $0.75 a second
    job = httpx.get(
        f"{service.api_url}/videos/{video.id}",
        headers={"Authorization": f"Bearer {service.api_key}"},
    ).json()
    assert job["cost"]["settled_usd"] == 6.75


def test_variants_bedrock_does_not_make_answer_404_variant_unavailable(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    job = submit(api, model=LUMA, seconds="5", size="720x720")
    assert wait_for_job(api, job["id"])["status"] == "completed"
    response = api.get(f"/videos/{job['id']}/content", params={"variant": "thumbnail"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "variant_unavailable"
    assert response.json()["error"]["param"] == "variant"
    assert api.get(f"/videos/{job['id']}/content").status_code == 302
    # And Bedrock has no remix: asking for one is refused, not sent anywhere
    remix = api.post(f"/videos/{job['id']}/remix", json={"prompt": "the same, at night"})
    assert remix.status_code == 400
    assert remix.json()["error"]["code"] == "unsupported_parameter"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": NOVA, "seconds": "8"}, "seconds"),
        ({"model": NOVA, "seconds": "126"}, "seconds"),
        ({"model": LUMA, "seconds": "6", "size": "1280x720"}, "seconds"),
        ({"model": NOVA, "seconds": "6", "size": "720x1280"}, "size"),
        ({"model": LUMA, "seconds": "5", "size": "1792x1024"}, "size"),
        ({"model": NOVA, "seconds": "6", "size": "1280x720", "loop": True}, "loop"),
        ({"model": NOVA, "seconds": "6", "size": "1280x720", "prompt": "x" * 513}, "prompt"),
        ({"model": "sora-2", "seconds": "6"}, "seconds"),
    ],
)
def test_what_a_model_cannot_do_is_a_400_naming_the_parameter(
    service: LocalVideojobs, api: httpx.Client, body: dict[str, Any], param: str
) -> None:
    response = api.post("/videos", json={"prompt": "a lighthouse", **body})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    # And nothing reached Bedrock
    assert bedrock_calls(service, "POST") == []


def test_a_throttled_then_failing_bedrock_still_completes_the_job(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given Bedrock throttles, then is out of quota, then errors more often than the SDK retries
    service.emulator.set_faults(
        rate_limit={"count": 3}, quota_exceeded={"count": 1}, server_error={"count": 4}
    )
    # When a job is submitted
    job = submit(api, model=NOVA, seconds="6")
    # Then it completes all the same, with one invocation (the token made the retries safe)
    assert wait_for_job(api, job["id"], timeout=90)["status"] == "completed"
    assert len(service.emulator.emulator.bedrock.invocations()) == 1


def test_a_failed_generation_ends_the_job_with_its_reason(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a prompt Bedrock's content filters block (no output, so no event)
    job = submit(api, model=LUMA, seconds="5", size="960x540", prompt="[[fail]] a storm")
    # When the status check finds the invocation failed
    done = wait_for_job(api, job["id"], timeout=90)
    # Then the job failed with the code its failureMessage maps to
    assert done["status"] == "failed", done
    assert done["error"]["code"] == "moderation_blocked"
    assert "content filters" in done["error"]["message"]
    assert len(bedrock_calls(service, "GET")) >= 1
    assert done["cost"]["settled_usd"] == 0


def test_models_lists_what_this_deployment_serves(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    response = api.get("/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["sora-2", "sora-2-pro", NOVA, LUMA]
    assert {(m["id"], m["owned_by"]) for m in body["data"]} >= {(NOVA, "amazon"), (LUMA, "luma")}
    # And the openai SDK reads it as OpenAI's model list
    client = openai.OpenAI(base_url=service.api_url, api_key=service.api_key, max_retries=0)
    assert [model.id for model in client.models.list()] == ["sora-2", "sora-2-pro", NOVA, LUMA]


def test_a_batch_mixes_protocols_and_refuses_a_length_by_its_element(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a batch whose second element asks Nova Reel for a length it cannot make
    refused = api.post(
        "/video_batches",
        json={
            "requests": [
                {"prompt": "a harbour", "model": LUMA, "seconds": "5", "size": "540x960"},
                {"prompt": "a harbour", "model": NOVA, "seconds": "10"},
            ]
        },
    )
    # Then the whole batch is a 400 naming that element's seconds, and nothing started
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "requests[1].seconds"
    assert bedrock_calls(service, "POST") == []
    # When the batch asks for lengths the models make, with a Sora clip beside them
    created = api.post(
        "/video_batches",
        json={
            "requests": [
                {"prompt": "a harbour", "model": LUMA, "seconds": "5", "size": "540x960"},
                {"prompt": "a harbour", "model": NOVA, "seconds": "6"},
                {"prompt": "a harbour", "seconds": "4"},
            ]
        },
    )
    assert created.status_code == 200, created.text
    # Then every job completes, each through its own protocol
    jobs = [wait_for_job(api, job_id) for job_id in created.json()["job_ids"]]
    assert [(j["status"], j["model"], j["size"]) for j in jobs] == [
        ("completed", LUMA, "540x960"),
        ("completed", NOVA, "1280x720"),
        ("completed", "sora-2", "720x1280"),
    ]
    assert len(bedrock_calls(service, "POST")) == 2


def test_an_intake_file_names_bedrock_models_line_by_line(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given an intake file with a Nova Reel line and a Luma line of a length Luma lacks
    name = "bedrock-lines.jsonl"
    lines = [
        {"prompt": "a glacier", "model": NOVA, "seconds": "6"},
        {"prompt": "a glacier", "model": LUMA, "seconds": "12", "size": "1280x720"},
    ]
    s3 = service.stack.client("s3")
    s3.put_object(
        Bucket=service.state()["bucket"],
        Key=f"intake/{service.tenant_id}/{name}",
        Body="\n".join(json.dumps(line) for line in lines).encode(),
    )
    # Then the first line completes and the second is rejected, naming seconds
    key = f"results/{service.tenant_id}/bedrock-lines.results.jsonl"
    manifest: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = s3.list_objects_v2(Bucket=service.state()["bucket"], Prefix=key)
        if listed.get("KeyCount"):
            body = s3.get_object(Bucket=service.state()["bucket"], Key=key)["Body"].read()
            manifest = [json.loads(line) for line in body.decode().splitlines()]
            break
        time.sleep(0.2)
    assert [m["status"] for m in manifest] == ["completed", "rejected"], manifest
    assert "seconds" in manifest[1]["error"]
    assert api.get(f"/videos/{manifest[0]['job_id']}").json()["model"] == NOVA


def test_a_cancelled_bedrock_job_leaves_no_output_behind(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a running Nova Reel job (Bedrock cannot stop it: it will still write its output)
    service.emulator.update_config(speed=25)
    job = submit(api, model=NOVA, seconds="6")
    wait_for_job(api, job["id"], until=lambda j: j["status"] == "in_progress")
    # When it is cancelled
    assert api.delete(f"/videos/{job['id']}").status_code == 200
    # Then the output Bedrock writes afterwards is deleted when its event arrives
    deadline = time.monotonic() + 30
    while service.emulator.emulator.bedrock.invocations()[0]["status"] != "Completed":
        assert time.monotonic() < deadline, "the invocation never completed"
        time.sleep(0.2)
    deadline = time.monotonic() + 10
    while any(k.endswith("output.mp4") for k in bucket_keys(service, f"bedrock/{job['id']}/")):
        assert time.monotonic() < deadline, bucket_keys(service, f"bedrock/{job['id']}/")
        time.sleep(0.2)
    assert bucket_keys(service, f"videos/{service.tenant_id}/{job['id']}/") == []


def test_the_output_event_sample_wakes_only_the_job_that_owns_the_invocation(
    service: LocalVideojobs,
) -> None:
    # Given the sample event, whose key names no job of this stack
    event = json.loads((EVENTS / "bedrock_output_created.json").read_text(encoding="utf-8"))
    event["detail"]["bucket"]["name"] = service.state()["bucket"]
    # When the function receives it
    result = service.stack.invoke("BedrockOutputFunction", event)
    # Then nothing is woken
    assert result.json() == {"status": "unknown_video"}
    # And an object of another bucket, or another file of the folder, is ignored
    other = json.loads(json.dumps(event))
    other["detail"]["bucket"]["name"] = "someone-elses-bucket"
    assert service.stack.invoke("BedrockOutputFunction", other).json() == {"status": "ignored"}
    manifest = json.loads(json.dumps(event))
    manifest["detail"]["object"]["key"] = event["detail"]["object"]["key"].replace(
        "output.mp4", "manifest.json"
    )
    assert service.stack.invoke("BedrockOutputFunction", manifest).json() == {"status": "ignored"}
