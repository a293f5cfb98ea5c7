"""``videojobs keys``: create, list and revoke keys on the local stack through its state file,
and on a "deployed" stack found through samconfig.toml and CloudFormation outputs (moto)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from videojobs_local.cli import main
from videojobs_local.local import LocalVideojobs


@pytest.fixture(scope="module")
def state_file(running_service: LocalVideojobs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state file `videojobs local up` would write for this stack."""
    path = tmp_path_factory.mktemp("keys-cli") / "stack.json"
    path.write_text(json.dumps(running_service.state()))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def status_with(service: LocalVideojobs, api_key: str) -> int:
    """What the API answers this key on a read (404: authenticated, the id does not exist)."""
    response = httpx.get(
        f"{service.api_url}/videos/video_{'0' * 32}",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30.0,
    )
    return response.status_code


def table_items(service: LocalVideojobs, key: str) -> list[dict[str, Any]]:
    table = service.state()[key]
    items: list[dict[str, Any]] = service.stack.client("dynamodb").scan(TableName=table)["Items"]
    return items


def test_keys_create_prints_a_working_key_and_the_new_tenants_callback_secret(
    running_service: LocalVideojobs, state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # When a key is created for a new tenant through the local stack's state file
    code, out, _ = run(
        capsys, "keys", "create", "--tenant", "acme-cli", "--state-file", str(state_file)
    )

    # Then it prints the key, the tenant and the tenant's callback secret as JSON
    assert code == 0
    created = json.loads(out)
    assert created["tenant_id"] == "acme-cli"
    assert created["api_key"].startswith("vj_")
    assert created["callback_secret"].startswith("whsec_")
    assert created["key_id"].startswith("key_")
    # ... and the key authenticates against the API
    assert status_with(running_service, created["api_key"]) == 404
    assert status_with(running_service, "vj_not-a-key") == 401

    # When a second key is created for the same tenant
    code, out, _ = run(
        capsys, "keys", "create", "--tenant", "acme-cli", "--state-file", str(state_file)
    )

    # Then it is a different key, and the secret is not shown again (the tenant existed, and
    # only the callbacks function can decrypt its secret)
    again = json.loads(out)
    assert code == 0
    assert again["api_key"] != created["api_key"]
    assert again["callback_secret"] is None
    assert running_service.tenant_callback_secret("acme-cli") == created["callback_secret"]
    # ... and the tenants table holds it only encrypted
    (item,) = [
        i
        for i in table_items(running_service, "tenants_table")
        if i["tenant_id"]["S"] == "acme-cli"
    ]
    assert "B" in item["callback_secret"]
    assert created["callback_secret"] not in json.dumps(item, default=str)
    assert "whsec_" not in json.dumps(item, default=str)


def test_keys_list_shows_ids_and_tenants_but_never_keys_or_hashes(
    running_service: LocalVideojobs, state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two keys of tenant listed-a and one of tenant listed-b
    keys = []
    for tenant in ("listed-a", "listed-a", "listed-b"):
        _, out, _ = run(
            capsys, "keys", "create", "--tenant", tenant, "--state-file", str(state_file)
        )
        keys.append(json.loads(out))

    # When listed-a's keys are listed
    code, out, _ = run(
        capsys, "keys", "list", "--tenant", "listed-a", "--state-file", str(state_file)
    )

    # Then exactly its two keys appear, by id, without any secret material
    assert code == 0
    listed = json.loads(out)
    assert sorted(k["key_id"] for k in listed) == sorted([keys[0]["key_id"], keys[1]["key_id"]])
    assert {k["tenant_id"] for k in listed} == {"listed-a"}
    assert all(k["revoked"] is False for k in listed)
    hashes = {item["key_hash"]["S"] for item in table_items(running_service, "api_keys_table")}
    for secret in [*(k["api_key"] for k in keys), *hashes, keys[0]["callback_secret"]]:
        assert secret not in out

    # When every key is listed
    _, out, _ = run(capsys, "keys", "list", "--state-file", str(state_file))

    # Then the other tenant's key and the stack's seeded tenant are there too
    tenants = {k["tenant_id"] for k in json.loads(out)}
    assert {"listed-a", "listed-b", running_service.tenant_id} <= tenants


def test_keys_revoke_stops_a_key_at_once_and_leaves_the_others(
    running_service: LocalVideojobs, state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two keys of one tenant, both working
    _, out, _ = run(
        capsys, "keys", "create", "--tenant", "revoking", "--state-file", str(state_file)
    )
    doomed = json.loads(out)
    _, out, _ = run(
        capsys, "keys", "create", "--tenant", "revoking", "--state-file", str(state_file)
    )
    kept = json.loads(out)
    assert status_with(running_service, doomed["api_key"]) == 404

    # When one is revoked by its id
    code, out, _ = run(capsys, "keys", "revoke", doomed["key_id"], "--state-file", str(state_file))

    # Then it is refused from the next request on; the other key still works
    assert code == 0
    assert json.loads(out)["revoked"] is True
    assert status_with(running_service, doomed["api_key"]) == 401
    assert status_with(running_service, kept["api_key"]) == 404
    _, out, _ = run(capsys, "keys", "list", "--tenant", "revoking", "--state-file", str(state_file))
    assert {k["key_id"]: k["revoked"] for k in json.loads(out)} == {
        doomed["key_id"]: True,
        kept["key_id"]: False,
    }


def test_keys_revoke_of_an_unknown_id_fails_and_says_so(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # When an id that was never issued is revoked
    code, out, err = run(
        capsys, "keys", "revoke", "key_0000000000000000", "--state-file", str(state_file)
    )

    # Then the command fails with a message
    assert code == 1
    assert out == ""
    assert "no key with id 'key_0000000000000000'" in err


@pytest.mark.parametrize("tenant", ["../etc", "", "-leading-dash", "a" * 65, "white space", "é"])
def test_an_invalid_tenant_name_is_refused_and_creates_nothing(
    running_service: LocalVideojobs,
    state_file: Path,
    capsys: pytest.CaptureFixture[str],
    tenant: str,
) -> None:
    # Given the tables as they are
    before = (
        len(table_items(running_service, "tenants_table")),
        len(table_items(running_service, "api_keys_table")),
    )

    # When a key is asked for a tenant id that is not one
    code, out, err = run(
        capsys, "keys", "create", f"--tenant={tenant}", "--state-file", str(state_file)
    )

    # Then the command fails with the rule, and neither a tenant nor a key was written
    assert code == 2
    assert out == ""
    assert "tenant id is 1-64 characters" in err
    after = (
        len(table_items(running_service, "tenants_table")),
        len(table_items(running_service, "api_keys_table")),
    )
    assert after == before


def test_a_state_file_that_is_missing_or_incomplete_is_reported(
    running_service: LocalVideojobs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # When the state file does not exist
    code, _, err = run(capsys, "keys", "list", "--state-file", str(tmp_path / "nope.json"))

    # Then the command says it cannot read it
    assert code == 2
    assert "cannot read the state file" in err

    # When it lacks the tenants table (written by an older `local up`)
    state = running_service.state()
    del state["tenants_table"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(state))
    code, _, err = run(capsys, "keys", "list", "--state-file", str(old))

    # Then it names what is missing
    assert code == 2
    assert "no tenants_table" in err


def test_the_process_environment_is_left_as_it_was(
    state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the environment before
    before = dict(os.environ)

    # When a command points the data-access layer at the stack
    code, _, _ = run(capsys, "keys", "list", "--tenant", "nobody", "--state-file", str(state_file))

    # Then every variable is back as it was
    assert code == 0
    assert dict(os.environ) == before


def test_without_a_state_file_the_stack_is_found_from_samconfig_and_its_outputs(
    running_service: LocalVideojobs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployed stack (here: a CloudFormation stack in moto) whose outputs name the
    # tables and the callback-secret key, and a samconfig.toml whose [staging] environment
    # names that stack
    state = running_service.state()
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "ApiKeysTableName": {"Value": state["api_keys_table"]},
            "TenantsTableName": {"Value": state["tenants_table"]},
            "CallbackSecretKeyArn": {"Value": state["callback_secret_key"]},
        },
    }
    running_service.stack.client("cloudformation").create_stack(
        StackName="videojobs-keys-cli", TemplateBody=json.dumps(template)
    )
    config = tmp_path / "samconfig.toml"
    config.write_text(
        'version = 0.1\n[default.global.parameters]\nstack_name = "videojobs-elsewhere"\n'
        '[staging.global.parameters]\nstack_name = "videojobs-keys-cli"\n'
    )

    # When a key is created without --state-file, for the staging environment
    code, out, err = run(
        capsys,
        "keys",
        "create",
        "--tenant",
        "deployed-co",
        "--config-file",
        str(config),
        "--config-env",
        "staging",
        "--region",
        state["region"],
    )

    # Then it lands in the tables the outputs name, and works against the API
    assert code == 0, err
    created = json.loads(out)
    assert status_with(running_service, created["api_key"]) == 404
    tenants = {item["tenant_id"]["S"] for item in table_items(running_service, "tenants_table")}
    assert "deployed-co" in tenants

    # When samconfig's default environment names a stack that does not exist
    code, out, err = run(capsys, "keys", "list", "--config-file", str(config))

    # Then the command says which stack it could not read
    assert code == 2
    assert "cannot read the stack videojobs-elsewhere" in err


def test_keys_rotate_secret_prints_a_new_secret_and_how_long_the_old_one_signs(
    running_service: LocalVideojobs, state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a tenant created with a callback secret
    _, out, _ = run(
        capsys, "keys", "create", "--tenant", "rotating", "--state-file", str(state_file)
    )
    old = json.loads(out)["callback_secret"]

    # When its secret is rotated with a two-hour overlap
    before = int(time.time())
    code, out, _ = run(
        capsys,
        "keys",
        "rotate-secret",
        "--tenant",
        "rotating",
        "--overlap-hours",
        "2",
        "--state-file",
        str(state_file),
    )

    # Then the new secret is printed once, with the end of the overlap
    assert code == 0
    rotated = json.loads(out)
    assert rotated["tenant_id"] == "rotating"
    assert rotated["callback_secret"].startswith("whsec_") and rotated["callback_secret"] != old
    assert before + 7200 <= rotated["previous_secret_signs_until"] <= int(time.time()) + 7200
    assert old not in out
    assert running_service.tenant_callback_secret("rotating") == rotated["callback_secret"]

    # When the tenant does not exist
    code, _, err = run(
        capsys, "keys", "rotate-secret", "--tenant", "nobody", "--state-file", str(state_file)
    )

    # Then nothing is created and the operator is told
    assert code == 2
    assert "No tenant 'nobody'" in err
