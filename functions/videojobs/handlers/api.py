"""The public ``/v1`` API (API Gateway REST proxy -> Powertools resolver).

Routes live in ``api_create`` (everything that creates a job) and ``api_videos`` (reading and
deleting); this module wires them and maps every error to the OpenAI error body with the
status OpenAI uses. Nothing a caller sends can produce a 5xx: validation happens before any
write. Anything unexpected is a 500 with a fixed message and the API Gateway request id, which
is the logs' correlation id: no exception text reaches a caller.
"""

from __future__ import annotations

import math
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs.handlers import (
    api_batches,
    api_console,
    api_create,
    api_models,
    api_usage,
    api_videos,
)
from videojobs.handlers.api_common import (
    error_response,
    internal_error_response,
    refused_parameter,
)
from videojobs.handlers.api_openapi import (
    DOCS_PATH,
    PUBLIC,
    ApiResolver,
    documented_operations,
    openapi_document,
    render_openapi,
    served_from,
)
from videojobs.logic import request_rate
from videojobs.models.errors import (
    AuthenticationError,
    BudgetExceededError,
    IdempotencyConflictError,
    InvalidRequestError,
    JobNotFoundError,
    RequestRateExceededError,
    VariantUnavailableError,
    WorkflowUnavailableError,
)
from videojobs.observability import logger, metrics

# With validation on, Powertools checks the declared query, path and header parameters before
# a route runs (refusals are the OpenAI 400 below) and builds the OpenAPI document from them.
app = ApiResolver(enable_validation=True)


app.include_router(api_create.router)
app.include_router(api_videos.router)
app.include_router(api_batches.router)
app.include_router(api_usage.router)
app.include_router(api_models.router)
app.include_router(api_console.router)


@app.exception_handler(  # type: ignore[untyped-decorator]
    InvalidRequestError
)
def _invalid_request(exc: InvalidRequestError) -> Response[str]:
    return error_response(400, exc.message, param=exc.param, code=exc.code)


@app.exception_handler(  # type: ignore[untyped-decorator]
    RequestValidationError
)
def _invalid_parameter(exc: RequestValidationError) -> Response[str]:
    event = app.current_event
    schemas = documented_operations().get((event.http_method.upper(), event.resource or ""), {})
    return refused_parameter(exc.errors(), event, schemas)


@app.exception_handler(  # type: ignore[untyped-decorator]
    JobNotFoundError
)
def _not_found(exc: JobNotFoundError) -> Response[str]:
    return error_response(404, str(exc))


@app.exception_handler(  # type: ignore[untyped-decorator]
    VariantUnavailableError
)
def _variant_unavailable(exc: VariantUnavailableError) -> Response[str]:
    return error_response(404, exc.message, param="variant", code="variant_unavailable")


@app.exception_handler(  # type: ignore[untyped-decorator]
    AuthenticationError
)
def _unauthenticated(exc: AuthenticationError) -> Response[str]:
    return error_response(401, "Invalid or missing API key.", code="invalid_api_key")


@app.exception_handler(  # type: ignore[untyped-decorator]
    IdempotencyConflictError
)
def _idempotency_conflict(exc: IdempotencyConflictError) -> Response[str]:
    return error_response(409, exc.message, code=exc.code)


@app.exception_handler(  # type: ignore[untyped-decorator]
    BudgetExceededError
)
def _over_budget(exc: BudgetExceededError) -> Response[str]:
    # OpenAI's answer when an account is out of credit. A retry cannot succeed before the
    # budget resets, so the openai SDK is told not to make its automatic ones.
    response = error_response(
        429, exc.message, type_="insufficient_quota", code="insufficient_quota"
    )
    response.headers["x-should-retry"] = "false"
    return response


def _rate_limited(exc: RequestRateExceededError) -> Response[str]:
    # OpenAI's answer to a rate limit; the openai SDK waits Retry-After and retries.
    response = error_response(
        429,
        "Rate limit reached for requests: this API key's tenant is sending requests faster "
        f"than it may. Try again in {math.ceil(exc.retry_after)} s.",
        type_="requests",
        code="rate_limit_exceeded",
    )
    response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


@app.exception_handler(  # type: ignore[untyped-decorator]
    WorkflowUnavailableError
)
def _unavailable(exc: WorkflowUnavailableError) -> Response[str]:
    return error_response(503, "The service is busy; try again.", type_="server_error")


@app.exception_handler(  # type: ignore[untyped-decorator]
    Exception
)
def _internal_error(exc: Exception) -> Response[str]:
    # Anything not mapped above is ours (a bug, an AWS call that failed, a pydantic error past
    # request parsing). Its text may quote ARNs, table names or secrets: it goes to the log,
    # under the request's correlation id, and the caller gets that id to quote.
    reference = logger.get_correlation_id() or app.current_event.request_context.request_id
    logger.exception("internal error", extra={"error_type": type(exc).__name__})
    return internal_error_response(str(reference or "unknown"))


@app.get(
    "/v1/openapi.json",
    operation_id="getOpenApiDocument",
    tags=["meta"],
    summary="This document",
    responses={
        200: {
            "description": "The OpenAPI document.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
    openapi_extensions=PUBLIC,
)
def _openapi_json() -> Response[str]:
    # Public (no authorizer on this route in template.yaml): it describes, it reveals nothing.
    document = openapi_document(served_from(app.current_event))
    return Response(status_code=200, content_type="application/json", body=render_openapi(document))


# Swagger UI from the copy that ships inside Powertools, inlined in the page: no CDN, nothing
# fetched from anywhere but this API. ``?format=json`` answers the document (its download link).
app.enable_swagger(path=DOCS_PATH)


def _methods(path: str) -> frozenset[str]:
    return frozenset(method for method, known in documented_operations() if known == path)


@app.not_found
def _no_route(exc: NotFoundError) -> Response[str]:
    event = app.current_event
    # A method a path does not declare reaches here through that path's ANY method in
    # template.yaml (API Gateway prefers the explicit methods): 405 with the ones it has.
    allowed = _methods(event.resource or "")
    if allowed and event.http_method.upper() not in allowed:
        response = error_response(
            405,
            f"Method {event.http_method[:16]} is not allowed on {event.resource}; "
            f"use {', '.join(sorted(allowed))}.",
            code="method_not_allowed",
        )
        response.headers["Allow"] = ", ".join(sorted(allowed))
        return response
    return error_response(404, f"Unknown request URL: {event.http_method} {event.path}.")


@logger.inject_lambda_context(
    clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST
)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Every request of a tenant first takes one of its tokens (``request_rate``), before any
    # route runs; the public routes (OpenAPI document, docs) have no tenant and no bucket.
    # Checked here rather than in a resolver middleware: a refusal must not depend on the
    # resolver's per-request state.
    request_context = event.get("requestContext") or {}
    tenant = (request_context.get("authorizer") or {}).get("tenant_id")
    if tenant:
        try:
            request_rate.admit(str(tenant))
        except RequestRateExceededError as exc:
            return _proxy_result(_rate_limited(exc))
        except Exception as exc:
            reference = logger.get_correlation_id() or request_context.get("requestId")
            logger.exception("internal error", extra={"error_type": type(exc).__name__})
            return _proxy_result(internal_error_response(str(reference or "unknown")))
    return app.resolve(event, context)


def _proxy_result(response: Response[str]) -> dict[str, Any]:
    """A response as the REST API's Lambda proxy integration takes it (the resolver's shape)."""
    headers = {
        name: [value] if isinstance(value, str) else list(value)
        for name, value in response.headers.items()
    }
    return {
        "statusCode": response.status_code,
        "multiValueHeaders": headers,
        "body": response.body,
        "isBase64Encoded": False,
    }
