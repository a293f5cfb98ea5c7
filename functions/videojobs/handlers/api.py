"""The public ``/v1`` API (API Gateway REST proxy -> Powertools resolver).

Every answer that is not a success is an OpenAI error body with the status OpenAI uses, and
nothing a caller sends can produce a 5xx: validation happens before any write.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from videojobs.dal import jobs
from videojobs.logic.apply_provider_status import refresh_progress
from videojobs.logic.create_job import WorkflowUnavailableError, create_job
from videojobs.models.api import (
    CreateVideoBody,
    ErrorBody,
    ErrorDetail,
    VideoErrorBody,
    VideoResource,
)
from videojobs.models.errors import AuthenticationError, InvalidRequestError, JobNotFoundError
from videojobs.models.job import Job, JobStatus
from videojobs.models.provider import CONTENT_VARIANTS, ContentVariant
from videojobs.observability import logger
from videojobs.storage import assets

app = APIGatewayRestResolver()

_MAX_BODY_BYTES = 1024 * 1024


def error_response(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> Response[str]:
    body = ErrorBody(error=ErrorDetail(message=message, type=type_, param=param, code=code))
    return Response(
        status_code=status,
        content_type="application/json",
        body=body.model_dump_json(),
    )


def _tenant_id() -> str:
    tenant = app.current_event.request_context.authorizer.get("tenant_id")
    if not tenant:
        raise AuthenticationError("missing tenant")
    return str(tenant)


def _json_body() -> dict[str, Any]:
    raw = app.current_event.decoded_body or ""
    if len(raw.encode("utf-8")) > _MAX_BODY_BYTES:
        raise InvalidRequestError("The request body is too large.", code="body_too_large")
    content_type = (app.current_event.headers or {}).get("content-type") or (
        app.current_event.headers or {}
    ).get("Content-Type", "")
    if content_type and "json" not in content_type.lower():
        raise InvalidRequestError(
            "Send the request body as application/json.", code="unsupported_media_type"
        )
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError as exc:
        raise InvalidRequestError(
            "The request body is not valid JSON.", code="invalid_json"
        ) from exc
    if not isinstance(parsed, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_json")
    return parsed


def to_resource(job: Job) -> VideoResource:
    """The OpenAI Video view of a job (asset URLs only once completed)."""
    asset_urls = None
    if job.status is JobStatus.COMPLETED and job.assets:
        asset_urls = {
            str(variant): assets.presigned_get_url(asset.key)
            for variant, asset in job.assets.items()
        }
    return VideoResource(
        id=job.job_id,
        model=job.request.model,
        status=job.status.value,
        progress=100 if job.status is JobStatus.COMPLETED else job.progress,
        seconds=job.request.seconds,
        size=job.request.size,
        prompt=job.request.prompt,
        created_at=job.created_at,
        completed_at=job.completed_at,
        error=VideoErrorBody(code=job.error.code, message=job.error.message) if job.error else None,
        remixed_from_video_id=job.request.remix_of,
        metadata=job.metadata,
        assets=asset_urls,
    )


def _json(model: VideoResource, status: int = 200) -> Response[str]:
    return Response(
        status_code=status, content_type="application/json", body=model.model_dump_json()
    )


@app.post("/v1/videos")
def create_video() -> Response[str]:
    body = CreateVideoBody.model_validate(_json_body())
    job = create_job(_tenant_id(), body)
    return _json(to_resource(job))


@app.get("/v1/videos/<video_id>")
def get_video(video_id: str) -> Response[str]:
    job = jobs.get_for_tenant(_tenant_id(), _checked_id(video_id))
    return _json(to_resource(refresh_progress(job)))


@app.get("/v1/videos/<video_id>/content")
def get_content(video_id: str) -> Response[str]:
    variant = (app.current_event.query_string_parameters or {}).get("variant", "video")
    if variant not in CONTENT_VARIANTS:
        raise InvalidRequestError(
            f"variant must be one of: {', '.join(CONTENT_VARIANTS)}.", param="variant"
        )
    job = jobs.get_for_tenant(_tenant_id(), _checked_id(video_id))
    chosen: ContentVariant = variant
    if job.status is not JobStatus.COMPLETED or chosen not in job.assets:
        raise InvalidRequestError(
            f"Video '{video_id}' has no content yet (status: {job.status.value}).",
            code="video_not_ready",
        )
    url = assets.presigned_get_url(job.assets[chosen].key)
    return Response(status_code=302, headers={"Location": url}, body="")


def _checked_id(video_id: str) -> str:
    # Anything that is not shaped like one of our ids can't exist: answer 404 without a read.
    if not (video_id.startswith("video_") and len(video_id) == 38 and video_id[6:].isalnum()):
        raise JobNotFoundError(video_id[:80])
    return video_id


@app.exception_handler(  # type: ignore[untyped-decorator]
    ValidationError
)
def _validation_error(exc: ValidationError) -> Response[str]:
    first = exc.errors()[0]
    param = ".".join(str(p) for p in first.get("loc", ())) or None
    message = first.get("msg", "Invalid request.")
    if first.get("type") == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}"
    elif first.get("type") == "literal_error":
        message = f"Invalid value for '{param}': {message}"
    else:
        message = f"Invalid '{param}': {message}" if param else message
    return error_response(400, message, param=param)


@app.exception_handler(  # type: ignore[untyped-decorator]
    InvalidRequestError
)
def _invalid_request(exc: InvalidRequestError) -> Response[str]:
    return error_response(400, exc.message, param=exc.param, code=exc.code)


@app.exception_handler(  # type: ignore[untyped-decorator]
    JobNotFoundError
)
def _not_found(exc: JobNotFoundError) -> Response[str]:
    return error_response(404, str(exc))


@app.exception_handler(  # type: ignore[untyped-decorator]
    AuthenticationError
)
def _unauthenticated(exc: AuthenticationError) -> Response[str]:
    return error_response(401, "Invalid or missing API key.", code="invalid_api_key")


@app.exception_handler(  # type: ignore[untyped-decorator]
    WorkflowUnavailableError
)
def _unavailable(exc: WorkflowUnavailableError) -> Response[str]:
    return error_response(503, "The service is busy; try again.", type_="server_error")


@app.not_found
def _no_route(exc: NotFoundError) -> Response[str]:
    return error_response(
        404, f"Unknown request URL: {app.current_event.http_method} {app.current_event.path}."
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
