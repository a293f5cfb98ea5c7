"""Tenants are walled off: another tenant's ids answer 404 on every route that takes one
(never 403, which would confirm the id exists), probing them changes nothing, and listings
only ever show the caller's own jobs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipeline_support import PIPELINE_SPEED, wait_for_job

from videojobs_local.local import LocalVideojobs
from videojobs_local.stack.template import load_yaml

pytestmark = pytest.mark.slow


TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def client_for(service: LocalVideojobs, api_key: str) -> httpx.Client:
    return httpx.Client(
        base_url=service.api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30.0
    )


def job_item(service: LocalVideojobs, job_id: str) -> dict[str, Any]:
    item: dict[str, Any] = service.stack.client("dynamodb").get_item(
        TableName=service.state()["jobs_table"], Key={"job_id": {"S": job_id}}, ConsistentRead=True
    )["Item"]
    return item


def stored_keys(service: LocalVideojobs, job_id: str) -> list[str]:
    listed = service.stack.client("s3").list_objects_v2(
        Bucket=service.state()["bucket"], Prefix=f"videos/{service.tenant_id}/{job_id}/"
    )
    return sorted(obj["Key"] for obj in listed.get("Contents", []))


@pytest.fixture(scope="module")
def owner(running_service: LocalVideojobs) -> Iterator[httpx.Client]:
    with client_for(running_service, running_service.api_key) as api:
        yield api


@pytest.fixture(scope="module")
def intruder(running_service: LocalVideojobs) -> Iterator[httpx.Client]:
    with client_for(running_service, running_service.create_tenant_key("other")) as api:
        yield api


@pytest.fixture(scope="module")
def owned(running_service: LocalVideojobs, owner: httpx.Client) -> Iterator[dict[str, str]]:
    """The owner's ids: a completed job, a job still generating, and a batch."""
    done = owner.post("/videos", json={"prompt": "owned and finished"}).json()
    finished = wait_for_job(owner, done["id"])
    assert finished["status"] == "completed", finished["error"]
    batch = owner.post("/video_batches", json={"requests": [{"prompt": "owned batch item"}]})
    assert batch.status_code == 200, batch.text
    running_service.emulator.update_config(speed=1.0)
    running = owner.post("/videos", json={"prompt": "owned and still generating"}).json()
    wait_for_job(owner, running["id"], until=lambda j: j["status"] == "in_progress")
    yield {"completed": done["id"], "running": running["id"], "batch": batch.json()["id"]}
    running_service.emulator.update_config(speed=PIPELINE_SPEED)


def id_routes() -> list[tuple[str, str]]:
    """Every route of template.yaml with an id in its path, as (method, path template)."""
    template = load_yaml(TEMPLATE.read_text())
    routes = []
    for resource in template["Resources"].values():
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            props = event.get("Properties", {})
            if (
                event.get("Type") == "Api"
                and "{" in props.get("Path", "")
                and props["Method"].upper() != "ANY"
            ):
                routes.append((props["Method"].upper(), props["Path"]))
    return sorted(routes)


def probe(api: httpx.Client, method: str, path: str, ids: dict[str, str], key: str) -> Any:
    video_or_batch = ids["batch"] if "{batch_id}" in path else ids[key]
    url = path.removeprefix("/v1").replace("{video_id}", video_or_batch)
    url = url.replace("{batch_id}", video_or_batch)
    body = {"prompt": "a hijacked remix"} if method == "POST" else None
    return api.request(method, url, json=body)


# What a probe could change; progress and poll bookkeeping move on their own while a job runs.
WATCHED = ("tenant_id", "status", "error", "assets", "deleted_at", "provider_video_id", "request")


def snapshot(service: LocalVideojobs, ids: dict[str, str]) -> dict[str, Any]:
    items = {k: job_item(service, ids[k]) for k in ("completed", "running")}
    return {
        "jobs": {k: {f: item.get(f) for f in WATCHED} for k, item in items.items()},
        "files": stored_keys(service, ids["completed"]),
        "provider": {
            k: v for k, v in service.emulator.stats().items() if k in ("created", "deleted")
        },
    }


def test_the_route_table_covers_every_id_route_of_the_template() -> None:
    assert id_routes() == [
        ("DELETE", "/v1/videos/{video_id}"),
        ("GET", "/v1/video_batches/{batch_id}"),
        ("GET", "/v1/videos/{video_id}"),
        ("GET", "/v1/videos/{video_id}/content"),
        ("POST", "/v1/videos/{video_id}/cancel"),
        ("POST", "/v1/videos/{video_id}/remix"),
    ]


@pytest.mark.parametrize("target", ["completed", "running"])
def test_another_tenants_ids_are_not_found_on_every_route_and_nothing_changes(
    running_service: LocalVideojobs,
    owner: httpx.Client,
    intruder: httpx.Client,
    owned: dict[str, str],
    target: str,
) -> None:
    # Given the owner's jobs and batch as they are
    before = snapshot(running_service, owned)
    answers = {}
    # When the other tenant tries every route that takes an id, content in every variant
    for method, path in id_routes():
        answers[(method, path)] = probe(intruder, method, path, owned, target)
        if path.endswith("/content"):
            for variant in ("video", "thumbnail", "spritesheet"):
                url = path.removeprefix("/v1").replace("{video_id}", owned[target])
                answers[(method, f"{path}?{variant}")] = intruder.get(
                    url, params={"variant": variant}
                )
    # Then every answer is a 404 in the OpenAI error shape, never a 403 or a redirect
    for route, response in answers.items():
        assert response.status_code == 404, (route, response.status_code, response.text)
        assert response.json()["error"]["type"] == "invalid_request_error", route
    # And nothing of the owner's changed: job items, stored files, provider videos
    assert snapshot(running_service, owned) == before
    # And the owner still sees its job as before
    assert owner.get(f"/videos/{owned[target]}").status_code == 200


def test_listings_only_ever_show_the_callers_own_jobs(
    owner: httpx.Client, intruder: httpx.Client, owned: dict[str, str]
) -> None:
    # Given a job of the other tenant too
    theirs = intruder.post("/videos", json={"prompt": "the other tenant's own"}).json()
    # When each tenant lists, with and without filters
    mine_listed = {v["id"] for v in owner.get("/videos", params={"limit": 100}).json()["data"]}
    theirs_listed = set()
    for params in ({}, {"status": "completed"}, {"status": "in_progress"}, {"order": "asc"}):
        page = intruder.get("/videos", params={"limit": 100, **params}).json()
        theirs_listed |= {v["id"] for v in page["data"]}
    batch_page = intruder.get("/videos", params={"batch_id": owned["batch"]}).json()
    # Then neither sees the other's jobs
    assert {owned["completed"], owned["running"]} <= mine_listed
    assert theirs["id"] not in mine_listed
    assert theirs_listed == {theirs["id"]}
    assert batch_page["data"] == []
    # And the other tenant cannot page from the owner's job either
    response = intruder.get("/videos", params={"after": owned["completed"]})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "after"


def test_the_owner_can_still_delete_what_the_other_tenant_could_not(
    owner: httpx.Client, owned: dict[str, str]
) -> None:
    for key in ("running", "completed"):
        response = owner.delete(f"/videos/{owned[key]}")
        assert response.status_code == 200, response.text
        assert owner.get(f"/videos/{owned[key]}").status_code == 404
