"""Submit a job's video to the provider, exactly once."""

from __future__ import annotations

import contextlib
import math
import time
from typing import cast

from videojobs.adapters.dal import control, jobs
from videojobs.adapters.providers import VideoProvider
from videojobs.adapters.storage import assets
from videojobs.logic.provider_access import get_bedrock, get_provider
from videojobs.models.bedrock import BedrockVideoRequest, FirstFrame
from videojobs.models.errors import (
    JobCancelledError,
    ProviderError,
    ProviderRejectedError,
    ProviderThrottledError,
    StaleTransitionError,
)
from videojobs.models.job import Job, JobError
from videojobs.models.provider import CreateVideoRequest, InputReference, ProviderVideo
from videojobs.models.provider_types import (
    BedrockModelName,
    ModelName,
    VideoSeconds,
    VideoSize,
    protocol_of,
)
from videojobs.models.steps import StepOutcome
from videojobs.observability import logger
from videojobs.settings import get_settings

# How far back (seconds) a provider video may predate our recorded attempt and still be ours:
# clocks differ a little between us and the provider.
_CLOCK_SKEW = 30
_DEFAULT_THROTTLE_WAIT = 10
_MAX_THROTTLE_WAIT = 300


def _ensure_waiting(job: Job) -> None:
    if job.status.is_terminal:
        raise JobCancelledError(f"job {job.job_id} is already {job.status.value}")


def _adopt_orphan(provider: VideoProvider, job: Job) -> ProviderVideo | None:
    """Find the provider video an earlier, interrupted attempt may have created.

    A create whose answer was lost (timeout, crash) may still have started a paid video. Before
    creating again, look for a video with the same request, created since that attempt, that
    no job owns yet, and adopt it instead of paying twice.
    """
    assert job.submit_attempted_at is not None
    page = provider.list(limit=100, order="desc")
    for video in page.data:
        if video.created_at < job.submit_attempted_at - _CLOCK_SKEW:
            break
        same = (
            video.prompt == job.request.prompt
            and video.model == job.request.model
            and video.size == job.request.size
            and str(video.seconds) == job.request.seconds
        )
        if same and jobs.find_by_provider_id(video.id) is None:
            logger.info(
                "adopting provider video from an interrupted submit", extra={"video": video.id}
            )
            return video
    return None


def _record_rejection(job: Job, exc: ProviderRejectedError) -> None:
    """Keep the provider's reason on the job for RecordFailure, which fails the job with it
    (and publishes ``video.failed``, releases the slot, settles the cost)."""
    # The provider's own words (its content-policy reason) and nothing of ours: the message
    # around them names our request path.
    error = JobError(
        code=exc.code or "provider_rejected",
        message=exc.provider_message or "The provider rejected the request.",
        retryable=False,
        billed=False,
    )
    # Already moved on (say, cancelled meanwhile): that ending stands.
    with contextlib.suppress(StaleTransitionError):
        jobs.transition(
            job.job_id,
            job.status,
            allowed_from=[job.status],
            fields={"provider_error": error.model_dump()},
        )


def _create(provider: VideoProvider, job: Job) -> ProviderVideo:
    request = job.request
    if request.remix_of_provider_id:
        return provider.remix(request.remix_of_provider_id, request.prompt)
    reference = None
    if request.input_reference is not None:
        stored = request.input_reference
        reference = InputReference(
            filename=stored.filename,
            content_type=stored.content_type,
            data=assets.read_input(stored.key),
        )
    # resolve_create let only this protocol's models, lengths and sizes through.
    return provider.create(
        CreateVideoRequest(
            prompt=request.prompt,
            model=cast(ModelName, request.model),
            seconds=cast(VideoSeconds, request.seconds),
            size=cast(VideoSize, request.size),
            input_reference=reference,
        )
    )


def first_check_seconds(job: Job) -> int:
    """When the workflow first checks the job's status itself, in seconds after submission.

    While the job's protocol has sent wake-up events lately (webhooks, Bedrock's output
    events), the check is a safety net for a lost one: it comes once a clip like this one is
    normally done (``FirstStatusCheckSeconds``). A protocol that has sent none for
    ``wakeup_trust_seconds``, or never, is not waited on: the first check comes at
    ``PollIntervalSeconds`` and the checks back off from there.
    """
    settings = get_settings()
    last = control.last_wakeup(protocol_of(job.request.model))
    if last is None or time.time() - last > settings.wakeup_trust_seconds:
        return settings.poll_interval_seconds
    return max(
        settings.poll_interval_seconds,
        settings.first_status_check(job.request.model, int(job.request.seconds)),
    )


def submit(job_id: str) -> StepOutcome:
    """Create the provider video for ``job_id`` unless it already has one.

    Returns ``throttled`` with the provider's Retry-After when it answered 429 (nothing was
    created, so submitting again later is safe). A provider rejection is recorded with the
    provider's code and message and re-raised: the state machine's fail path fails the job
    with them.
    """

    def held_back(wait: float) -> None:
        jobs.record_throttle(job_id, int(time.time() + math.ceil(wait)))

    job = jobs.get(job_id)
    _ensure_waiting(job)
    interval = first_check_seconds(job)
    if job.provider_video_id:
        return StepOutcome(
            outcome="submitted",
            provider_status=job.provider_status or "queued",
            interval_seconds=interval,
        )

    if protocol_of(job.request.model) == "bedrock":
        return _submit_to_bedrock(job, interval)
    provider = get_provider(on_wait=held_back)
    first_attempt = job.submit_attempted_at is None
    try:
        video = None if first_attempt else _adopt_orphan(provider, job)
        if video is None:
            if first_attempt:
                # The first attempt's time bounds the adoption search of every later one.
                try:
                    jobs.mark_submit_attempt(job_id)
                except StaleTransitionError as exc:
                    raise JobCancelledError(
                        f"job {job_id} was cancelled before submission"
                    ) from exc
            video = _create(provider, job)
    except ProviderThrottledError as exc:
        if first_attempt:
            # A 429 is a definite "not created": the next attempt needs no adoption search.
            jobs.clear_submit_attempt(job_id)
        wait = exc.retry_after if exc.retry_after is not None else _DEFAULT_THROTTLE_WAIT
        wait_seconds = min(_MAX_THROTTLE_WAIT, max(1, math.ceil(wait)))
        held_back(wait_seconds)
        return StepOutcome(
            outcome="throttled",
            provider_status="queued",
            wait_seconds=wait_seconds,
            interval_seconds=interval,
        )
    except ProviderRejectedError as exc:
        _record_rejection(job, exc)
        raise

    try:
        jobs.record_submission(job_id, video.id, video.status.value)
    except StaleTransitionError as exc:
        # Cancelled while the create was in flight: the cancel wins, the video is not ours.
        try:
            provider.delete(video.id)
        except ProviderError:  # the job is cancelled either way; the provider expires videos
            logger.warning(
                "could not delete the video of a cancelled job", extra={"video": video.id}
            )
        raise JobCancelledError(f"job {job_id} was cancelled during submission") from exc
    logger.info("submitted", extra={"job_id": job_id, "video": video.id, "at": int(time.time())})
    return StepOutcome(
        outcome="submitted", provider_status=video.status.value, interval_seconds=interval
    )


def _bedrock_request(job: Job) -> BedrockVideoRequest:
    request = job.request
    frame = None
    if request.input_reference is not None:
        stored = request.input_reference
        frame = FirstFrame(
            format="png" if stored.content_type == "image/png" else "jpeg",
            data=assets.read_input(stored.key),
        )
    return BedrockVideoRequest(
        model=cast(BedrockModelName, request.model),
        prompt=request.prompt,
        seconds=int(request.seconds),
        size=request.size,
        loop=request.loop,
        first_frame=frame,
        client_token=job.job_id,
        output_s3_uri=assets.bedrock_output_uri(job.job_id),
    )


def _submit_to_bedrock(job: Job, interval: int) -> StepOutcome:
    """``StartAsyncInvoke`` with the job id as ``clientRequestToken``.

    No search for an orphan is needed here: an attempt whose answer was lost is repeated with
    the same token, and Bedrock answers with the invocation that attempt started.
    """
    job_id = job.job_id
    if job.submit_attempted_at is None:
        try:
            jobs.mark_submit_attempt(job_id)
        except StaleTransitionError as exc:
            raise JobCancelledError(f"job {job_id} was cancelled before submission") from exc
    try:
        invocation_arn = get_bedrock().start(_bedrock_request(job))
    except ProviderThrottledError as exc:
        wait = exc.retry_after if exc.retry_after is not None else _DEFAULT_THROTTLE_WAIT
        logger.info("bedrock throttled the submit", extra={"code": exc.code})
        return StepOutcome(
            outcome="throttled",
            provider_status="queued",
            wait_seconds=min(_MAX_THROTTLE_WAIT, max(1, math.ceil(wait))),
            interval_seconds=interval,
        )
    except ProviderRejectedError as exc:
        _record_rejection(job, exc)
        raise
    try:
        jobs.record_submission(job_id, invocation_arn, "in_progress")
    except StaleTransitionError as exc:
        # Bedrock has no way to stop an invocation: what it writes is deleted when it lands.
        raise JobCancelledError(f"job {job_id} was cancelled during submission") from exc
    logger.info("submitted to bedrock", extra={"job_id": job_id, "invocation": invocation_arn})
    return StepOutcome(
        outcome="submitted", provider_status="in_progress", interval_seconds=interval
    )
