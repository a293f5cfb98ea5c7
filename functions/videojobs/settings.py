"""Every setting the functions read, in one place.

Values come from the Lambda environment that template.yaml sets; nothing reads ``os.environ``
at import time. Secrets are not settings: they come from Secrets Manager (see ``credentials.py``).
A setting that names one of the stack's resources has no default: a function deployed without
it fails where it first needs it (:class:`SettingMissingError`), never by calling a resource of
some other name. The local stack injects its own settings; template.yaml declares none of them.
"""

from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from typing import Annotated, Any, Literal, overload

from pydantic import BaseModel, ConfigDict, Field, Json, field_validator, model_validator

_Seconds = Annotated[float, Field(ge=0, le=86400, allow_inf_nan=False)]
FirstCheckTable = dict[str, tuple[_Seconds, _Seconds]]


class SettingMissingError(RuntimeError):
    """A setting that names one of the stack's resources is not in the environment."""


class _ResourceName:
    """A setting that names one of the stack's resources: read from ``variable``, no default."""

    def __init__(self, variable: str) -> None:
        self.variable = variable

    @overload
    def __get__(self, instance: None, owner: type[Settings]) -> _ResourceName: ...

    @overload
    def __get__(self, instance: Settings, owner: type[Settings]) -> str: ...

    def __get__(self, instance: Settings | None, owner: type[Settings]) -> _ResourceName | str:
        if instance is None:
            return self
        value = instance.resource_names.get(self.variable, "").strip()
        if not value:
            raise SettingMissingError(
                f"{self.variable}, which names one of the stack's resources, is not set"
            )
        return value


class Settings(BaseModel):
    """The functions' configuration, validated once per cold start."""

    model_config = ConfigDict(
        frozen=True, populate_by_name=True, extra="ignore", ignored_types=(_ResourceName,)
    )

    resource_names: dict[str, str] = Field(default_factory=dict)
    """The resource-naming variables that are set, by name; read through the attributes below."""
    jobs_table = _ResourceName("JOBS_TABLE")
    control_table = _ResourceName("CONTROL_TABLE")
    slot_line_table = _ResourceName("SLOT_LINE_TABLE")
    api_keys_table = _ResourceName("API_KEYS_TABLE")
    tenants_table = _ResourceName("TENANTS_TABLE")
    batches_table = _ResourceName("BATCHES_TABLE")
    idempotency_table = _ResourceName("IDEMPOTENCY_TABLE")
    callbacks_queue_url = _ResourceName("CALLBACKS_QUEUE_URL")
    bucket = _ResourceName("ASSETS_BUCKET")
    state_machine_arn = _ResourceName("STATE_MACHINE_ARN")
    event_bus_name = _ResourceName("EVENT_BUS_NAME")
    provider_api_key_secret_id = _ResourceName("PROVIDER_API_KEY_SECRET_ID")
    provider_webhook_secret_id = _ResourceName("PROVIDER_WEBHOOK_SECRET_ID")
    callback_secret_key_id = _ResourceName("CALLBACK_SECRET_KEY_ID")
    """The KMS key that encrypts tenants' callback secrets (set for the operator's tools only:
    a function decrypts with the key its ciphertext names)."""
    prompt_max_chars: int = Field(4000, ge=1, alias="PROMPT_MAX_CHARS")
    pre_submit_moderation: bool = Field(False, alias="PRE_SUBMIT_MODERATION")
    callback_retry_hours: int = Field(26, ge=24, alias="CALLBACK_RETRY_HOURS")
    provider_requests_per_minute: int = Field(20, ge=1, alias="PROVIDER_REQUESTS_PER_MINUTE")
    tenant_requests_per_second: float = Field(
        10, gt=0, allow_inf_nan=False, alias="TENANT_REQUESTS_PER_SECOND"
    )
    """Each tenant's sustained API request rate (its own token bucket)."""
    tenant_request_burst: int = Field(20, ge=1, alias="TENANT_REQUEST_BURST")
    """Requests a tenant may send at once before its rate applies."""
    pricing_table: Json[dict[str, dict[str, float]]] = Field(
        '{"sora-2": {"720x1280": 0.10, "1280x720": 0.10}, "sora-2-pro": {"720x1280": 0.30,'
        ' "1280x720": 0.30, "1024x1792": 0.50, "1792x1024": 0.50},'
        ' "amazon.nova-reel-v1:1": {"1280x720": 0.08},'
        ' "luma.ray-v2:0": {"960x540": 0.75, "540x960": 0.75, "540x540": 0.75, "720x540": 0.75,'
        ' "540x720": 0.75, "1260x540": 0.75, "540x1260": 0.75, "1280x720": 1.50, "720x1280": 1.50,'
        ' "720x720": 1.50, "960x720": 1.50, "720x960": 1.50, "1680x720": 1.50,'
        ' "720x1680": 1.50}}',
        alias="PRICING_TABLE",
        validate_default=True,
    )
    """USD per generated second, by model and size."""
    bill_failed_jobs: bool = Field(False, alias="BILL_FAILED_JOBS")
    deleted_job_retention_days: int = Field(30, ge=1, le=3650, alias="DELETED_JOB_RETENTION_DAYS")
    """How long a deleted job's item (prompt, metadata, callback URL) is kept before it is
    purged (the jobs table's TTL)."""
    intake_max_file_bytes: int = Field(5 * 1024 * 1024, ge=1, alias="INTAKE_MAX_FILE_BYTES")
    intake_max_lines: int = Field(500, ge=1, alias="INTAKE_MAX_LINES")
    event_source: str = Field("videojobs", alias="EVENT_SOURCE")
    provider_base_url: str = Field("", alias="PROVIDER_BASE_URL")
    """https outside the local stack (checked below); empty when no provider is configured."""
    provider_auth_style: Literal["bearer", "api-key"] = Field("bearer", alias="PROVIDER_AUTH_STYLE")
    nova_reel_region: str = Field("", alias="NOVA_REEL_REGION")
    """Where Amazon Nova Reel is called through Bedrock; empty: not served."""
    luma_ray_region: str = Field("", alias="LUMA_RAY_REGION")
    """Where Luma Ray 2 is called through Bedrock; empty: not served."""
    max_concurrent_jobs: int = Field(5, ge=1, alias="MAX_CONCURRENT_JOBS")
    max_jobs_per_tenant: int = Field(3, ge=0, alias="MAX_JOBS_PER_TENANT")
    """Slots one tenant may hold at once (0: no cap of its own)."""
    poll_interval_seconds: int = Field(15, ge=1, alias="POLL_INTERVAL_SECONDS")
    first_status_check_seconds: FirstCheckTable = Field(
        '{"sora-2": [180, 10], "sora-2-pro": [360, 20], "amazon.nova-reel-v1:1": [60, 8],'
        ' "luma.ray-v2:0": [60, 12]}',
        alias="FIRST_STATUS_CHECK_SECONDS",
        validate_default=True,
    )
    """By model: [base, per second of video]. The webhook is trusted until then."""
    max_poll_interval_seconds: int = Field(120, ge=1, alias="MAX_POLL_INTERVAL_SECONDS")
    wakeup_trust_seconds: int = Field(3600, ge=1, alias="WAKEUP_TRUST_SECONDS")
    """A protocol whose last wake-up event (webhook, Bedrock output event) is older than this,
    or that never sent one, is not trusted to wake jobs: its first status check comes at
    ``poll_interval_seconds``."""
    progress_refresh_seconds: int = Field(5, ge=1, alias="PROGRESS_REFRESH_SECONDS")
    asset_url_ttl_seconds: int = Field(900, ge=60, le=604800, alias="ASSET_URL_TTL_SECONDS")
    multipart_part_bytes: int = Field(8 * 1024 * 1024, ge=5 * 1024 * 1024, alias="PART_BYTES")
    secret_cache_seconds: int = Field(300, ge=0, alias="SECRET_CACHE_SECONDS")
    webhook_dedupe_hours: int = Field(96, ge=72, alias="WEBHOOK_DEDUPE_HOURS")
    local_mode: bool = Field(False, alias="VIDEOJOBS_LOCAL_MODE")
    """Set by the local stack alone (template.yaml has no such parameter): lets the provider
    and callbacks use plain http to loopback addresses."""

    @model_validator(mode="before")
    @classmethod
    def _collect_resource_names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        variables = [
            value.variable for value in vars(cls).values() if isinstance(value, _ResourceName)
        ]
        named = {name: str(data[name]) for name in variables if data.get(name) is not None}
        return {**data, "resource_names": named}

    def served_models(self) -> tuple[str, ...]:
        """The models this deployment serves, in catalogue order."""
        served: list[str] = []
        if self.provider_base_url:
            served += ["sora-2", "sora-2-pro"]
        if self.nova_reel_region:
            served.append("amazon.nova-reel-v1:1")
        if self.luma_ray_region:
            served.append("luma.ray-v2:0")
        return tuple(served)

    def bedrock_region(self, model: str) -> str:
        """The region a Bedrock model is called in (empty when it is not served)."""
        regions = {
            "amazon.nova-reel-v1:1": self.nova_reel_region,
            "luma.ray-v2:0": self.luma_ray_region,
        }
        return regions.get(model, "")

    @field_validator("first_status_check_seconds", mode="before")
    @classmethod
    def _first_check_table(cls, value: Any) -> Any:
        """A JSON object by model, or one number of seconds for every clip."""
        if not isinstance(value, str):
            return value
        try:
            return {"*": (float(value), 0.0)}
        except ValueError:
            return json.loads(value)

    @model_validator(mode="after")
    def _provider_over_https(self) -> Settings:
        """The provider key travels with every request: never over plain http in AWS."""
        url = self.provider_base_url.strip()
        if url and not self.local_mode and not url.lower().startswith("https://"):
            raise ValueError(
                "PROVIDER_BASE_URL (the ProviderBaseUrl parameter) must be an https URL; "
                "only the local stack may use http"
            )
        return self

    def first_status_check(self, model: str, seconds: int) -> int:
        """Seconds after submission of the first status check when no webhook has come.

        0 for a model the table does not list (and no ``*`` entry): checks then start at
        ``poll_interval_seconds``.
        """
        table = self.first_status_check_seconds
        base, per_second = table.get(model, table.get("*", (0.0, 0.0)))
        return math.ceil(base + per_second * seconds)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings.model_validate(dict(os.environ))
