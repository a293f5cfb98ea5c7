"""The real template less one permission: the step that needs it fails its job, as a
deployment of that template would (a module of its own: each test runs its own stack)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pipeline_support import PIPELINE_PARAMETERS, PIPELINE_SPEED, wait_for_job

from videojobs_local.local import DEFAULT_TEMPLATE, run_local
from videojobs_local.stack.template import load_yaml


def template_variant(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], name: str = "template.yaml"
) -> Path:
    """template.yaml changed by ``change``, written where its relative paths still resolve."""
    document = load_yaml(DEFAULT_TEMPLATE.read_text())
    change(document["Resources"])
    root = DEFAULT_TEMPLATE.parent
    document["Globals"]["Function"]["CodeUri"] = str(root / "functions")
    machine = document["Resources"]["VideoJobStateMachine"]["Properties"]
    machine["DefinitionUri"] = str(root / machine["DefinitionUri"])
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _grants_s3_writes(policy: Any) -> bool:
    if isinstance(policy, dict) and any(name.startswith("S3") for name in policy):
        return "S3ReadPolicy" not in policy
    text = json.dumps(policy)
    return "s3:PutObject" in text or '"s3:*"' in text


def _without_store_writes(resources: dict[str, Any]) -> None:
    properties = resources["StoreFunction"]["Properties"]
    before = properties["Policies"]
    properties["Policies"] = [p for p in before if not _grants_s3_writes(p)]
    assert len(properties["Policies"]) < len(before)


def _without_store_invoke(resources: dict[str, Any]) -> None:
    properties = resources["VideoJobStateMachine"]["Properties"]
    before = properties["Policies"]
    properties["Policies"] = [
        p
        for p in before
        if not (
            isinstance(p, dict)
            and p.get("LambdaInvokePolicy", {}).get("FunctionName") == {"Ref": "StoreFunction"}
        )
    ]
    assert len(properties["Policies"]) == len(before) - 1


@pytest.mark.parametrize(
    ("change", "owner", "action"),
    [
        (_without_store_writes, "StoreFunction", "s3:PutObject"),
        (_without_store_invoke, "VideoJobStateMachine", "lambda:InvokeFunction"),
    ],
    ids=["store-function-cannot-write-s3", "state-machine-cannot-invoke-store"],
)
def test_a_job_whose_step_lacks_a_permission_ends_failed(
    tmp_path: Path,
    render_cache_dir: Path,
    change: Callable[[dict[str, Any]], None],
    owner: str,
    action: str,
) -> None:
    # Given the real template with one permission the store step needs taken away
    variant = template_variant(tmp_path, change)

    with run_local(
        template=variant,
        emulator_speed=PIPELINE_SPEED,
        parameter_overrides=PIPELINE_PARAMETERS,
        render_cache_dir=render_cache_dir,
    ) as service:
        with httpx.Client(
            base_url=service.api_url,
            headers={"Authorization": f"Bearer {service.api_key}"},
            timeout=30.0,
        ) as api:
            # When a job runs
            created = api.post(
                "/videos",
                json={"prompt": f"a lighthouse {uuid.uuid4().hex}", "seconds": "4"},
            )
            assert created.status_code == 200, created.text
            job = wait_for_job(api, created.json()["id"])

        # Then it ends failed, with a reason, because the call was refused
        assert job["status"] == "failed"
        assert job["error"]["message"]
        assert service.stack.iam is not None
        refused = {(d.owner, d.action) for d in service.stack.iam.denials}
        assert (owner, action) in refused
