"""The error contract.

Every failure the service knows about is a subclass of :class:`VideojobsError`. The API maps
each class to an HTTP status and the OpenAI error body; in Step Functions the class name is
the ASL error name that ``Retry`` and ``Catch`` match, so renaming a class is a breaking change
to ``infra/statemachine/*.asl.json``.
"""

from __future__ import annotations


class VideojobsError(Exception):
    """Base of every error this service raises on purpose."""


# --- provider --------------------------------------------------------------------------------


class ProviderError(VideojobsError):
    """The video provider could not do what was asked.

    ``request_id`` is the provider's ``x-request-id`` when it sent one: quote it to its support.
    The message never contains the provider key. ``provider_message`` is the provider's own
    words alone (an error body's ``message``), without anything of ours around them: the only
    part of the error that may be shown to a tenant.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        provider_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.param = param
        self.request_id = request_id
        self.provider_message = provider_message

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.append(f"status={self.status_code}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.param:
            parts.append(f"param={self.param}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)


class ProviderTransientError(ProviderError):
    """5xx, timeout, connection reset or truncated body: safe to try again later."""


class ProviderThrottledError(ProviderTransientError):
    """429: try again after ``retry_after`` seconds (None when the provider did not say)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ProviderRejectedError(ProviderError):
    """400/404/409/422: the provider refused the request; retrying the same request won't help."""


class ProviderAuthError(ProviderError):
    """401/403: the configured provider key is missing, wrong or lacks access."""


class ProviderConfigError(VideojobsError):
    """The provider secret in Secrets Manager is not the JSON document the service needs.

    The message names what is wrong and never quotes the secret's content.
    """


# --- webhooks --------------------------------------------------------------------------------


class InvalidWebhookSignatureError(VideojobsError):
    """A webhook failed Standard Webhooks verification (any reason: headers, age, signature)."""


# --- jobs ------------------------------------------------------------------------------------


class JobNotFoundError(VideojobsError):
    """No such job for this tenant (another tenant's job is 'not found' too)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"No video found with id '{job_id}'.")
        self.job_id = job_id


class StaleTransitionError(VideojobsError):
    """A conditional write lost: the job had already moved on (duplicates, reordering)."""


class JobCancelledError(VideojobsError):
    """The job was cancelled while a workflow step was working on it."""


class AssetsExpiredError(VideojobsError):
    """The provider's download window closed before the assets were stored."""


class ProviderVideoFailedError(VideojobsError):
    """The provider reported that it could not generate the video.

    No Python code raises it: the state machine's ProviderFailed state names it when a status
    check or a webhook says the video failed, and RecordFailure turns it into the job's error
    (with the provider's own reason when it gave one).
    """


class WorkflowUnavailableError(VideojobsError):
    """Step Functions refused to start the job's execution; the job was failed, not lost."""


class StorageUnavailableError(VideojobsError):
    """S3 refused to store a file the service was given (a reference image)."""


class InvalidRequestError(VideojobsError):
    """A caller sent something we can't accept (mapped to HTTP 400 with ``param``)."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class VariantUnavailableError(VideojobsError):
    """A completed video's provider made no file of this variant (HTTP 404 ``variant_unavailable``).

    Amazon Bedrock's video models make the video alone: no thumbnail, no spritesheet.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthenticationError(VideojobsError):
    """Missing, unknown or revoked API key (HTTP 401)."""


class CallbackNotStartedError(VideojobsError):
    """No callback attempt was made for a queue message: too little time was left in the
    invocation to finish one. The message goes back to the queue as it was; no attempt is
    counted."""


class BatchNotFoundError(VideojobsError):
    """No such batch for this tenant (another tenant's batch is 'not found' too)."""

    def __init__(self, batch_id: str) -> None:
        super().__init__(f"No video batch found with id '{batch_id}'.")
        self.batch_id = batch_id


class IdempotencyConflictError(VideojobsError):
    """An ``Idempotency-Key`` reused with another request, or its request still running (409).

    ``code`` tells which: ``idempotency_key_reused`` or ``idempotency_request_in_progress``.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class BudgetExceededError(VideojobsError):
    """A submit would take the tenant past its daily or monthly budget (HTTP 429).

    ``budget`` is ``daily`` or ``monthly``; nothing was created.
    """

    def __init__(self, message: str, *, budget: str) -> None:
        super().__init__(message)
        self.message = message
        self.budget = budget


class RequestRateExceededError(VideojobsError):
    """A tenant sent requests faster than its share of the API allows (HTTP 429).

    ``retry_after`` is the seconds until its next request would be admitted.
    """

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Too many requests; the next one is possible in {retry_after:.1f} s.")
        self.retry_after = retry_after
