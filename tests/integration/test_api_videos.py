"""Listing and deleting videos over HTTP on the local stack: cursor paging in both orders,
filters, refused parameters, and DELETE of a queued, a generating and a finished job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pipeline_support import wait_for_job

from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow


def client_for(service: LocalVideojobs, api_key: str) -> httpx.Client:
    return httpx.Client(
        base_url=service.api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30.0
    )


@pytest.fixture(scope="module")
def lister_key(running_service: LocalVideojobs) -> str:
    """A tenant of its own, so the listing holds exactly the jobs this module made for it."""
    return running_service.create_tenant_key("lister")


@pytest.fixture(scope="module")
def listed_jobs(running_service: LocalVideojobs, lister_key: str) -> list[dict[str, Any]]:
    """Five finished jobs of the ``lister`` tenant (one failed), in creation order."""
    prompts = ["one", "two", "three [[fail]]", "four", "five"]
    with client_for(running_service, lister_key) as api:
        created = []
        for prompt in prompts:
            response = api.post("/videos", json={"prompt": f"listed {prompt}"})
            assert response.status_code == 200, response.text
            created.append(response.json())
        return [wait_for_job(api, job["id"]) for job in created]


@pytest.fixture
def lister(service: LocalVideojobs, lister_key: str) -> Iterator[httpx.Client]:
    with client_for(service, lister_key) as api:
        yield api


def newest_first(jobs: list[dict[str, Any]]) -> list[str]:
    # created_at has one-second resolution; the listing breaks ties by id, and so does this.
    return [j["id"] for j in sorted(jobs, key=lambda j: (j["created_at"], j["id"]), reverse=True)]


def page_through(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    pages = []
    query: dict[str, Any] = dict(params)
    while True:
        response = api.get("/videos", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        if not page["has_more"]:
            return pages
        query["after"] = page["last_id"]


def job_item(service: LocalVideojobs, job_id: str) -> dict[str, Any]:
    item: dict[str, Any] = service.stack.client("dynamodb").get_item(
        TableName=service.state()["jobs_table"], Key={"job_id": {"S": job_id}}, ConsistentRead=True
    )["Item"]
    return item


def execution_status(service: LocalVideojobs, job_id: str) -> str:
    arn = (
        service.state()["state_machine_arn"].replace(":stateMachine:", ":execution:") + ":" + job_id
    )
    return str(service.stack.wait_for_execution(arn, timeout=30)["status"])


def slot_holders(service: LocalVideojobs) -> set[str]:
    item = (
        service.stack.client("dynamodb")
        .get_item(
            TableName=service.state()["control_table"],
            Key={"pk": {"S": "semaphore#jobs"}},
            ConsistentRead=True,
        )
        .get("Item", {})
    )
    return set(item.get("holders", {}).get("SS", []))


def stored_keys(service: LocalVideojobs, job_id: str) -> list[str]:
    listed = service.stack.client("s3").list_objects_v2(
        Bucket=service.state()["bucket"], Prefix=f"videos/{service.tenant_id}/{job_id}/"
    )
    return sorted(obj["Key"] for obj in listed.get("Contents", []))


def provider_deletes(service: LocalVideojobs) -> list[dict[str, Any]]:
    return [r for r in service.emulator.requests() if r["method"] == "DELETE"]


def assert_gone(api: httpx.Client, job_id: str) -> None:
    for method, path in [
        ("GET", f"/videos/{job_id}"),
        ("GET", f"/videos/{job_id}/content"),
        ("DELETE", f"/videos/{job_id}"),
    ]:
        response = api.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert job_id not in {j["id"] for j in api.get("/videos", params={"limit": 100}).json()["data"]}


# --- listing -------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_paging_by_two_visits_every_job_once_in_order(
    listed_jobs: list[dict[str, Any]], lister: httpx.Client, order: str
) -> None:
    # Given five jobs of one tenant
    expected = newest_first(listed_jobs)
    if order == "asc":
        expected.reverse()
    # When the tenant pages through them two at a time
    pages = page_through(lister, limit=2, order=order)
    # Then the pages are 2, 2, 1 in the requested order, each with its cursors
    assert [len(p["data"]) for p in pages] == [2, 2, 1]
    assert [v["id"] for p in pages for v in p["data"]] == expected
    for page in pages:
        assert page["object"] == "list"
        assert page["first_id"] == page["data"][0]["id"]
        assert page["last_id"] == page["data"][-1]["id"]
    assert [p["has_more"] for p in pages] == [True, True, False]


def test_the_default_listing_is_newest_first_with_full_video_objects(
    listed_jobs: list[dict[str, Any]], lister: httpx.Client
) -> None:
    page = lister.get("/videos").json()
    assert [v["id"] for v in page["data"]] == newest_first(listed_jobs)
    assert page["has_more"] is False
    completed = next(v for v in page["data"] if v["status"] == "completed")
    assert completed["object"] == "video"
    assert completed["progress"] == 100
    assert set(completed["assets"]) == {"video", "thumbnail", "spritesheet"}


def test_answers_carrying_download_links_are_never_cached_and_download_as_attachments(
    listed_jobs: list[dict[str, Any]], lister: httpx.Client
) -> None:
    # Given a completed job
    job_id = next(j["id"] for j in listed_jobs if j["status"] == "completed")
    # When it is read, listed, and its content asked for
    read = lister.get(f"/videos/{job_id}")
    listed = lister.get("/videos", params={"limit": 2})
    content = lister.get(f"/videos/{job_id}/content", params={"variant": "thumbnail"})
    # Then no answer may be stored by a cache: they carry presigned links
    for response in (read, listed, content):
        assert response.headers["cache-control"] == "no-store", response.request.url
    assert content.status_code == 302
    # And each link downloads as an attachment named after the job, of its variant's type
    expected = {
        "video": ("video/mp4", f"{job_id}.mp4"),
        "thumbnail": ("image/webp", f"{job_id}_thumbnail.webp"),
        "spritesheet": ("image/jpeg", f"{job_id}_spritesheet.jpg"),
    }
    links = dict(read.json()["assets"])
    links["thumbnail (content)"] = content.headers["location"]
    for name, url in links.items():
        kind, filename = expected[name.split(" ")[0]]
        download = httpx.get(url, timeout=30)
        assert download.status_code == 200, name
        assert download.headers["content-type"] == kind, name
        assert download.headers["content-disposition"] == f'attachment; filename="{filename}"'


def test_status_filter_lists_only_jobs_in_that_status(
    listed_jobs: list[dict[str, Any]], lister: httpx.Client
) -> None:
    failed = [j["id"] for j in listed_jobs if j["status"] == "failed"]
    assert len(failed) == 1
    response = lister.get("/videos", params={"status": "failed"})
    assert response.status_code == 200, response.text
    assert [v["id"] for v in response.json()["data"]] == failed
    completed = lister.get("/videos", params={"status": "completed", "limit": 2}).json()
    assert len(completed["data"]) == 2 and completed["has_more"] is True
    assert all(v["status"] == "completed" for v in completed["data"])
    assert lister.get("/videos", params={"status": "cancelled"}).json()["data"] == []


def test_batch_filter_lists_only_that_batchs_jobs(
    service: LocalVideojobs, listed_jobs: list[dict[str, Any]], lister: httpx.Client
) -> None:
    # Given two of the jobs belonging to one batch
    batch_id = "vbatch_" + "ab" * 16
    members = {listed_jobs[0]["id"], listed_jobs[3]["id"]}
    for job_id in members:
        service.stack.client("dynamodb").update_item(
            TableName=service.state()["jobs_table"],
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET batch_id = :b",
            ExpressionAttributeValues={":b": {"S": batch_id}},
        )
    # When the tenant lists that batch, and then another one
    listed = lister.get("/videos", params={"batch_id": batch_id}).json()
    other = lister.get("/videos", params={"batch_id": "vbatch_" + "cd" * 16}).json()
    # Then only the members appear, with their batch id, and no other batch's jobs
    assert {v["id"] for v in listed["data"]} == members
    assert {v["batch_id"] for v in listed["data"]} == {batch_id}
    assert other == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }


def test_a_deleted_job_still_works_as_a_cursor(
    service: LocalVideojobs, lister_key: str, listed_jobs: list[dict[str, Any]]
) -> None:
    # Given a client that read the first page, then deleted its last video
    with client_for(service, lister_key) as api:
        first = api.get("/videos", params={"limit": 2}).json()
        assert api.delete(f"/videos/{first['last_id']}").status_code == 200
        # When it asks for the next page after the deleted video
        response = api.get("/videos", params={"limit": 2, "after": first["last_id"]})
    # Then it gets the videos that followed it, not an error
    assert response.status_code == 200, response.text
    assert [v["id"] for v in response.json()["data"]] == newest_first(listed_jobs)[2:4]


BAD_LIST_QUERIES: list[tuple[str, dict[str, str] | list[tuple[str, str]], str]] = [
    ("limit zero", {"limit": "0"}, "limit"),
    ("limit above 100", {"limit": "101"}, "limit"),
    ("limit negative", {"limit": "-1"}, "limit"),
    ("limit not a number", {"limit": "ten"}, "limit"),
    ("limit fractional", {"limit": "2.5"}, "limit"),
    ("limit empty", {"limit": ""}, "limit"),
    ("order unknown", {"order": "newest"}, "order"),
    ("order upper case", {"order": "DESC"}, "order"),
    ("status unknown", {"status": "done"}, "status"),
    ("after malformed", {"after": "video_123"}, "after"),
    ("after unknown", {"after": "video_" + "0" * 32}, "after"),
    ("after not a video id", {"after": "' OR 1=1 --"}, "after"),
    ("batch_id too long", {"batch_id": "b" * 129}, "batch_id"),
    ("unknown parameter", {"statuses": "failed"}, "statuses"),
    ("repeated parameter", [("limit", "2"), ("limit", "3")], "limit"),
]


@pytest.mark.parametrize(
    ("params", "param"),
    [pytest.param(p, name, id=case) for case, p, name in BAD_LIST_QUERIES],
)
def test_bad_list_parameters_are_400_naming_the_parameter(
    api: httpx.Client, params: Any, param: str
) -> None:
    response = api.get("/videos", params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]


def test_after_naming_another_tenants_video_is_refused(
    api: httpx.Client, listed_jobs: list[dict[str, Any]]
) -> None:
    response = api.get("/videos", params={"after": listed_jobs[-1]["id"]})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "after"


# --- deleting ------------------------------------------------------------------------------


def test_deleting_a_generating_job_cancels_it_everywhere(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a job the provider is generating slowly
    service.emulator.update_config(speed=1.0)
    job = api.post("/videos", json={"prompt": "a slow sunrise, cancelled"}).json()
    running = wait_for_job(api, job["id"], until=lambda j: j["status"] == "in_progress")
    provider_video = job_item(service, job["id"])["provider_video_id"]["S"]
    assert job["id"] in slot_holders(service)
    # When its owner deletes it
    response = api.delete(f"/videos/{running['id']}")
    # Then the answer is OpenAI's deleted shape
    assert response.status_code == 200, response.text
    assert response.json() == {"id": job["id"], "object": "video.deleted", "deleted": True}
    # And the workflow was stopped, the provider's video deleted and the slot freed
    assert execution_status(service, job["id"]) == "ABORTED"
    assert [(r["path"], r["status"]) for r in provider_deletes(service)] == [
        (f"/v1/videos/{provider_video}", 200)
    ]
    assert service.emulator.stats()["deleted"] == 1
    assert job["id"] not in slot_holders(service)
    # And the job is recorded as cancelled, then hidden: every route answers 404
    item = job_item(service, job["id"])
    assert item["status"]["S"] == "cancelled"
    assert item["error"]["M"]["code"]["S"] == "cancelled"
    assert "deleted_at" in item
    assert_gone(api, job["id"])
    # And the reaper, seeing the aborted execution later, leaves the cancel standing
    time.sleep(0.5)
    assert job_item(service, job["id"])["status"]["S"] == "cancelled"


def test_deleting_a_job_still_waiting_to_submit_creates_nothing(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a job whose submission the provider keeps throttling
    service.emulator.set_faults(rate_limit={"count": 1000, "retry_after": 30})
    job = api.post("/videos", json={"prompt": "never submitted"}).json()
    deadline = time.monotonic() + 10
    while not any(r["status"] == 429 for r in service.emulator.requests()):
        assert time.monotonic() < deadline, "the submit never reached the provider"
        time.sleep(0.05)
    # When it is deleted
    response = api.delete(f"/videos/{job['id']}")
    # Then it is cancelled without a provider video ever existing, and its slot is free
    assert response.status_code == 200, response.text
    assert execution_status(service, job["id"]) == "ABORTED"
    assert service.emulator.stats()["created"] == 0
    assert provider_deletes(service) == []
    assert job["id"] not in slot_holders(service)
    assert job_item(service, job["id"])["status"]["S"] == "cancelled"
    assert_gone(api, job["id"])


def test_deleting_a_completed_job_removes_its_stored_files(
    service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a completed job with its three files in the bucket
    job = api.post("/videos", json={"prompt": "a finished harbour"}).json()
    assert wait_for_job(api, job["id"])["status"] == "completed"
    assert len(stored_keys(service, job["id"])) == 3
    # When it is deleted
    response = api.delete(f"/videos/{job['id']}")
    # Then the files are gone, the provider's copy too, and the job stays completed but hidden
    assert response.status_code == 200, response.text
    assert response.json()["deleted"] is True
    assert stored_keys(service, job["id"]) == []
    assert service.emulator.stats()["deleted"] == 1
    assert job_item(service, job["id"])["status"]["S"] == "completed"
    assert_gone(api, job["id"])


def test_deleting_a_failed_job_hides_it(service: LocalVideojobs, api: httpx.Client) -> None:
    job = api.post("/videos", json={"prompt": "this one will [[fail]]"}).json()
    assert wait_for_job(api, job["id"])["status"] == "failed"
    assert api.delete(f"/videos/{job['id']}").status_code == 200
    assert job_item(service, job["id"])["status"]["S"] == "failed"
    assert_gone(api, job["id"])


@pytest.mark.parametrize(
    "video_id", ["video_" + "f" * 32, "video_123", "not-a-video", "VIDEO_" + "A" * 32]
)
def test_deleting_an_unknown_id_is_404(
    service: LocalVideojobs, api: httpx.Client, video_id: str
) -> None:
    response = api.delete(f"/videos/{video_id}")
    assert response.status_code == 404
    assert response.json()["error"]["message"]
    assert provider_deletes(service) == []


# --- the API's description -----------------------------------------------------------------


def test_the_openapi_document_and_docs_are_served_without_a_key(service: LocalVideojobs) -> None:
    with httpx.Client(base_url=service.api_url, timeout=30.0) as anonymous:
        document = anonymous.get("/openapi.json")
        docs = anonymous.get("/docs")
        listing = anonymous.get("/videos")
    assert document.status_code == 200, document.text
    assert document.headers["content-type"].startswith("application/json")
    served = document.json()
    assert "/v1/videos/{video_id}" in served["paths"]
    # The servers entry points back at this deployment, so tools can call it.
    (server,) = served["servers"]
    through_it = httpx.get(
        server["url"] + "/v1/videos",
        headers={"Authorization": f"Bearer {service.api_key}"},
        timeout=30.0,
    )
    assert through_it.status_code == 200, through_it.text
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in docs.text
    # The routes beside them still need a key.
    assert listing.status_code == 401
