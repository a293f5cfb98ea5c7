"""Adapters turn the AWS SDK's errors into domain errors, so nothing outside them imports an
AWS SDK or an HTTP client."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from videojobs.adapters import aws, workflow
from videojobs.adapters.storage import assets
from videojobs.models.errors import StorageUnavailableError, WorkflowUnavailableError

PACKAGE = Path(__file__).resolve().parents[2] / "functions/videojobs"
# Everything but the adapters: handlers, logic, models and the package's own modules.
OUTSIDE_ADAPTERS = sorted(
    path for path in PACKAGE.rglob("*.py") if "adapters" not in path.relative_to(PACKAGE).parts
)


class Refusing:
    """A boto3 client whose every call AWS refuses."""

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, name)

        return call


def test_a_refused_start_execution_is_a_workflow_unavailable_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given Step Functions refusing every call
    monkeypatch.setattr(aws, "stepfunctions", Refusing)
    # When a job's execution is started, Then the adapter raises the domain error
    with pytest.raises(WorkflowUnavailableError):
        workflow.start("video_x", {"job_id": "video_x"})


def test_a_refused_reference_image_upload_is_a_storage_unavailable_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given S3 refusing every call
    monkeypatch.setattr(aws, "s3", Refusing)
    # When a reference image is stored, Then the adapter raises the domain error
    with pytest.raises(StorageUnavailableError):
        assets.store_input("inputs/t/x.png", b"png", "image/png")


@pytest.mark.parametrize("path", OUTSIDE_ADAPTERS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_adapters_import_an_aws_sdk_or_http_client(path: Path) -> None:
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"boto3", "botocore", "httpx"}, path
