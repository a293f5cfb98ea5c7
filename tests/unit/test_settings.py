"""The functions' settings: those that name the stack's resources have no defaults, and a
missing one is a clear error where it is first needed, not a call to a resource of another
name; the setting that relaxes the http checks is off unless the local stack sets it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from videojobs.adapters import aws, callback_secrets, workflow
from videojobs.adapters.dal import jobs
from videojobs.settings import SettingMissingError, Settings, get_settings

# Attribute -> variable, for every setting that names a resource.
RESOURCE_SETTINGS = {
    name: value.variable
    for name, value in vars(Settings).items()
    if type(value).__name__ == "_ResourceName"
}


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Clears variables with ``unset.delenv``. boto3 clients can be built (building one sends
    nothing), but any request would go nowhere: the endpoint is a closed local port."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(name, value)
    aws.reset_clients()
    yield monkeypatch
    aws.reset_clients()
    get_settings.cache_clear()


def test_the_functions_start_without_any_resource_name() -> None:
    # A function reads only the settings it needs: one it never uses may be missing.
    settings = Settings.model_validate({})

    assert settings.prompt_max_chars == 4000
    assert settings.resource_names == {}


@pytest.mark.parametrize(("attribute", "variable"), sorted(RESOURCE_SETTINGS.items()))
def test_a_missing_resource_name_fails_at_first_use_naming_its_variable(
    attribute: str, variable: str
) -> None:
    # Every other one set (as tests/unit/conftest.py sets them), this one not.
    environment = {name: f"value-of-{name}" for name in RESOURCE_SETTINGS.values()}
    del environment[variable]
    settings = Settings.model_validate(environment)

    with pytest.raises(SettingMissingError, match=f"^{variable}, which names"):
        getattr(settings, attribute)
    assert getattr(Settings.model_validate({variable: "name "}), attribute) == "name"


def test_the_unit_tests_run_with_every_resource_name_a_function_gets() -> None:
    settings = get_settings()

    assert len(RESOURCE_SETTINGS) == 14
    for attribute, variable in RESOURCE_SETTINGS.items():
        if variable != "CALLBACK_SECRET_KEY_ID":
            assert getattr(settings, attribute) == os.environ[variable]


def test_a_blank_resource_name_is_missing() -> None:
    settings = Settings.model_validate({"ASSETS_BUCKET": "  "})

    with pytest.raises(SettingMissingError, match="ASSETS_BUCKET"):
        _ = settings.bucket


def test_a_job_read_without_the_jobs_table_fails_before_any_aws_call(
    unset: pytest.MonkeyPatch,
) -> None:
    unset.delenv("JOBS_TABLE")
    get_settings.cache_clear()

    with pytest.raises(SettingMissingError, match="JOBS_TABLE"):
        jobs.get("video_" + "0" * 32)


def test_a_workflow_start_without_the_state_machine_fails_naming_it(
    unset: pytest.MonkeyPatch,
) -> None:
    unset.delenv("STATE_MACHINE_ARN")
    get_settings.cache_clear()

    with pytest.raises(SettingMissingError, match="STATE_MACHINE_ARN"):
        workflow.start("video_" + "0" * 32, {})


def test_encrypting_a_callback_secret_without_the_key_fails_naming_it(
    unset: pytest.MonkeyPatch,
) -> None:
    unset.delenv("CALLBACK_SECRET_KEY_ID", raising=False)
    get_settings.cache_clear()

    with pytest.raises(SettingMissingError, match="CALLBACK_SECRET_KEY_ID"):
        callback_secrets.encrypt("acme", "whsec_x")


def test_local_mode_is_off_unless_set() -> None:
    assert Settings.model_validate({}).local_mode is False
    assert Settings.model_validate({"VIDEOJOBS_LOCAL_MODE": "true"}).local_mode is True
    with pytest.raises(ValueError, match="https"):
        Settings.model_validate({"PROVIDER_BASE_URL": "http://127.0.0.1:9/v1"})
