"""Creating jobs over HTTP on the local stack: JSON and multipart (what the openai SDK sends),
reference images, presets and friendly fields, callback URL checks, Idempotency-Key (proven
by counting the provider's creates), and remixes."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
from PIL import Image
from pipeline_support import wait_for_job

from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    assert job["object"] == "video" and job["status"] == "queued"
    return job


def refused(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["message"]
    return error


def provider_creates(service: LocalVideojobs) -> list[dict[str, Any]]:
    return [
        r
        for r in service.emulator.requests()
        if r["method"] == "POST" and r["path"] == "/v1/videos"
    ]


def job_count(service: LocalVideojobs) -> int:
    resp = service.stack.client("dynamodb").scan(
        TableName=service.state()["jobs_table"], Select="COUNT"
    )
    return int(resp["Count"])


def job_item(service: LocalVideojobs, job_id: str) -> dict[str, Any]:
    item: dict[str, Any] = service.stack.client("dynamodb").get_item(
        TableName=service.state()["jobs_table"], Key={"job_id": {"S": job_id}}, ConsistentRead=True
    )["Item"]
    return item


def provider_video(service: LocalVideojobs, job_id: str) -> dict[str, Any]:
    """The emulator's record of the provider video behind a job (with its input_reference)."""
    provider_id = job_item(service, job_id)["provider_video_id"]["S"]
    response = httpx.get(f"{service.emulator.url}/_emulator/videos/{provider_id}", timeout=10)
    assert response.status_code == 200, response.text
    video: dict[str, Any] = response.json()
    return video


def completed(api: httpx.Client, job_id: str) -> dict[str, Any]:
    job = wait_for_job(api, job_id)
    assert job["status"] == "completed", job
    return job


# --- JSON and multipart ----------------------------------------------------------------------


def test_a_json_create_stores_metadata_and_callback_url_and_completes(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a JSON create with metadata and a callback URL (loopback is allowed locally)
    body = {
        "prompt": "a lighthouse at dusk",
        "seconds": 4,
        "size": "720x1280",
        "metadata": {"campaign": "spring", "shot": "7"},
        "callback_url": "http://127.0.0.1:9/hooks",
    }
    # When it is created
    job = created(api.post("/videos", json=body))
    # Then the answer is an OpenAI Video plus the metadata, and the job keeps the callback URL
    assert job["id"].startswith("video_")
    assert (job["model"], job["seconds"], job["size"]) == ("sora-2", "4", "720x1280")
    assert job["metadata"] == {"campaign": "spring", "shot": "7"}
    assert job_item(service, job["id"])["callback_url"]["S"] == "http://127.0.0.1:9/hooks"
    completed(api, job["id"])


def test_a_multipart_create_without_an_image_works(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given the form the SDK sends, metadata as metadata[key] fields
    fields = [
        ("prompt", (None, "a paper boat in the rain")),
        ("seconds", (None, "8")),
        ("size", (None, "1280x720")),
        ("metadata[source]", (None, "form")),
    ]
    # When it is created
    job = created(api.post("/videos", files=fields))
    # Then the fields arrived as sent, and the provider was asked for no reference image
    assert (job["seconds"], job["size"], job["metadata"]) == ("8", "1280x720", {"source": "form"})
    completed(api, job["id"])
    assert provider_video(service, job["id"])["input_reference"] is None


def test_a_multipart_create_with_an_image_passes_it_to_the_provider(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a form with a 720x1280 PNG for a 720x1280 video
    image = png(720, 1280)
    fields = [
        ("prompt", (None, "the picture comes alive")),
        ("input_reference", ("start.png", image, "image/png")),
    ]
    # When it is created and has run
    job = created(api.post("/videos", files=fields))
    completed(api, job["id"])
    # Then the image was kept under inputs/ and the provider received exactly it
    key = f"inputs/{service.tenant_id}/{job['id']}/reference.png"
    stored = service.stack.client("s3").get_object(Bucket=service.state()["bucket"], Key=key)
    assert stored["Body"].read() == image
    reference = provider_video(service, job["id"])["input_reference"]
    assert reference is not None
    assert (reference["content_type"], reference["bytes"]) == ("image/png", len(image))
    assert (reference["width"], reference["height"]) == (720, 1280)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ([("input_reference", ("a.gif", b"GIF89a....", "image/gif"))], "input_reference"),
        ([("input_reference", ("a.png", png(1280, 720), "image/png"))], "input_reference"),
        ([("temperature", (None, "0.5"))], "temperature"),
        ([("seconds", (None, "5"))], "seconds"),
    ],
    ids=["not an image", "image size mismatch", "unknown field", "bad seconds"],
)
def test_bad_multipart_creates_are_refused_without_creating_anything(
    service: LocalVideojobs, api: httpx.Client, fields: list[Any], param: str
) -> None:
    before = job_count(service)
    error = refused(api.post("/videos", files=[("prompt", (None, "x")), *fields]))
    assert error["param"] == param
    assert job_count(service) == before
    assert provider_creates(service) == []


def test_a_malformed_multipart_body_is_a_400(service: LocalVideojobs, api: httpx.Client) -> None:
    response = api.post(
        "/videos",
        content=b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhi',
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert refused(response)["code"] == "invalid_multipart"


# --- presets and friendly fields -------------------------------------------------------------


def test_a_preset_sets_size_seconds_and_style_and_explicit_fields_win(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given the youtube preset with an explicit shorter length
    job = created(
        api.post(
            "/videos", json={"prompt": "a drone over cliffs", "preset": "YouTube", "seconds": "4"}
        )
    )
    # Then the preset's size and style line apply, and the explicit seconds win
    assert (job["size"], job["seconds"], job["model"]) == ("1280x720", "4", "sora-2")
    assert job["prompt"].startswith("a drone over cliffs\n\n")
    done = completed(api, job["id"])
    # And the provider rendered exactly that
    video = provider_video(service, done["id"])
    assert (video["size"], str(video["seconds"])) == ("1280x720", "4")


def test_friendly_fields_map_onto_an_exact_size(service: LocalVideojobs, api: httpx.Client) -> None:
    job = created(
        api.post("/videos", json={"prompt": "a fox", "aspect_ratio": "16:9", "duration": 4})
    )
    assert (job["size"], job["seconds"]) == ("1280x720", "4")
    completed(api, job["id"])


@pytest.mark.parametrize(
    ("body", "param", "names"),
    [
        ({"aspect_ratio": "1:1"}, "aspect_ratio", "'16:9', '9:16', '7:4' or '4:7'"),
        ({"resolution": "1080p"}, "resolution", "'720p' or '1024p'"),
        ({"duration": 10}, "duration", "4, 8 or 12"),
        ({"preset": "myspace"}, "preset", "'tiktok'"),
        ({"aspect_ratio": "7:4"}, "model", "sora-2-pro"),
    ],
)
def test_inexact_friendly_fields_are_refused_naming_the_valid_values(
    service: LocalVideojobs, api: httpx.Client, body: dict[str, Any], param: str, names: str
) -> None:
    error = refused(api.post("/videos", json={"prompt": "a fox", **body}))
    assert error["param"] == param
    assert names in error["message"]


# --- callback URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://100.64.0.1/",
        "https://user:secret@example.com/hook",
        "https://[::ffff:192.168.1.1]/",
        "ftp://127.0.0.1/",
    ],
)
def test_unsafe_callback_urls_are_refused_without_creating_anything(
    service: LocalVideojobs, api: httpx.Client, url: str
) -> None:
    before = job_count(service)
    error = refused(api.post("/videos", json={"prompt": "a fox", "callback_url": url}))
    assert error["param"] == "callback_url"
    assert "secret" not in error["message"]
    assert job_count(service) == before


# --- Idempotency-Key -------------------------------------------------------------------------


def test_the_same_key_and_body_give_the_same_job_and_one_provider_create(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a create sent twice with one Idempotency-Key, once as JSON and once as a form
    headers = {"Idempotency-Key": "same-key-twice"}
    first = created(
        api.post("/videos", json={"prompt": "a red kite", "seconds": 4}, headers=headers)
    )
    again = created(
        api.post(
            "/videos",
            files=[("prompt", (None, "a red kite")), ("seconds", (None, "4"))],
            headers=headers,
        )
    )
    # Then both answers are the same job, and the provider was asked to create one video
    # (fields that move with time, like the queue position, may differ between the two).
    volatile = {"queue_position", "status_reason", "status", "progress"}
    assert {k: v for k, v in again.items() if k not in volatile} == {
        k: v for k, v in first.items() if k not in volatile
    }
    completed(api, first["id"])
    assert len(provider_creates(service)) == 1


def test_concurrent_duplicates_give_one_job(service: LocalVideojobs, api: httpx.Client) -> None:
    # Given four identical requests with one key, in flight at once
    def send(_: int) -> dict[str, Any]:
        return created(
            api.post(
                "/videos",
                json={"prompt": "a blue kite"},
                headers={"Idempotency-Key": "concurrent-key"},
            )
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(send, range(4)))
    # Then every caller got the one job, and the provider made one video
    assert len({job["id"] for job in answers}) == 1
    completed(api, answers[0]["id"])
    assert len(provider_creates(service)) == 1


def test_the_same_key_with_another_body_is_a_409(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    headers = {"Idempotency-Key": "reused-key"}
    job = created(api.post("/videos", json={"prompt": "a green kite"}, headers=headers))
    before = job_count(service)
    error = refused(
        api.post("/videos", json={"prompt": "a yellow kite"}, headers=headers), status=409
    )
    assert (error["type"], error["code"]) == ("invalid_request_error", "idempotency_key_reused")
    assert job_count(service) == before
    completed(api, job["id"])


def test_a_key_is_private_to_its_tenant(service: LocalVideojobs, api: httpx.Client) -> None:
    other_key = service.create_tenant_key("idempotency-other")
    headers = {"Idempotency-Key": "shared-name"}
    mine = created(api.post("/videos", json={"prompt": "a kite"}, headers=headers))
    with httpx.Client(
        base_url=service.api_url, headers={"Authorization": f"Bearer {other_key}"}, timeout=30
    ) as other:
        theirs = created(other.post("/videos", json={"prompt": "a kite"}, headers=headers))
        assert theirs["id"] != mine["id"]
        completed(other, theirs["id"])
    completed(api, mine["id"])


def test_an_overlong_key_is_a_400(service: LocalVideojobs, api: httpx.Client) -> None:
    response = api.post(
        "/videos", json={"prompt": "a kite"}, headers={"Idempotency-Key": "k" * 256}
    )
    assert refused(response)["code"] == "invalid_idempotency_key"


# --- remix -----------------------------------------------------------------------------------


def test_a_completed_video_can_be_remixed(service: LocalVideojobs, api: httpx.Client) -> None:
    # Given a completed 8-second landscape video
    source = completed(
        api,
        created(
            api.post("/videos", json={"prompt": "a calm sea", "seconds": "8", "size": "1280x720"})
        )["id"],
    )
    # When it is remixed
    remix = created(
        api.post(
            f"/videos/{source['id']}/remix",
            json={"prompt": "the same sea in a storm", "metadata": {"take": "2"}},
        )
    )
    # Then the remix is a new job of the same shape that completes, pointing at its source
    assert remix["id"] != source["id"]
    assert (remix["size"], remix["seconds"], remix["model"]) == ("1280x720", "8", "sora-2")
    assert remix["remixed_from_video_id"] == source["id"]
    assert remix["metadata"] == {"take": "2"}
    done = completed(api, remix["id"])
    assert done["remixed_from_video_id"] == source["id"]
    remixes = [r for r in service.emulator.requests() if r["path"].endswith("/remix")]
    assert len(remixes) == 1 and len(provider_creates(service)) == 1


def test_a_video_that_is_not_completed_cannot_be_remixed(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    source = created(api.post("/videos", json={"prompt": "a slow sunrise"}))
    error = refused(api.post(f"/videos/{source['id']}/remix", json={"prompt": "faster"}))
    assert error["code"] == "video_not_ready"
    completed(api, source["id"])


def test_remixing_an_unknown_or_foreign_video_is_a_404(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    stranger = service.create_tenant_key("remix-stranger")
    source = completed(api, created(api.post("/videos", json={"prompt": "mine"}))["id"])
    with httpx.Client(
        base_url=service.api_url, headers={"Authorization": f"Bearer {stranger}"}, timeout=30
    ) as other:
        refused(other.post(f"/videos/{source['id']}/remix", json={"prompt": "x"}), status=404)
    refused(api.post("/videos/video_" + "0" * 32 + "/remix", json={"prompt": "x"}), status=404)


# --- the official openai SDK -----------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_openai_sdk_creates_with_and_without_a_reference_image(
    service: LocalVideojobs, api: httpx.Client, tmp_path: Any
) -> None:
    # Given the official SDK pointed at the service
    client = openai.OpenAI(base_url=service.api_url, api_key=service.api_key, max_retries=0)
    image_path = tmp_path / "start.png"
    image_path.write_bytes(png(1280, 720))
    # When it creates a plain video (multipart, no file) with metadata, and one from an image
    plain = client.videos.create(
        prompt="a meadow in wind", seconds="4", extra_body={"metadata": {"via": "sdk"}}
    )
    with image_path.open("rb") as handle:
        framed = client.videos.create(
            prompt="the meadow comes alive", size="1280x720", input_reference=handle
        )
    # Then both are jobs that complete, the metadata arrived, and the image reached the provider
    assert plain.id.startswith("video_") and framed.size == "1280x720"
    assert completed(api, plain.id)["metadata"] == {"via": "sdk"}
    completed(api, framed.id)
    reference = provider_video(service, framed.id)["input_reference"]
    assert (reference["width"], reference["height"]) == (1280, 720)
    # And a bad request is the SDK's BadRequestError, naming the parameter
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(prompt="x", size="1792x1024")  # needs sora-2-pro
    assert caught.value.param == "size"
