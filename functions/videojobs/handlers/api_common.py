"""Shared pieces of the ``/v1`` API handlers: the tenant, bodies, the OpenAI shapes."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel, ValidationError

from videojobs.logic.idempotency import MAX_KEY_CHARS
from videojobs.models.api import ErrorBody, ErrorDetail
from videojobs.models.errors import AuthenticationError, InvalidRequestError, JobNotFoundError

MAX_JSON_BODY_BYTES = 1024 * 1024
INTERNAL_ERROR_HEADER = "x-request-id"

_Model = TypeVar("_Model", bound=BaseModel)

VIDEO_ID_PATTERN = r"^video_[0-9a-f]{32}$"
# A path parameter that does not match is answered 404 (such an id cannot exist), as an
# unknown id is: see the RequestValidationError handler in api.py.
VideoId = Annotated[
    str,
    Path(pattern=VIDEO_ID_PATTERN, description="The video's id, as returned when it was created."),
]


def error_response(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> Response[str]:
    """An OpenAI-shaped error answer."""
    body = ErrorBody(error=ErrorDetail(message=message, type=type_, param=param, code=code))
    return Response(
        status_code=status, content_type="application/json", body=body.model_dump_json()
    )


# Tenant answers are never stored by a browser, proxy or CDN: many carry presigned download
# links (a video, a list, a batch, the content redirect), which are bearer credentials for as
# long as they last, and all of them are one tenant's data.
NO_STORE = {"Cache-Control": "no-store"}


def internal_error_response(reference: str) -> Response[str]:
    """The 500 for anything unexpected: a fixed message and the id the logs carry."""
    response = error_response(
        500, f"Internal error; reference {reference}", type_="server_error", code="internal_error"
    )
    response.headers[INTERNAL_ERROR_HEADER] = reference
    return response


def _described(name: str, schema: dict[str, Any], value: object) -> str:
    """What a parameter must be, from its documented schema."""
    if "enum" in schema:
        return f"{name} must be one of: {', '.join(str(v) for v in schema['enum'])}."
    if schema.get("format") == "date":
        return f"{name} must be a day as YYYY-MM-DD (UTC), got '{str(value)[:40]}'."
    if schema.get("type") == "integer":
        return f"{name} must be an integer from {schema.get('minimum')} to {schema.get('maximum')}."
    if "minLength" in schema and not 1 <= len(str(value)) <= schema.get("maxLength", 1 << 30):
        return f"{name} must be {schema['minLength']} to {schema.get('maxLength')} characters."
    if "pattern" in schema:
        return f"{name} must match {schema['pattern']}."
    return f"Invalid '{name}'."


def _noun(resource: str, parameter: str) -> str:
    """What an id names, from the collection before it: ``/v1/video_batches/{batch_id}`` ->
    "video batch" (the words of the not-found errors)."""
    segments = resource.split("/")
    placeholder = "{" + parameter + "}"
    collection = segments[segments.index(placeholder) - 1] if placeholder in segments else ""
    if collection.endswith(("ches", "shes", "sses", "xes")):
        collection = collection[:-2]
    return collection.removesuffix("s").replace("_", " ") or parameter


def refused_parameter(
    errors: Sequence[Any], event: APIGatewayProxyEvent, schemas: dict[str, dict[str, Any]]
) -> Response[str]:
    """The answer to a query, path or header parameter that does not match its declaration
    (``schemas``: the operation's parameter schemas by ``location:name``).

    A query parameter is a 400 ``invalid_value``, a header a 400 ``invalid_<header>``, and a
    path id that cannot exist a 404 as an unknown id is.
    """
    for name, values in (event.multi_value_query_string_parameters or {}).items():
        if len(values or []) > 1:
            return error_response(
                400,
                f"Query parameter '{name[:64]}' was given more than once.",
                param=name[:64],
                code="invalid_value",
            )
    first = errors[0]
    location, name = str(first["loc"][0]), str(first["loc"][-1])
    value = first.get("input")
    if location == "path":
        noun = _noun(event.resource, name)
        return error_response(404, f"No {noun} found with id '{str(value)[:80]}'.")
    schema = schemas.get(f"{location}:{name.lower()}", {})
    if location == "header":
        # Named as the caller spelt it (Powertools matches headers in lower case).
        sent = event.raw_event.get("headers") or {}
        name = next((key for key in sent if key.lower() == name.lower()), name)
        code = "invalid_" + name.lower().replace("-", "_")
        return error_response(400, _described(name, schema, value), param=name, code=code)
    return error_response(400, _described(name, schema, value), param=name, code="invalid_value")


def invalid_request(exc: ValidationError) -> InvalidRequestError:
    """A request model's validation error as the 400 a caller sees (its first problem)."""
    first = exc.errors()[0]
    param = ".".join(str(p) for p in first.get("loc", ())) or None
    message = first.get("msg", "Invalid request.")
    if first.get("type") == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}"
    elif first.get("type") == "literal_error":
        message = f"Invalid value for '{param}': {message}"
    else:
        message = f"Invalid '{param}': {message}" if param else message
    return InvalidRequestError(message, param=param)


def parse_request(model: type[_Model], fields: object) -> _Model:
    """``fields`` as ``model``, or the 400 for its first problem.

    Only request parsing turns a pydantic error into a 400: one raised later is a bug of
    ours, answered with a 500 and logged.
    """
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise invalid_request(exc) from None


def json_response(model: BaseModel, status: int = 200) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=model.model_dump_json(),
        headers=dict(NO_STORE),
    )


def tenant_id(event: APIGatewayProxyEvent) -> str:
    """The caller's tenant, as the authorizer established it."""
    tenant = event.request_context.authorizer.get("tenant_id")
    if not tenant:
        raise AuthenticationError("missing tenant")
    return str(tenant)


def header(event: APIGatewayProxyEvent, name: str) -> str | None:
    """A request header, case-insensitively."""
    wanted = name.lower()
    for key, value in (event.headers or {}).items():
        if key.lower() == wanted:
            return str(value)
    return None


def raw_body(event: APIGatewayProxyEvent) -> bytes:
    """The request body as bytes (API Gateway base64-encodes binary media types)."""
    body = event.body
    if not body:
        return b""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError(
                "The request body could not be decoded.", code="invalid_body"
            ) from None
    # A lone surrogate survives as bytes that the UTF-8 decode in json_object refuses.
    return body.encode("utf-8", errors="surrogatepass")


def json_object(
    raw: bytes, what: str = "The request body", *, empty_is_object: bool = False
) -> dict[str, Any]:
    """``raw`` parsed as a JSON object, or :class:`InvalidRequestError`.

    With ``empty_is_object`` an empty body is ``{}``, so that the field checks that follow
    name the missing field rather than calling the body malformed.
    """
    empty: dict[str, Any] | None = {} if empty_is_object else None
    try:
        parsed = json.loads(raw.decode("utf-8")) if raw.strip() else empty
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: deeply nested brackets are malformed input, not a server fault.
        raise InvalidRequestError(f"{what} is not valid JSON.", code="invalid_json") from None
    if not isinstance(parsed, dict):
        raise InvalidRequestError(f"{what} must be a JSON object.", code="invalid_json")
    return parsed


def json_body(event: APIGatewayProxyEvent) -> dict[str, Any]:
    """The request body as a JSON object, or :class:`InvalidRequestError`."""
    raw = raw_body(event)
    if len(raw) > MAX_JSON_BODY_BYTES:
        raise InvalidRequestError("The request body is too large.", code="body_too_large")
    content_type = (header(event, "content-type") or "").split(";", 1)[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise InvalidRequestError(
            "Send the request body as application/json.", code="unsupported_media_type"
        )
    return json_object(raw)


def checked_job_id(video_id: str) -> str:
    """``video_id`` if it is shaped like one of our ids; anything else cannot exist (404)."""
    hex_part = video_id[6:]
    if not (
        video_id.startswith("video_")
        and len(hex_part) == 32
        and all(c in "0123456789abcdef" for c in hex_part)
    ):
        raise JobNotFoundError(video_id[:80])
    return video_id


# The ``Idempotency-Key`` header's rules, the same on every create; each route adds the
# description of what a retry returns.
IDEMPOTENCY_KEY_HEADER: dict[str, Any] = {
    "alias": "Idempotency-Key",
    "min_length": 1,
    "max_length": MAX_KEY_CHARS,
    "pattern": "^[ -~]+$",
}
