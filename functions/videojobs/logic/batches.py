"""Batches: many jobs from one request, validated all-or-nothing, counted to completion.

A batch body comes in three shapes (see :class:`~videojobs.models.batches.CreateBatchBody`).
Each is expanded into plain create bodies, and every one of them is resolved exactly as
``POST /v1/videos`` would resolve it before anything is written, so a batch with one bad
element is refused whole, and so is a batch whose jobs together do not fit the tenant's
budgets. The batch record is written before its jobs, with the final ``total``: a job that
finishes while later ones are still being created is counted against the right total, and
the batch cannot look complete too early. With an ``Idempotency-Key``, a retried batch gets
the first attempt's answer (the same mechanism as ``POST /v1/videos``). Counting finished
jobs lives in :mod:`videojobs.logic.batch_completion` (``on_job_terminal`` is re-exported
here).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from videojobs.adapters.dal import batches
from videojobs.adapters.dal import jobs as jobs_dal
from videojobs.logic import costs, idempotency
from videojobs.logic.batch_completion import complete_if_finished, on_job_terminal
from videojobs.logic.callback_target import validate_callback_url
from videojobs.logic.create_job import ResolvedCreate, create_resolved_job, resolve_create
from videojobs.logic.idempotency import IdempotencyKey
from videojobs.models.api import CreateVideoBody
from videojobs.models.batches import (
    MAX_BATCH_JOBS,
    Batch,
    BatchCounts,
    BatchResource,
    CreateBatchBody,
    is_batch_id,
    new_batch_id,
)
from videojobs.models.errors import BatchNotFoundError, InvalidRequestError, StaleTransitionError
from videojobs.models.intake import IntakeBatch, IntakeSource, PlanLine
from videojobs.models.job import Job, JobStatus, VideoRequest
from videojobs.observability import logger, metrics

# Fields that describe the batch itself rather than its jobs.
_BATCH_LEVEL = ("metadata", "callback_url")
# The fields that say which of the three shapes a batch body has.
_SHAPE_FIELDS = ("requests", "prompt", "n", "brief", "presets")
# Longest the moderation pre-checks of one batch take in all (the API answers within 29 s;
# the jobs are created after them). Prompts left unchecked then are still moderated by the
# provider when their videos are created.
BATCH_MODERATION_SECONDS = 10.0

__all__ = [
    "BatchPlan",
    "batch_resource",
    "create_batch",
    "get_batch",
    "invalid_body",
    "on_job_terminal",
    "open_intake_batch",
    "plan_batch",
    "seal_intake_batch",
]

ParamPath = Callable[[Sequence[int | str]], str]


@dataclass(frozen=True)
class BatchPlan:
    """A validated batch: the create bodies in order, what each resolves to (as
    ``POST /v1/videos`` resolves it: preset, defaults), and the batch's own fields."""

    bodies: list[CreateVideoBody]
    resolved: list[ResolvedCreate]
    metadata: dict[str, str]
    callback_url: str | None

    @property
    def requests(self) -> list[VideoRequest]:
        """What the provider will be asked for, one per job: what the batch will cost."""
        return [resolved.request for resolved in self.resolved]

    def fingerprint(self) -> dict[str, Any]:
        """The normalised batch, as compared for ``Idempotency-Key`` reuse."""
        return {
            "operation": "batch",
            "jobs": [resolved.fingerprint() for resolved in self.resolved],
            "metadata": dict(sorted(self.metadata.items())),
            "callback_url": self.callback_url,
        }


@dataclass(frozen=True)
class _Element:
    body: dict[str, Any]
    param: ParamPath
    """Where an error at a location inside ``body`` is in the caller's batch body."""


def _dotted(loc: Sequence[int | str]) -> str:
    """``("metadata", "k")`` -> ``metadata.k``; ``("requests", 3)`` -> ``requests[3]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(error: ErrorDetails, param: str) -> str:
    """The same wording ``POST /v1/videos`` uses for a validation error."""
    if error["type"] == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param}"
    if error["type"] == "literal_error":
        return f"Invalid value for '{param}': {error['msg']}"
    return f"Invalid '{param}': {error['msg']}"


def _invalid(exc: ValidationError, param: ParamPath) -> InvalidRequestError:
    first = exc.errors()[0]
    where = param(tuple(first.get("loc", ())))
    return InvalidRequestError(_message(first, where), param=where or None)


def invalid_body(exc: ValidationError) -> InvalidRequestError:
    """A create body's validation error, worded as ``POST /v1/videos`` words it."""
    return _invalid(exc, _dotted)


def _unrecognized(raw: Mapping[str, Any], allowed: set[str]) -> None:
    for key in raw:
        if key not in allowed:
            raise InvalidRequestError(
                f"Unrecognized request argument supplied: {key}", param=str(key)
            )


def _in_requests(index: int) -> ParamPath:
    return lambda loc: _dotted(("requests", index, *loc))


def _variation_field(loc: Sequence[int | str]) -> str:
    # Every variation is the same body: an error in one is an error in the batch's field.
    return _dotted(loc)


def _preset_field(index: int) -> ParamPath:
    def param(loc: Sequence[int | str]) -> str:
        if loc and loc[0] == "preset":
            return _dotted(("presets", index))
        if loc and loc[0] == "prompt":
            return _dotted(("brief", *loc[1:]))
        return _dotted(loc)

    return param


def _elements(raw: Mapping[str, Any], shape: CreateBatchBody) -> list[_Element]:
    """The create bodies a batch stands for, each with where its errors belong."""
    # The shape fields are nullable (as the OpenAPI document says): one sent as null is one not
    # sent, so it neither picks a shape nor counts as foreign to the shape picked.
    nulls = [name for name in _SHAPE_FIELDS if name in raw and raw[name] is None]
    raw = {key: value for key, value in raw.items() if key not in nulls}
    shared = {k: v for k, v in raw.items() if k not in _BATCH_LEVEL}
    if "requests" in raw:
        _unrecognized(raw, {"requests", *_BATCH_LEVEL})
        if shape.requests is None:
            raise InvalidRequestError(
                "Invalid 'requests': expected a list of create bodies.", param="requests"
            )
        # The raw bodies, not the parsed ones: each is validated exactly as sent.
        return [_Element(dict(body), _in_requests(i)) for i, body in enumerate(raw["requests"])]
    if "presets" in raw or "brief" in raw:
        for wrong, hint in (
            ("prompt", "give the text as 'brief' when using 'presets'"),
            ("preset", "list the presets in 'presets'"),
            ("n", "'n' variations and 'presets' cannot be combined"),
        ):
            if wrong in raw:
                raise InvalidRequestError(f"Unexpected '{wrong}': {hint}.", param=wrong)
        if shape.brief is None or shape.presets is None:
            missing = "brief" if shape.brief is None else "presets"
            raise InvalidRequestError(
                f"Missing '{missing}': a campaign batch needs both 'brief' and 'presets'.",
                param=missing,
            )
        for i, preset in enumerate(shape.presets):
            if preset in shape.presets[:i]:
                raise InvalidRequestError(
                    f"Invalid 'presets[{i}]': '{preset}' is listed twice.", param=f"presets[{i}]"
                )
        common = {k: v for k, v in shared.items() if k not in ("brief", "presets")}
        return [
            _Element({**common, "prompt": shape.brief, "preset": preset}, _preset_field(i))
            for i, preset in enumerate(shape.presets)
        ]
    if "n" in raw:
        if shape.n is None or "prompt" not in raw:
            missing = "n" if shape.n is None else "prompt"
            raise InvalidRequestError(
                f"Missing '{missing}': a variations batch needs 'prompt' and 'n'.", param=missing
            )
        common = {k: v for k, v in shared.items() if k != "n"}
        return [_Element(dict(common), _variation_field) for _ in range(shape.n)]
    raise InvalidRequestError(
        "Send 'requests' (a list of create bodies), 'prompt' with 'n' (variations), "
        "or 'brief' with 'presets' (one video per preset).",
        param=nulls[0] if nulls else None,
    )


def _validated(
    element: _Element, moderation_deadline: float
) -> tuple[CreateVideoBody, ResolvedCreate]:
    try:
        body = CreateVideoBody.model_validate(element.body)
    except ValidationError as exc:
        raise _invalid(exc, element.param) from exc
    try:
        resolved = resolve_create(body, moderation_deadline=moderation_deadline)
    except InvalidRequestError as exc:
        where = element.param((exc.param,) if exc.param else ())
        raise InvalidRequestError(
            exc.message.replace(f"'{exc.param}'", f"'{where}'") if exc.param else exc.message,
            param=where or None,
            code=exc.code,
        ) from exc
    return body, resolved


def _validated_all(elements: Sequence[_Element]) -> list[tuple[CreateVideoBody, ResolvedCreate]]:
    """Every element validated and resolved; identical bodies (variations) are checked once.

    With pre-submit moderation on, the prompts are pre-checked for at most
    ``BATCH_MODERATION_SECONDS`` in all, so that a large batch still answers in time.
    """
    deadline = time.monotonic() + BATCH_MODERATION_SECONDS
    checked: dict[str, tuple[CreateVideoBody, ResolvedCreate]] = {}
    validated = []
    for element in elements:
        key = json.dumps(element.body, sort_keys=True, default=str)
        if key not in checked:
            checked[key] = _validated(element, deadline)
        validated.append(checked[key])
    return validated


def plan_batch(raw: Mapping[str, Any]) -> BatchPlan:
    """Expand and validate a batch body; the first problem is :class:`InvalidRequestError`."""
    try:
        shape = CreateBatchBody.model_validate(raw)
    except ValidationError as exc:
        raise _invalid(exc, _dotted) from exc
    elements = _elements(raw, shape)
    if not elements or len(elements) > MAX_BATCH_JOBS:
        raise InvalidRequestError(
            f"A batch holds 1 to {MAX_BATCH_JOBS} videos; this one asks for {len(elements)}.",
            code="batch_too_large",
        )
    callback_url = None
    if shape.callback_url is not None:
        # Held to the same rules as a job's (https, public addresses only).
        callback_url = validate_callback_url(shape.callback_url)
    validated = _validated_all(elements)
    return BatchPlan(
        bodies=[body for body, _ in validated],
        resolved=[resolved for _, resolved in validated],
        metadata=dict(shape.metadata),
        callback_url=callback_url,
    )


def batch_resource(batch: Batch, jobs: Sequence[Job]) -> BatchResource:
    """The ``video.batch`` view: live counts from the jobs, progress as their mean.

    A finished job counts as 100 %, a running one by its own progress, so the percentage
    moves while long videos render rather than jumping by whole jobs.
    """
    counts = {status.value: 0 for status in JobStatus}
    progress = 0
    for job in jobs:
        counts[job.status.value] += 1
        progress += 100 if job.status.is_terminal else max(0, min(job.progress, 99))
    total = max(batch.total, 1)
    finished = sum(1 for job in jobs if job.status.is_terminal)
    done = batch.completed_at is not None or (bool(jobs) and finished >= batch.total)
    completed_at = batch.completed_at
    if done and completed_at is None:
        completed_at = max((job.completed_at or job.updated_at) for job in jobs)
    return BatchResource(
        id=batch.batch_id,
        status="completed" if done else "in_progress",
        created_at=batch.created_at,
        completed_at=completed_at if done else None,
        total=batch.total,
        counts=BatchCounts(**counts),
        percent_complete=100 if done else min(99, progress // total),
        job_ids=list(batch.job_ids),
        metadata=dict(batch.metadata),
    )


def create_batch(
    tenant_id: str, raw: Mapping[str, Any], *, idempotency_key: IdempotencyKey | None = None
) -> BatchResource:
    """Validate every job of a batch, check the whole fits the tenant's budgets, then store
    the batch and create its jobs in order.

    A batch over a budget is :class:`BudgetExceededError` and creates nothing.
    ``idempotency_key`` makes a retry answer with the batch the first attempt created.
    """
    plan = plan_batch(raw)
    if idempotency_key is None:
        return _create(tenant_id, plan)
    return idempotency.run_once_as(
        BatchResource,
        tenant_id,
        idempotency_key,
        plan.fingerprint(),
        lambda: _create(tenant_id, plan),
    )


def _create(tenant_id: str, plan: BatchPlan) -> BatchResource:
    now = int(time.time())
    # Inside the idempotent call: a retry of a batch that used the last of a budget gets that
    # batch back, not a refusal. Only a check, not a reservation: each job still reserves its
    # own cost below, and that stays authoritative. A concurrent submit that takes the budget
    # in between stops the batch part-way, and it is sealed to the jobs that fit (the 429).
    costs.ensure_affordable(tenant_id, plan.requests, now)
    batch = batches.create(
        Batch(
            batch_id=new_batch_id(),
            tenant_id=tenant_id,
            created_at=now,
            total=len(plan.bodies),
            metadata=plan.metadata,
            callback_url=plan.callback_url,
        )
    )
    logger.append_keys(batch_id=batch.batch_id)
    created: list[Job] = []
    try:
        for resolved in plan.resolved:
            created.append(create_resolved_job(tenant_id, resolved, batch_id=batch.batch_id))
    except Exception:
        # Creation failed part-way (the service, or a concurrent submit that took the budget
        # after the check above): hold the batch to the jobs that exist so it can still
        # complete, then let the error answer the request.
        _seal(batch, created)
        raise
    batch = batches.set_jobs(batch.batch_id, [job.job_id for job in created])
    metrics.add_metric(name="BatchesCreated", unit="Count", value=1)
    logger.info("batch created", extra={"total": batch.total})
    return batch_resource(batch, created)


def _seal(batch: Batch, created: Sequence[Job]) -> None:
    """Shrink a half-created batch to the jobs that were stored, and settle it."""
    # The job whose creation failed may have been stored (and failed) without being returned.
    stored = jobs_dal.list_for_tenant(
        batch.tenant_id, batch_id=batch.batch_id, limit=batch.total, max_pages=None
    ).jobs
    known = {job.job_id for job in created}
    job_ids = [job.job_id for job in created]
    job_ids += [job.job_id for job in reversed(stored) if job.job_id not in known]
    logger.warning(
        "batch creation stopped part-way",
        extra={"jobs_created": len(job_ids), "jobs_requested": batch.total},
    )
    if not job_ids:
        batches.delete(batch.batch_id)
        return
    sealed = batches.set_jobs(batch.batch_id, job_ids, total=len(job_ids))
    for job in stored:
        if job.status.is_terminal:
            on_job_terminal(job)
    complete_if_finished(sealed)


def get_batch(tenant_id: str, batch_id: str) -> BatchResource:
    """A tenant's batch with live counts; anything else is :class:`BatchNotFoundError`."""
    if not is_batch_id(batch_id):
        raise BatchNotFoundError(batch_id[:80])
    batch = batches.get_for_tenant(tenant_id, batch_id)
    return batch_resource(batch, batches.load_jobs(batch.job_ids))


# --- batches made from intake files ----------------------------------------------------------


def open_intake_batch(
    tenant_id: str,
    batch_id: str,
    *,
    total: int,
    source: IntakeSource,
    callback_url: str | None,
    metadata: Mapping[str, str],
) -> IntakeBatch:
    """The batch of an intake file: created on first delivery, found again on any later one.

    ``batch_id`` is derived from the file (bucket, key, ETag), so a redelivered event or an
    identical upload lands on the same batch; the create is conditional. ``total`` is an upper
    bound (the lines that parsed) until :func:`seal_intake_batch` sets the real one.
    """
    try:
        batch = batches.create(
            IntakeBatch(
                batch_id=batch_id,
                tenant_id=tenant_id,
                created_at=int(time.time()),
                total=total,
                metadata=dict(metadata),
                callback_url=callback_url,
                source=source,
            )
        )
        metrics.add_metric(name="BatchesCreated", unit="Count", value=1)
    except StaleTransitionError:
        batch = batches.get(batch_id)
    if not isinstance(batch, IntakeBatch) or batch.tenant_id != tenant_id:
        # Ids come from a hash of the file: another batch under this id is not ours to touch.
        raise BatchNotFoundError(batch_id)
    logger.append_keys(batch_id=batch.batch_id)
    return batch


def seal_intake_batch(batch_id: str, lines: Sequence[PlanLine]) -> Batch:
    """Fix an intake batch to the jobs its lines created, then complete it if they are done."""
    job_ids = [line.job_id for line in lines if line.job_id is not None]
    sealed = batches.seal_intake(batch_id, job_ids, lines)
    logger.info("intake batch sealed", extra={"total": sealed.total})
    complete_if_finished(sealed)
    return sealed
