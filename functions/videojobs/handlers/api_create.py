"""``POST /v1/videos`` and ``POST /v1/videos/{id}/remix``: everything that creates a job.

Both take JSON or ``multipart/form-data``: the official openai SDK sends every create as
multipart (API Gateway hands it over base64-encoded) and a remix as JSON. A form is mapped
onto the same fields as JSON (``metadata[key]=value`` fields and/or a JSON ``metadata``
field, ``input_reference`` as a file part), so both are validated by the same model.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from videojobs.handlers.api_common import (
    IDEMPOTENCY_KEY_HEADER,
    VideoId,
    checked_job_id,
    header,
    json_object,
    json_response,
    parse_request,
    raw_body,
    tenant_id,
)
from videojobs.handlers.api_openapi import answers, links, ok, request_body
from videojobs.handlers.multipart import FormPart, parse_form_data
from videojobs.logic.create_job import create_job, remix_job
from videojobs.logic.idempotency import IdempotencyKey, checked_key
from videojobs.logic.reference_image import MAX_INPUT_REFERENCE_BYTES
from videojobs.logic.video_view import video_resource
from videojobs.models.api import CreateVideoBody, RemixVideoBody, UploadedImage, VideoResource
from videojobs.models.errors import InvalidRequestError

router = APIGatewayRouter()  # type: ignore[no-untyped-call]

# Room for the largest reference image as a base64 data: URL plus every other field.
MAX_CREATE_BODY_BYTES = MAX_INPUT_REFERENCE_BYTES * 4 // 3 + 256 * 1024
_BRACKETED = re.compile(r"^(?P<field>[A-Za-z_]+)\[(?P<key>[^\[\]]*)\]$")


def _put(target: dict[str, Any], key: str, value: Any, param: str) -> None:
    if key in target:
        raise InvalidRequestError(f"'{param[:80]}' is given more than once.", param=param[:80])
    target[key] = value


def _form_fields(parts: list[FormPart]) -> tuple[dict[str, Any], UploadedImage | None]:
    """The JSON-shaped fields of a form, and its ``input_reference`` file if any."""
    fields: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    reference: dict[str, Any] = {}
    upload: UploadedImage | None = None
    for part in parts:
        name = part.name
        bracketed = _BRACKETED.match(name)
        if name == "input_reference" and part.is_file:
            if upload is not None:
                raise InvalidRequestError(
                    "'input_reference' is given more than once.", param="input_reference"
                )
            upload = UploadedImage(
                filename=part.filename or "reference",
                declared_type=part.content_type,
                data=part.data,
            )
        elif part.is_file:
            raise InvalidRequestError(
                f"'{name[:80]}' must be a text field, not a file.", param=name[:80]
            )
        elif name == "input_reference":
            raise InvalidRequestError(
                "input_reference must be a file upload (or input_reference[image_url]).",
                param="input_reference",
            )
        elif name == "metadata":
            pairs = json_object(part.data, "The 'metadata' field", empty_is_object=True)
            for key, value in pairs.items():
                _put(metadata, key, value, f"metadata.{key}")
        elif bracketed is not None and bracketed["field"] in ("metadata", "input_reference"):
            target = metadata if bracketed["field"] == "metadata" else reference
            _put(target, bracketed["key"], part.text(), name)
        else:
            _put(fields, name, part.text(), name)
    if metadata:
        _put(fields, "metadata", metadata, "metadata")
    if reference:
        _put(fields, "input_reference", reference, "input_reference")
    return fields, upload


def request_fields(event: APIGatewayProxyEvent) -> tuple[dict[str, Any], UploadedImage | None]:
    """The body's fields (JSON or form) and an uploaded reference image."""
    raw = raw_body(event)
    if len(raw) > MAX_CREATE_BODY_BYTES:
        raise InvalidRequestError(
            f"The request body is larger than {MAX_CREATE_BODY_BYTES} bytes.",
            code="body_too_large",
        )
    content_type = header(event, "content-type") or ""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        return _form_fields(parse_form_data(raw, content_type))
    if media_type in ("", "application/json") or media_type.endswith("+json"):
        return json_object(raw, empty_is_object=True), None
    raise InvalidRequestError(
        "Send the body as application/json or multipart/form-data.",
        code="unsupported_media_type",
    )


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        **IDEMPOTENCY_KEY_HEADER,
        description=(
            "Makes retries safe for 24 hours: the same key and body return the same job and "
            "create one provider video; the same key with another body is a 409."
        ),
    ),
]
VIDEO_LINKS = links(
    "video_id", "retrieveVideo", "downloadVideoContent", "remixVideo", "deleteVideo"
)


def _idempotency_key(value: str | None) -> IdempotencyKey | None:
    if value is None:
        return None
    return IdempotencyKey(checked_key(value), router.lambda_context)


@router.post(
    "/v1/videos",
    operation_id="createVideo",
    tags=["videos"],
    summary="Create a video job",
    description=(
        "Stores a queued job and starts it. JSON or multipart/form-data (what the openai SDK "
        "sends). With an Idempotency-Key, the same key and body return the same job; the same "
        "key with another body is a 409."
    ),
    responses=answers(
        ok(VideoResource, "The job, queued.", VIDEO_LINKS),
        409,
        429,
        503,
        bad_request=(
            "A request the schema allows is a 400 too when its fields do not combine: a size or "
            "length the model does not make (`invalid_value`, listing the valid ones), a "
            "`preset` or `duration`/`aspect_ratio`/`resolution` that maps onto none, a model "
            "this deployment does not serve, or a `callback_url` it may not call."
        ),
    ),
    openapi_extensions=request_body(
        CreateVideoBody,
        form=True,
        input_reference="An image (JPEG, PNG or WebP) the video starts from.",
    ),
)
def create_video(idempotency_key: IdempotencyKeyHeader = None) -> Response[str]:
    tenant = tenant_id(router.current_event)
    key = _idempotency_key(idempotency_key)
    fields, upload = request_fields(router.current_event)
    body = parse_request(CreateVideoBody, fields)
    job = create_job(tenant, body, input_reference=upload, idempotency_key=key)
    return json_response(video_resource(job))


@router.post(
    "/v1/videos/<video_id>/remix",
    operation_id="remixVideo",
    tags=["videos"],
    summary="Remix a completed video",
    description=(
        "A new job from a completed video and a new prompt; it keeps the source's model, size "
        "and seconds."
    ),
    responses=answers(
        ok(VideoResource, "The remix job, queued.", VIDEO_LINKS),
        404,
        409,
        429,
        503,
        bad_request=(
            "A well-formed request is a 400 too while the source video is not completed "
            "(`video_not_ready`), or when its model has no remix (`unsupported_parameter`: the "
            "Amazon Bedrock models)."
        ),
    ),
    openapi_extensions=request_body(RemixVideoBody, form=True),
)
def remix_video(video_id: VideoId, idempotency_key: IdempotencyKeyHeader = None) -> Response[str]:
    tenant = tenant_id(router.current_event)
    source = checked_job_id(video_id)
    key = _idempotency_key(idempotency_key)
    fields, upload = request_fields(router.current_event)
    if upload is not None:
        raise InvalidRequestError(
            "Unrecognized request argument supplied: input_reference", param="input_reference"
        )
    body = parse_request(RemixVideoBody, fields)
    job = remix_job(tenant, source, body, idempotency_key=key)
    return json_response(video_resource(job))
