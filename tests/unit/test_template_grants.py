"""What template.yaml grants for storing assets, publishing events and signing callbacks:
the calls the code makes are granted to the function that makes them, and to no other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from videojobs_local.stack.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
RESOURCES: dict[str, Any] = load_yaml((ROOT / "template.yaml").read_text())["Resources"]
FUNCTIONS = {
    name: spec["Properties"]
    for name, spec in RESOURCES.items()
    if spec["Type"] == "AWS::Serverless::Function"
}


def statements(function: str) -> list[dict[str, Any]]:
    """The inline statements a function's role carries (SAM policy templates left out)."""
    found: list[dict[str, Any]] = []
    for policy in FUNCTIONS[function].get("Policies") or []:
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
    return found


def actions(statement: dict[str, Any]) -> list[str]:
    value = statement.get("Action", [])
    return [value] if isinstance(value, str) else list(value)


def resource_text(statement: dict[str, Any]) -> str:
    return str(statement.get("Resource"))


def test_the_store_function_may_abort_its_uploads_under_videos_only() -> None:
    # Given the store function's statements
    aborts = [s for s in statements("StoreFunction") if "s3:AbortMultipartUpload" in actions(s)]

    # Then one grants AbortMultipartUpload, on the videos/ prefix of the assets bucket only
    (grant,) = aborts
    assert grant["Effect"] == "Allow"
    assert "${AssetsBucket}/videos/*" in resource_text(grant)


def test_no_other_function_may_abort_uploads() -> None:
    others = [
        name
        for name in FUNCTIONS
        if name != "StoreFunction"
        and any("s3:AbortMultipartUpload" in actions(s) for s in statements(name))
    ]
    assert others == []
