"""videojobs on this machine: the real template.yaml on moto, with the emulator as provider.

This is the wiring behind ``videojobs local up``, ``make demo`` and the integration tests:
the emulator plays the provider (its webhooks point at the local webhook route), the stack's
provider secrets hold the emulator's key and webhook secret, and one tenant key is seeded.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videojobs_local.emulator import EmulatorConfig, EmulatorServer
from videojobs_local.stack import AwsFaults, LocalStack
from videojobs_local.stack.template import load_yaml, parse_parameter_overrides

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
DEFAULT_TENANT = "local"


@dataclass
class LocalVideojobs:
    """A running local deployment and everything a client needs to use it."""

    stack: LocalStack
    emulator: EmulatorServer
    api_url: str
    api_key: str
    tenant_id: str
    provider_webhook_url: str
    provider_webhook_secret: str

    def state(self) -> dict[str, Any]:
        """The state-file contract (see README: "The local stack")."""
        ids = self.stack.stack.physical_ids
        return {
            "api_url": self.api_url,
            "docs_url": self.api_url + "/docs",
            "console_url": self.console_url,
            "api_key": self.api_key,
            "tenant_id": self.tenant_id,
            "callback_secret": self.tenant_callback_secret(self.tenant_id),
            "provider_webhook_url": self.provider_webhook_url,
            "provider_webhook_secret": self.provider_webhook_secret,
            "emulator_url": self.emulator.api_url,
            "emulator_admin_url": self.emulator.url + "/_emulator",
            "bedrock_endpoint_url": self.emulator.url,
            "provider_api_key": self.emulator.config.api_key,
            "aws_endpoint_url": self.stack.aws_endpoint_url,
            "region": self.stack.region,
            "bucket": ids["AssetsBucket"],
            "jobs_table": ids["JobsTable"],
            "control_table": ids["ControlTable"],
            "slot_line_table": ids["SlotLineTable"],
            "api_keys_table": ids["ApiKeysTable"],
            "tenants_table": ids["TenantsTable"],
            "batches_table": ids["BatchesTable"],
            "callbacks_queue_url": ids["CallbacksQueue"],
            "callback_secret_key": self.stack.stack.resources["CallbackSecretKey"].attributes[
                "Arn"
            ],
            "event_bus": ids["ServiceEventBus"],
            "state_machine_arn": ids["VideoJobStateMachine"],
            "dead_letter_queues": {
                name: url
                for name, url in ids.items()
                if name.endswith("DeadLetterQueue") and isinstance(url, str)
            },
            "stack_name": self.stack.stack_name,
        }

    @property
    def console_url(self) -> str:
        """The web console, served by the same API front beside ``/v1``."""
        return self.api_url.rsplit("/", 1)[0] + "/console"

    def tenant_callback_secret(self, tenant_id: str) -> str:
        """The current secret that signs ``tenant_id``'s callbacks.

        Only here: moto does not evaluate the key policy, which in AWS lets no one but the
        callbacks function decrypt it (the keys CLI shows a secret once, when it creates it).
        """
        from videojobs.adapters import callback_secrets
        from videojobs.adapters.dal import tenants

        tenant = tenants.get_tenant(tenant_id)
        if tenant is None or tenant.callback_secret is None:
            return ""
        return callback_secrets.decrypt(tenant_id, tenant.callback_secret)

    def create_tenant_key(self, tenant_id: str) -> str:
        """A new API key for ``tenant_id`` (created with its callback secret if new)."""
        from videojobs.adapters import aws
        from videojobs.adapters.dal import api_keys
        from videojobs.logic import tenant_admin
        from videojobs.settings import get_settings

        get_settings.cache_clear()
        aws.reset_clients()
        tenant_admin.ensure_tenant(tenant_id)
        api_key, _ = api_keys.create(tenant_id)
        return api_key


def scaled_to_speed(template: Path, speed: float) -> dict[str, str]:
    """The template's provider request rate and progress refresh interval on the emulator's
    clock: at ``speed`` 10 a video is done ten times sooner, so the stack may call the
    provider ten times as often and refresh progress ten times as often (at least every
    second), as it would a real provider at the defaults."""
    parameters = load_yaml(template.read_text()).get("Parameters") or {}
    scaled = {}
    if "Default" in parameters.get("ProviderRequestsPerMinute", {}):
        rate = float(parameters["ProviderRequestsPerMinute"]["Default"]) * speed
        scaled["ProviderRequestsPerMinute"] = str(max(1, round(rate)))
    if "Default" in parameters.get("ProgressRefreshSeconds", {}):
        refresh = float(parameters["ProgressRefreshSeconds"]["Default"]) / speed
        scaled["ProgressRefreshSeconds"] = str(max(1, round(refresh)))
    return scaled


def _apply_log_level(stack: LocalStack) -> None:
    """The functions' ``LogLevel`` on the shared Powertools logger.

    In Lambda each function imports its logger after its environment is set; here one process
    may have imported it before the stack existed, with the default level.
    """
    from videojobs.observability import logger

    levels = {
        spec.environment.get("POWERTOOLS_LOG_LEVEL") for spec in stack.stack.functions.values()
    }
    levels.discard(None)
    if len(levels) == 1:
        logger.setLevel(str(levels.pop()).upper())


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def run_local(
    *,
    api_port: int = 0,
    emulator_speed: float = 1.0,
    parameter_overrides: str | Mapping[str, str] | None = None,
    template: Path = DEFAULT_TEMPLATE,
    tenant_id: str = DEFAULT_TENANT,
    render_cache_dir: Path | None = None,
    function_environment: Mapping[str, str] | None = None,
    aws_faults: AwsFaults | None = None,
) -> Iterator[LocalVideojobs]:
    """Start the emulator and the stack; stop both on exit.

    ``aws_faults`` makes the stack inject AWS-side faults (Lambda throttles, crashes and
    timeouts, DynamoDB throttling; see `videojobs_local.stack.aws_faults`).

    Unless ``parameter_overrides`` set them, the provider request rate and the progress
    refresh interval follow ``emulator_speed`` (:func:`scaled_to_speed`).
    """
    from videojobs.adapters import aws
    from videojobs.logic.provider_access import reset_provider
    from videojobs.settings import get_settings
    from videojobs.standard_webhooks import generate_secret

    webhook_secret = generate_secret()
    emulator_config = EmulatorConfig(
        api_key="sk-local-" + secrets.token_urlsafe(24),
        webhook_secret=webhook_secret,
        speed=emulator_speed,
    )
    if render_cache_dir is not None:
        emulator_config.render_cache_dir = render_cache_dir
    overrides = {
        "ProviderBaseUrl": "",
        # The emulator's Bedrock face serves both Bedrock models, in the regions a real
        # deployment would typically use.
        "NovaReelRegion": "us-east-1",
        "LumaRayRegion": "us-west-2",
        **scaled_to_speed(template, emulator_speed),
        **parse_parameter_overrides(parameter_overrides),
    }
    with EmulatorServer(emulator_config) as emulator:
        overrides["ProviderBaseUrl"] = overrides["ProviderBaseUrl"] or emulator.api_url
        secrets_ = {
            "ProviderApiKeySecret": json.dumps({"provider_api_key": emulator_config.api_key}),
            "ProviderWebhookSecret": json.dumps({"provider_webhook_secret": webhook_secret}),
        }
        stack = LocalStack(
            template,
            parameter_overrides=overrides,
            api_port=api_port,
            secret_values=secrets_,
            function_environment={
                # Only the local stack points boto3's bedrock-runtime client at the emulator,
                # and lets the provider and callbacks use http to loopback: template.yaml
                # declares neither.
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": emulator.url,
                "VIDEOJOBS_LOCAL_MODE": "true",
                **(function_environment or {}),
            },
            # Handlers reach moto over HTTP, so presigned S3 URLs work from any client.
            route_clients_via_server=True,
            aws_faults=aws_faults,
        )
        with (
            stack,
            _environment(
                # What the operator's tools encrypt tenants' callback secrets with.
                CALLBACK_SECRET_KEY_ID=stack.stack.resources["CallbackSecretKey"].attributes["Arn"]
            ),
        ):
            _apply_log_level(stack)
            get_settings.cache_clear()
            aws.reset_clients()
            reset_provider()
            root = stack.api_url.rsplit("/", 1)[0]  # served without the stage prefix too
            webhook_url = f"{root}/webhooks/provider"
            emulator.update_config(webhook_url=webhook_url)
            # Bedrock writes its output into the stack's bucket, so the bucket's Object Created
            # events reach EventBridge as they do in AWS.
            emulator.emulator.bedrock.output_writer = _bucket_writer(stack)
            local = LocalVideojobs(
                stack=stack,
                emulator=emulator,
                api_url=f"{root}/v1",
                api_key="",
                tenant_id=tenant_id,
                provider_webhook_url=webhook_url,
                provider_webhook_secret=webhook_secret,
            )
            local.api_key = local.create_tenant_key(tenant_id)
            try:
                yield local
            finally:
                reset_provider()
                get_settings.cache_clear()
                aws.reset_clients()


def _bucket_writer(stack: LocalStack) -> Callable[[str, str, bytes, str], None]:
    s3 = stack.client("s3")

    def write(bucket: str, key: str, body: bytes, content_type: str) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    return write
