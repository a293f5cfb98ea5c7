"""Create a job: the one place the API, remixes and batches (later S3 intake) go through.

A create body is resolved into exactly what the provider will be asked for (preset, then the
friendly fields, then the explicit OpenAI fields, each overriding the one before), checked
completely before anything is written, and only then stored and started. With pre-submit
moderation on, a flagged prompt is refused before any job exists or any paid call is made.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from videojobs.adapters import workflow
from videojobs.adapters.dal import jobs
from videojobs.adapters.storage import assets
from videojobs.logic import costs, idempotency
from videojobs.logic.callback_target import validate_callback_url
from videojobs.logic.idempotency import IdempotencyKey
from videojobs.logic.reference_image import ReferenceImage, check_image, decode_data_url
from videojobs.models.api import CreateVideoBody, RemixVideoBody, UploadedImage
from videojobs.models.errors import (
    InvalidRequestError,
    ProviderError,
    StorageUnavailableError,
    WorkflowUnavailableError,
)
from videojobs.models.job import Job, JobError, JobStatus, StoredInput, VideoRequest, new_job_id
from videojobs.models.presets import (
    SECONDS_BY_DURATION,
    SHAPES,
    SIZE_BY_ASPECT_RATIO,
    SIZE_BY_RESOLUTION_AND_ORIENTATION,
    Preset,
    get_preset,
)
from videojobs.models.provider_types import (
    ALL_SIZES_BY_MODEL,
    LUMA_RAY,
    NOVA_REEL,
    NOVA_REEL_SINGLE_SHOT_SECONDS,
    SECONDS_BY_MODEL,
    SIZES_BY_MODEL,
    AnyModelName,
    AnySeconds,
    AnySize,
    ModelName,
    VideoSeconds,
    VideoSize,
    prompt_limit,
    protocol_of,
)
from videojobs.observability import logger, metrics
from videojobs.settings import get_settings

DEFAULT_MODEL: ModelName = "sora-2"
DEFAULT_SECONDS: VideoSeconds = "4"
DEFAULT_SIZE: VideoSize = "720x1280"
# Longest the moderation pre-check waits for a provider request token: an API caller is
# waiting on the response (29-s API timeout), and an unavailable pre-check is skipped anyway.
MODERATION_MAX_WAIT_SECONDS = 5.0


class ResolvedCreate(BaseModel):
    """A create request, checked and resolved: what the job will be."""

    model_config = ConfigDict(frozen=True)

    request: VideoRequest
    metadata: dict[str, str]
    callback_url: str | None = None
    image: ReferenceImage | None = None

    def fingerprint(self, batch_id: str | None = None) -> dict[str, Any]:
        """The normalised request, as compared for ``Idempotency-Key`` reuse."""
        return {
            "request": self.request.model_dump(mode="json", exclude_none=True),
            "metadata": dict(sorted(self.metadata.items())),
            "callback_url": self.callback_url,
            "input_reference_sha256": self.image.sha256 if self.image else None,
            "batch_id": batch_id,
        }


# --- resolving a create body -----------------------------------------------------------------


def _moderate(prompt: str, deadline: float | None = None) -> None:
    """Refuse a prompt the provider's moderation flags (only when switched on).

    ``deadline`` (``time.monotonic()``) bounds the pre-checks of one request that resolves
    many creates (a batch): past it, the remaining prompts are not pre-checked, so the request
    still answers within the API's timeout. The provider moderates every create anyway.
    """
    if not get_settings().pre_submit_moderation:
        return
    max_wait = MODERATION_MAX_WAIT_SECONDS
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            logger.warning("pre-submit moderation skipped: the request's time for it is spent")
            metrics.add_metric(name="ModerationSkipped", unit="Count", value=1)
            return
        max_wait = min(max_wait, left)
    # Imported here, not at the top (cold start): with moderation off (the default) the API
    # and intake functions need no provider client to create a job.
    from videojobs.logic.provider_access import get_provider

    try:
        result = get_provider(max_wait_seconds=max_wait, leave_reserve=True).moderate(prompt)
    except ProviderError as exc:
        # The provider moderates every create anyway; an unavailable pre-check (some
        # gateways have no /moderations) must not stop all work. Logged without the prompt.
        logger.warning("pre-submit moderation unavailable", extra={"error": str(exc)})
        metrics.add_metric(name="ModerationUnavailable", unit="Count", value=1)
        return
    if result.flagged:
        metrics.add_metric(name="PromptsFlagged", unit="Count", value=1)
        categories = ", ".join(result.categories) or "unspecified"
        raise InvalidRequestError(
            f"The prompt was flagged by content moderation ({categories}); nothing was created.",
            param="prompt",
            code="content_policy_violation",
        )


def _check_prompt(prompt: str) -> str:
    limit = get_settings().prompt_max_chars
    if len(prompt) > limit:
        raise InvalidRequestError(
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{limit}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )
    return prompt


# A Bedrock model's own defaults when the request leaves them out (a preset's still win).
_DEFAULT_SECONDS_BY_MODEL: dict[str, AnySeconds] = {NOVA_REEL: "6", LUMA_RAY: "5"}
_DEFAULT_SIZE_BY_MODEL: dict[str, AnySize] = {NOVA_REEL: "1280x720", LUMA_RAY: "1280x720"}


def _seconds(body: CreateVideoBody, preset: Preset | None, model: str) -> AnySeconds:
    duration = SECONDS_BY_DURATION[body.duration] if body.duration is not None else None
    if body.seconds is not None and duration is not None and body.seconds != duration:
        raise InvalidRequestError(
            f"duration {body.duration} and seconds '{body.seconds}' disagree; send one of them.",
            param="duration",
        )
    default = _DEFAULT_SECONDS_BY_MODEL.get(model, DEFAULT_SECONDS)
    return body.seconds or duration or (preset.seconds if preset else default)


def _valid_friendly_combinations() -> str:
    return ", ".join(
        f"{shape.aspect_ratio} at {shape.resolution} ({size})" for size, shape in SHAPES.items()
    )


def _size(body: CreateVideoBody, preset: Preset | None, model: str) -> AnySize:
    default = _DEFAULT_SIZE_BY_MODEL.get(model, DEFAULT_SIZE)
    base: AnySize = body.size or (preset.size if preset else default)
    if body.aspect_ratio is not None:
        friendly = SIZE_BY_ASPECT_RATIO[body.aspect_ratio]
        if body.resolution is not None and SHAPES[friendly].resolution != body.resolution:
            raise InvalidRequestError(
                f"aspect_ratio {body.aspect_ratio} has no {body.resolution} size; valid "
                f"combinations: {_valid_friendly_combinations()}.",
                param="resolution",
            )
    elif body.resolution is not None:
        if base not in SHAPES:
            raise InvalidRequestError(
                f"resolution {body.resolution} names no size when size is '{base}'; send "
                "size alone.",
                param="resolution",
            )
        # Resolution alone keeps the orientation of the size, the preset or the default.
        orientation = SHAPES[base].orientation  # type: ignore[index]
        friendly = SIZE_BY_RESOLUTION_AND_ORIENTATION[(body.resolution, orientation)]
    else:
        return base
    if body.size is not None and body.size != friendly:
        param = "aspect_ratio" if body.aspect_ratio is not None else "resolution"
        raise InvalidRequestError(
            f"size '{body.size}' contradicts {param} (which means {friendly}); send one of them.",
            param=param,
        )
    return friendly


def _image(body: CreateVideoBody, upload: UploadedImage | None) -> ReferenceImage | None:
    reference = body.input_reference
    if upload is not None:
        if reference is not None:
            raise InvalidRequestError(
                "Send input_reference once: as a file or as an object, not both.",
                param="input_reference",
            )
        return check_image(upload.data, upload.filename)
    if reference is None:
        return None
    if reference.file_id is not None:
        raise InvalidRequestError(
            "input_reference.file_id is not supported; upload the image instead.",
            param="input_reference.file_id",
            code="unsupported_parameter",
        )
    if reference.image_url is None:
        raise InvalidRequestError(
            "input_reference needs an image: upload a file or give image_url as a data: URL.",
            param="input_reference",
        )
    return check_image(decode_data_url(reference.image_url))


def _callback(url: str | None) -> str | None:
    return None if url is None else validate_callback_url(url)


def _check_served(model: AnyModelName) -> None:
    served = get_settings().served_models()
    if model not in served:
        listed = ", ".join(served) or "none"
        raise InvalidRequestError(
            f"model '{model}' is not enabled on this deployment; it serves: {listed} "
            "(GET /v1/models).",
            param="model",
            code="model_not_found",
        )


def _check_model_fields(
    body: CreateVideoBody, model: AnyModelName, seconds: AnySeconds, prompt: str
) -> None:
    """What only some models take, checked as their provider checks it (never adjusted)."""
    if seconds not in SECONDS_BY_MODEL[model]:
        valid = ", ".join(SECONDS_BY_MODEL[model])
        raise InvalidRequestError(
            f"seconds '{seconds}' is not a length model '{model}' can make; valid seconds "
            f"for {model}: {valid}.",
            param="seconds" if body.seconds or body.duration is None else "duration",
        )
    limit = prompt_limit(model, seconds)
    if limit is not None and len(prompt) > limit:
        kind = ""
        if model == NOVA_REEL:
            single = int(seconds) == NOVA_REEL_SINGLE_SHOT_SECONDS
            kind = " for a 6-second clip" if single else " for a multi-shot clip (12-120 s)"
        raise InvalidRequestError(
            f"Invalid 'prompt': {model} takes at most {limit} characters{kind}, but got "
            f"{len(prompt)}.",
            param="prompt",
            code="string_above_max_length",
        )
    if body.loop is not None and model != LUMA_RAY:
        raise InvalidRequestError(
            f"loop is only available for model {LUMA_RAY}, not {model}.",
            param="loop",
            code="unsupported_parameter",
        )


def _check_image_for_model(image: ReferenceImage, model: AnyModelName, seconds: str) -> None:
    if model == LUMA_RAY:
        raise InvalidRequestError(
            f"input_reference is not available for model {LUMA_RAY} on Bedrock.",
            param="input_reference",
            code="unsupported_parameter",
        )
    if model == NOVA_REEL:
        if image.content_type not in ("image/jpeg", "image/png"):
            raise InvalidRequestError(
                f"input_reference for {NOVA_REEL} must be a JPEG or PNG image, not "
                f"{image.content_type}.",
                param="input_reference",
                code="invalid_image",
            )
        if int(seconds) != NOVA_REEL_SINGLE_SHOT_SECONDS:
            raise InvalidRequestError(
                f"input_reference (the first frame) is only available for 6-second clips of "
                f"{NOVA_REEL}, not for {seconds}-second multi-shot ones.",
                param="input_reference",
                code="unsupported_parameter",
            )


def resolve_create(
    body: CreateVideoBody,
    upload: UploadedImage | None = None,
    *,
    moderation_deadline: float | None = None,
) -> ResolvedCreate:
    """What ``body`` asks for, fully checked; otherwise :class:`InvalidRequestError`.

    Explicit fields beat the friendly ones, which beat the preset, which beats the provider's
    defaults. Nothing is written and no paid call is made; with pre-submit moderation on, the
    prompt is checked by the provider's (free) moderation, until ``moderation_deadline``.
    """
    preset = get_preset(body.preset) if body.preset is not None else None
    prompt = _check_prompt(body.prompt)
    if preset is not None and preset.style:
        prompt = f"{prompt}\n\n{preset.style}"
    model: AnyModelName = body.model or (preset.model if preset else DEFAULT_MODEL)
    _check_served(model)
    size = _size(body, preset, model)
    if size not in ALL_SIZES_BY_MODEL[model]:
        valid = ", ".join(ALL_SIZES_BY_MODEL[model])
        hint = (
            " (choose model sora-2-pro for it)"
            if size in SIZES_BY_MODEL["sora-2-pro"] and size not in SIZES_BY_MODEL["sora-2"]
            else ""
        )
        raise InvalidRequestError(
            f"size '{size}' is not available for model '{model}'{hint}; valid sizes for "
            f"{model}: {valid}.",
            param="size" if body.size else "model",
        )
    # A model and size without a price could not be kept within a budget.
    costs.price_micros_per_second(model, size)
    seconds = _seconds(body, preset, model)
    _check_model_fields(body, model, seconds, prompt)
    image = _image(body, upload)
    if image is not None:
        _check_image_for_model(image, model, seconds)
    if image is not None and image.size != size:
        raise InvalidRequestError(
            f"input_reference is {image.size} but the video is {size}; the image must match "
            f"the video size exactly.",
            param="input_reference",
            code="invalid_image",
        )
    callback_url = _callback(body.callback_url)
    # Last: the only check that calls out, made once everything else is known to be fine.
    # Bedrock's models are screened by Bedrock itself; /moderations is the OpenAI protocol's.
    if protocol_of(model) == "openai":
        _moderate(prompt, moderation_deadline)
    return ResolvedCreate(
        request=VideoRequest(
            prompt=prompt, model=model, seconds=seconds, size=size, loop=body.loop
        ),
        metadata=dict(body.metadata),
        callback_url=callback_url,
        image=image,
    )


def create_resolved_job(
    tenant_id: str, resolved: ResolvedCreate, *, batch_id: str | None = None
) -> Job:
    """Store a queued job for a create resolved beforehand (a batch's elements, each resolved
    and moderated once while the batch was checked), and start its workflow."""
    return _start(tenant_id, resolved, batch_id)


def resolve_remix(tenant_id: str, video_id: str, body: RemixVideoBody) -> ResolvedCreate:
    """A remix of the tenant's completed job ``video_id``: same model, size and seconds."""
    source = jobs.get_for_tenant(tenant_id, video_id)
    if source.status is not JobStatus.COMPLETED or source.provider_video_id is None:
        raise InvalidRequestError(
            f"Video '{video_id}' can only be remixed once completed (status: "
            f"{source.status.value}).",
            code="video_not_ready",
        )
    if protocol_of(source.request.model) != "openai":
        raise InvalidRequestError(
            f"Video '{video_id}' was made by {source.request.model} on Amazon Bedrock, which "
            "has no remix; create a new video instead.",
            code="unsupported_parameter",
        )
    prompt = _check_prompt(body.prompt)
    callback_url = _callback(body.callback_url)
    _moderate(prompt)
    return ResolvedCreate(
        request=VideoRequest(
            prompt=prompt,
            model=source.request.model,
            seconds=source.request.seconds,
            size=source.request.size,
            remix_of=source.job_id,
            remix_of_provider_id=source.provider_video_id,
        ),
        metadata=dict(body.metadata),
        callback_url=callback_url,
    )


# --- creating --------------------------------------------------------------------------------


def _input_record(tenant_id: str, job_id: str, image: ReferenceImage) -> StoredInput:
    key = assets.input_key(tenant_id, job_id, image.extension)
    return StoredInput(
        key=key, content_type=image.content_type, filename=image.filename, bytes=len(image.data)
    )


def _abandon(job: Job) -> None:
    """Fail a stored job that cannot be started, and give back the budget it reserved."""
    failed = jobs.transition(
        job.job_id,
        JobStatus.FAILED,
        allowed_from=[JobStatus.QUEUED],
        fields={
            "error": JobError(
                code="workflow_unavailable",
                message="The job could not be started; submit it again.",
                retryable=True,
            ).model_dump()
        },
    )
    costs.settle_cost(failed)


def _start(tenant_id: str, resolved: ResolvedCreate, batch_id: str | None) -> Job:
    """Store and start one job (execution name = job id), its cost reserved on the budgets."""
    job_id = new_job_id()
    request = resolved.request
    if resolved.image is not None:
        stored = _input_record(tenant_id, job_id, resolved.image)
        request = request.model_copy(update={"input_reference": stored})
    now = int(time.time())
    job = Job(
        job_id=job_id,
        tenant_id=tenant_id,
        status=JobStatus.QUEUED,
        created_at=now,
        updated_at=now,
        request=request,
        metadata=resolved.metadata,
        callback_url=resolved.callback_url,
        batch_id=batch_id,
        # The API request's id (API Gateway's); an intake line has its batch.
        correlation_id=logger.get_correlation_id() or batch_id or job_id,
    )
    # Stored together with its budget reservation, or not at all (BudgetExceededError).
    job = costs.create_within_budget(job)
    logger.append_keys(job_id=job.job_id)
    try:
        if resolved.image is not None and job.request.input_reference is not None:
            # Uploaded only now, so a submit refused for its budget leaves no file behind;
            # the workflow that reads it starts after.
            image, stored = resolved.image, job.request.input_reference
            assets.store_input(stored.key, image.data, image.content_type)
        workflow.start(
            job.job_id,
            {
                "job_id": job.job_id,
                "tenant_id": job.tenant_id,
                "correlation_id": job.correlation_id,
            },
        )
    except (StorageUnavailableError, WorkflowUnavailableError) as exc:
        # Never leave a queued job that nothing will ever run, or its budget held.
        _abandon(job)
        raise WorkflowUnavailableError("the job workflow could not be started") from exc
    metrics.add_metric(name="JobsCreated", unit="Count", value=1)
    return job


def _once(
    tenant_id: str,
    resolved: ResolvedCreate,
    batch_id: str | None,
    key: IdempotencyKey | None,
    operation: str,
) -> Job:
    if key is None:
        return _start(tenant_id, resolved, batch_id)
    fingerprint: Mapping[str, Any] = {"operation": operation, **resolved.fingerprint(batch_id)}
    return idempotency.run_once(
        tenant_id, key, fingerprint, lambda: _start(tenant_id, resolved, batch_id)
    )


def create_job(
    tenant_id: str,
    body: CreateVideoBody,
    *,
    batch_id: str | None = None,
    input_reference: UploadedImage | None = None,
    idempotency_key: IdempotencyKey | None = None,
) -> Job:
    """Check ``body``, then store a queued job and start its workflow.

    ``input_reference`` is an uploaded image (multipart); ``idempotency_key`` makes a retry
    return the job the first attempt created.
    """
    resolved = resolve_create(body, input_reference)
    return _once(tenant_id, resolved, batch_id, idempotency_key, "create")


def remix_job(
    tenant_id: str,
    video_id: str,
    body: RemixVideoBody,
    *,
    idempotency_key: IdempotencyKey | None = None,
) -> Job:
    """A new job remixing the tenant's completed job ``video_id`` with a new prompt."""
    resolved = resolve_remix(tenant_id, video_id, body)
    return _once(tenant_id, resolved, None, idempotency_key, "remix")
