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


BUS_NAME = "${AWS::StackName}-events"
PUBLISHERS = {"ApiFunction", "IntakeFunction", "FinalizeFunction", "FailFunction", "ReaperFunction"}


def put_events_buses(function: str) -> list[Any]:
    """The buses a function may put events on (SAM's EventBridgePutEventsPolicy)."""
    return [
        policy["EventBridgePutEventsPolicy"]["EventBusName"]
        for policy in FUNCTIONS[function].get("Policies") or []
        if isinstance(policy, dict) and "EventBridgePutEventsPolicy" in policy
    ]


def test_service_events_go_on_the_stacks_own_bus_and_the_callbacks_rule_listens_there() -> None:
    bus = RESOURCES["ServiceEventBus"]
    assert bus["Type"] == "AWS::Events::EventBus"
    assert str(bus["Properties"]["Name"]) == str({"Fn::Sub": BUS_NAME})
    rule = RESOURCES["JobEventsRule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "ServiceEventBus"}
    assert rule["EventPattern"]["source"] == ["videojobs"]


def test_only_the_publishing_functions_may_put_events_and_only_on_that_bus() -> None:
    allowed = {name: put_events_buses(name) for name in FUNCTIONS if put_events_buses(name)}
    assert set(allowed) == PUBLISHERS
    for buses in allowed.values():
        assert [str(b) for b in buses] == [str({"Fn::Sub": BUS_NAME})]


def test_the_bus_policy_denies_put_events_to_every_principal_but_the_publishers() -> None:
    (statement,) = RESOURCES["ServiceEventBus"]["Properties"]["Policy"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Deny",
        "*",
        "events:PutEvents",
    )
    roles = statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert {role["Fn::GetAtt"][0] for role in roles} == {f"{name}Role" for name in PUBLISHERS}


def kms_actions(function: str) -> list[str]:
    return [a for s in statements(function) for a in actions(s) if a.startswith("kms:")]


def test_only_the_callbacks_function_may_decrypt_callback_secrets() -> None:
    # Given the key that encrypts tenants' callback secrets
    policy = RESOURCES["CallbackSecretKey"]["Properties"]["KeyPolicy"]["Statement"]
    by_sid = {statement["Sid"]: statement for statement in policy}

    # Then its policy lets the callbacks function's role decrypt, and the account everything but
    # decrypting (so no IAM policy, an operator's included, can grant it elsewhere)
    assert by_sid["OnlyCallbacksDecrypts"]["Principal"] == {
        "AWS": {"Fn::GetAtt": ["CallbacksFunctionRole", "Arn"]}
    }
    assert by_sid["OnlyCallbacksDecrypts"]["Action"] == "kms:Decrypt"
    assert by_sid["AccountAdministersAndEncrypts"]["NotAction"] == ["kms:Decrypt"]
    assert "Action" not in by_sid["AccountAdministersAndEncrypts"]
    assert set(by_sid) == {"OnlyCallbacksDecrypts", "AccountAdministersAndEncrypts"}
    # ... and among the functions only the callbacks function's role holds a KMS permission at all
    holders = {name: kms_actions(name) for name in FUNCTIONS if kms_actions(name)}
    assert holders == {"CallbacksFunction": ["kms:Decrypt"]}


def test_the_api_function_has_no_access_to_callback_secret_material() -> None:
    # The API reads the tenants table (budgets): it finds only ciphertext there, and has no
    # KMS permission to turn it back into a secret
    assert kms_actions("ApiFunction") == []
    text = str(FUNCTIONS["ApiFunction"])
    assert "kms" not in text.lower() and "CallbackSecretKey" not in text
