"""The OpenAPI 3.1 document of the ``/v1`` API and its docs page.

The handlers parse bodies themselves (JSON and multipart, with OpenAI-shaped 400s), so the
document is assembled here from the same pydantic models they validate with and answer
with: a field added to a model shows up in the document, and ``docs/openapi.json`` (checked by
a unit test) shows the change in review. The docs page is Swagger UI from the copy that ships
inside Powertools, inlined, so it needs no CDN.

Regenerate the committed copy with ``python -m videojobs.handlers.api_openapi docs/openapi.json``.
"""

from __future__ import annotations

import copy
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any, Literal

from aws_lambda_powertools.event_handler.openapi import swagger_ui
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from videojobs.logic.idempotency import MAX_KEY_CHARS
from videojobs.models.api import (
    CreateVideoBody,
    ErrorBody,
    ModelList,
    RemixVideoBody,
    VideoResource,
)
from videojobs.models.api_list import ListVideosQuery, VideoDeleted, VideoList
from videojobs.models.batches import BatchResource, CreateBatchBody
from videojobs.models.provider_types import CONTENT_VARIANTS
from videojobs.models.usage import UsageQuery, UsageReport

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
_REF = "#/components/schemas/{model}"
_VIDEO_ID_PATTERN = r"^video_[0-9a-f]{32}$"
_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]

_ERRORS: dict[int, str] = {
    400: "Invalid request: `error.param` names the offending parameter.",
    401: "Missing, unknown or revoked API key.",
    404: "Not found for this API key (another tenant's ids are not found either).",
    409: (
        "The Idempotency-Key was already used with a different request body, or its first "
        "request is still being processed (`error.code` says which)."
    ),
    429: (
        "The tenant sent requests faster than its share of the API (`error.code` "
        "`rate_limit_exceeded`, with a `Retry-After` header), or, for a create, it is over its "
        "daily or monthly budget (`error.type` and `error.code` `insufficient_quota`, the "
        "message names the budget); either way nothing was done."
    ),
    503: "The service could not start the job; nothing was created, submit it again.",
}

_Mode = Literal["validation", "serialization"]
# Request bodies are described as the handlers validate them, responses as they are written.
_MODELS: list[tuple[type[BaseModel], _Mode]] = [
    (CreateVideoBody, "validation"),
    (RemixVideoBody, "validation"),
    (CreateBatchBody, "validation"),
    (BatchResource, "serialization"),
    (VideoResource, "serialization"),
    (VideoList, "serialization"),
    (VideoDeleted, "serialization"),
    (ErrorBody, "serialization"),
    (UsageReport, "serialization"),
    (ModelList, "serialization"),
]


@cache
def _schemas() -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """Each model's ``$ref`` (by name) and the component schemas they point at."""
    refs, top = models_json_schema(_MODELS, ref_template=_REF)
    by_name = {model.__name__: ref for (model, _mode), ref in refs.items()}
    return by_name, dict(sorted(top.get("$defs", {}).items()))


def _ref(model: type[BaseModel]) -> dict[str, str]:
    # pydantic names a model's two modes apart ("-Input"/"-Output") only when they differ.
    return dict(_schemas()[0][model.__name__])


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ok(
    model: type[BaseModel], description: str, links: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer = {"description": description, "content": _json_content(_ref(model))}
    if links:
        answer["links"] = links
    return answer


def _links(parameter: str, *operation_ids: str) -> dict[str, Any]:
    """OpenAPI links: the ``id`` in a response is the ``parameter`` of these operations
    (readers and fuzzers such as schemathesis follow them from create to read to delete)."""
    return {
        op: {"operationId": op, "parameters": {parameter: "$response.body#/id"}}
        for op in operation_ids
    }


_VIDEO_LINKS = _links(
    "video_id", "retrieveVideo", "downloadVideoContent", "remixVideo", "deleteVideo"
)


def _responses(
    ok: dict[str, dict[str, Any]], *errors: int, bad_request: str | None = None
) -> dict[str, Any]:
    """``bad_request``: the 400s an operation gives for a valid request, by ``error.code``."""
    answers: dict[str, Any] = dict(ok)
    # Every authenticated route may answer 429 for the tenant's request rate.
    for status in (400, 401, 429, *errors):
        description = _ERRORS[status]
        if status == 400 and bad_request:
            description += " " + bad_request
        answers[str(status)] = {
            "description": description,
            "content": _json_content(_ref(ErrorBody)),
        }
    return dict(sorted(answers.items()))


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string, never JSON null: drop the null branch."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        return {**options[0], **rest}
    return schema


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = _without_null(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        if prop.get("default", ...) is None:
            del prop["default"]
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


_VIDEO_ID = {
    "name": "video_id",
    "in": "path",
    "required": True,
    "description": "The video's id, as returned when it was created.",
    "schema": {"type": "string", "pattern": _VIDEO_ID_PATTERN},
}
_BATCH_ID = {
    "name": "batch_id",
    "in": "path",
    "required": True,
    "description": "The batch's id, as returned when it was created.",
    "schema": {"type": "string", "pattern": r"^vbatch_[0-9a-f]{32}$"},
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Makes retries safe for 24 hours: the same key and body return the same job and "
        "create one provider video; the same key with another body is a 409."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS, "pattern": "^[ -~]+$"},
}
_BATCH_IDEMPOTENCY_KEY = {
    **_IDEMPOTENCY_KEY,
    "description": (
        "Makes retries safe for 24 hours: the same key and body return the same batch and "
        "create no more jobs; the same key with another body is a 409."
    ),
}


def _multipart(schema: dict[str, Any]) -> dict[str, Any]:
    """The multipart form the openai SDK sends: the same fields, plus a reference image."""
    form = copy.deepcopy(schema)
    form["title"] = f"{form.get('title', 'Body')}Form"
    form.setdefault("properties", {})["input_reference"] = {
        "type": "string",
        "format": "binary",
        "description": "An image (JPEG, PNG or WebP) the video starts from.",
    }
    return form


def _component(model: type[BaseModel]) -> dict[str, Any]:
    name = _ref(model)["$ref"].rsplit("/", 1)[-1]
    return dict(_schemas()[1][name])


def _paths() -> dict[str, Any]:
    create_schema = _component(CreateVideoBody)
    return {
        "/v1/videos": {
            "post": {
                "operationId": "createVideo",
                "tags": ["videos"],
                "summary": "Create a video job",
                "description": (
                    "Stores a queued job and starts it. JSON or multipart/form-data (what the "
                    "openai SDK sends). With an Idempotency-Key, the same key and body return "
                    "the same job; the same key with another body is a 409."
                ),
                "parameters": [_IDEMPOTENCY_KEY],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref(CreateVideoBody)},
                        "multipart/form-data": {"schema": _multipart(create_schema)},
                    },
                },
                "responses": _responses(
                    {"200": _ok(VideoResource, "The job, queued.", _VIDEO_LINKS)}, 409, 429, 503
                ),
            },
            "get": {
                "operationId": "listVideos",
                "tags": ["videos"],
                "summary": "List your videos",
                "description": (
                    "One page of your videos (cursor paging as in the OpenAI API: pass the "
                    "last id as `after`). Deleted videos never appear; progress shown is as "
                    "last recorded (a single-video read refreshes it)."
                ),
                "parameters": _query_parameters(ListVideosQuery),
                "responses": _responses({"200": _ok(VideoList, "One page of videos.")}),
            },
        },
        "/v1/videos/{video_id}": {
            "parameters": [_VIDEO_ID],
            "get": {
                "operationId": "retrieveVideo",
                "tags": ["videos"],
                "summary": "Retrieve a video",
                "description": (
                    "The job with its current progress; once completed, `assets` holds "
                    "short-lived download URLs."
                ),
                "responses": _responses({"200": _ok(VideoResource, "The video.")}, 404),
            },
            "delete": {
                "operationId": "deleteVideo",
                "tags": ["videos"],
                "summary": "Cancel and delete a video",
                "description": (
                    "A running job is cancelled (its workflow stopped, the provider's video "
                    "deleted, `video.cancelled` published); any job's stored files are "
                    "deleted. Afterwards the id is not found."
                ),
                "responses": _responses({"200": _ok(VideoDeleted, "The video was deleted.")}, 404),
            },
        },
        "/v1/videos/{video_id}/content": {
            "parameters": [_VIDEO_ID],
            "get": {
                "operationId": "downloadVideoContent",
                "tags": ["videos"],
                "summary": "Download a completed video's file",
                "description": "Redirects to a short-lived URL of the stored file.",
                "parameters": [
                    {
                        "name": "variant",
                        "in": "query",
                        "required": False,
                        "description": "Which file.",
                        "schema": {
                            "type": "string",
                            "enum": list(CONTENT_VARIANTS),
                            "default": "video",
                        },
                    }
                ],
                "responses": _responses(
                    {
                        "302": {
                            "description": "Found: the file is at `Location`.",
                            "headers": {
                                "Location": {
                                    "description": "A presigned URL, valid for a few minutes.",
                                    "schema": {"type": "string", "format": "uri"},
                                }
                            },
                        }
                    },
                    404,
                    bad_request=(
                        "A well-formed request is a 400 too while the video has no file: "
                        "`video_not_ready` until it is completed, `video_failed` once it failed "
                        "or was cancelled."
                    ),
                ),
            },
        },
        "/v1/videos/{video_id}/remix": {
            "parameters": [_VIDEO_ID],
            "post": {
                "operationId": "remixVideo",
                "tags": ["videos"],
                "summary": "Remix a completed video",
                "description": (
                    "A new job from a completed video and a new prompt; it keeps the source's "
                    "model, size and seconds."
                ),
                "parameters": [_IDEMPOTENCY_KEY],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref(RemixVideoBody)},
                        "multipart/form-data": {"schema": _ref(RemixVideoBody)},
                    },
                },
                "responses": _responses(
                    {"200": _ok(VideoResource, "The remix job, queued.", _VIDEO_LINKS)},
                    404,
                    409,
                    429,
                    503,
                    bad_request=(
                        "A well-formed request is a 400 too while the source video is not "
                        "completed (`video_not_ready`), or when its model has no remix "
                        "(`unsupported_parameter`: the Amazon Bedrock models)."
                    ),
                ),
            },
        },
        "/v1/videos/{video_id}/cancel": {
            "parameters": [_VIDEO_ID],
            "post": {
                "operationId": "cancelVideo",
                "tags": ["videos"],
                "summary": "Cancel a running video, keeping its record",
                "description": (
                    "Extension. A running job is cancelled as by `DELETE` (workflow stopped, "
                    "provider video deleted, `video.cancelled` published) but stays readable "
                    "and listed with `status: cancelled`. A job that has already ended is "
                    "answered unchanged, its files kept: cancelling never deletes a video."
                ),
                "responses": _responses(
                    {"200": _ok(VideoResource, "The video as it is now (cancelled or ended).")},
                    404,
                ),
            },
        },
        "/v1/video_batches": {
            "post": {
                "operationId": "createVideoBatch",
                "tags": ["batches"],
                "summary": "Create a batch of video jobs",
                "description": (
                    "One of three shapes: `requests` (a list of create bodies), `prompt` + "
                    "`n` (variations of one prompt, other create fields shared), or `brief` + "
                    "`presets` (one brief per preset). Validated all-or-nothing; a batch "
                    "over a budget is refused whole (429). With an Idempotency-Key, the same "
                    "key and body return the same batch; the same key with another body is a "
                    "409."
                ),
                "parameters": [_BATCH_IDEMPOTENCY_KEY],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(CreateBatchBody)}},
                },
                "responses": _responses(
                    {
                        "200": _ok(
                            BatchResource,
                            "The batch and its queued jobs.",
                            _links("batch_id", "retrieveVideoBatch"),
                        )
                    },
                    409,
                    429,
                    503,
                ),
            },
        },
        "/v1/video_batches/{batch_id}": {
            "parameters": [_BATCH_ID],
            "get": {
                "operationId": "retrieveVideoBatch",
                "tags": ["batches"],
                "summary": "Retrieve a batch's progress",
                "description": "Counts per status, percentage complete and the job ids.",
                "responses": _responses({"200": _ok(BatchResource, "The batch.")}, 404),
            },
        },
        "/v1/usage": {
            "get": {
                "operationId": "retrieveUsage",
                "tags": ["usage"],
                "summary": "Your jobs, seconds generated and cost by day and model",
                "description": (
                    "Jobs count on the UTC day they were created. Totals are the sum of the "
                    "jobs' own costs; `budgets` shows the current UTC day and month."
                ),
                "parameters": _query_parameters(UsageQuery),
                "responses": _responses({"200": _ok(UsageReport, "The usage report.")}),
            }
        },
        "/v1/models": {
            "get": {
                "operationId": "listModels",
                "tags": ["models"],
                "summary": "The models this deployment serves",
                "description": (
                    "sora-2 and sora-2-pro through the OpenAI Videos protocol; "
                    "amazon.nova-reel-v1:1 and luma.ray-v2:0 through Amazon Bedrock, where the "
                    "deployment enables them."
                ),
                "responses": _responses({"200": _ok(ModelList, "The served models.")}),
            }
        },
        "/v1/openapi.json": {
            "get": {
                "operationId": "getOpenApiDocument",
                "tags": ["meta"],
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": _json_content({"type": "object"}),
                    }
                },
            }
        },
        "/v1/docs": {
            "get": {
                "operationId": "getApiDocs",
                "tags": ["meta"],
                "summary": "Interactive documentation (Swagger UI, self-contained)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "An HTML page.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        **_console_paths(),
    }


def _console_paths() -> dict[str, Any]:
    """The web console's page and files: public, the same for everyone."""
    files = {
        "/console": ("getConsole", "The web console (sign in with an API key)", "text/html"),
        "/console/console.js": ("getConsoleScript", "The console's script", "text/javascript"),
        "/console/console.css": ("getConsoleStyles", "The console's styles", "text/css"),
    }
    return {
        path: {
            "get": {
                "operationId": operation,
                "tags": ["console"],
                "summary": summary,
                "security": [],
                "responses": {
                    "200": {
                        "description": "The file, with a Content-Security-Policy header.",
                        "content": {media: {"schema": {"type": "string"}}},
                    }
                },
            }
        }
        for path, (operation, summary, media) in files.items()
    }


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every ``/v1`` route (``server_url``: where it is served)."""
    document = copy.deepcopy(_document())
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "videojobs",
            "version": API_VERSION,
            "description": (
                "Durable video-generation jobs behind an OpenAI-compatible `/v1/videos` API. "
                "Authenticate with `Authorization: Bearer <key>` (what the openai SDK sends) "
                "or `x-api-key: <key>`. Every error is "
                '`{"error": {"message", "type", "param", "code"}}`.'
            ),
        },
        "tags": [
            {"name": "videos", "description": "Video jobs (OpenAI Videos API shapes)."},
            {"name": "batches", "description": "Many jobs submitted and tracked together."},
            {"name": "meta", "description": "This API's own description."},
            {"name": "console", "description": "The web console served beside the API."},
        ],
        "security": _SECURITY,
        "paths": _paths(),
        "components": {
            "schemas": _schemas()[1],
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`Authorization: Bearer <key>`, as the openai SDK sends it.",
                },
                "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
        },
    }
    return document


def served_from(event: APIGatewayProxyEvent) -> str | None:
    """Where the API was reached (scheme, domain and any stage or base path), for ``servers``."""
    context = event.request_context
    domain = context.domain_name
    full_path = context.path or ""
    if not domain or not full_path.endswith(event.path):
        return None
    scheme = "https"
    for name, value in (event.headers or {}).items():
        if name.lower() == "x-forwarded-proto" and value in {"http", "https"}:
            scheme = value
    return f"{scheme}://{domain}{full_path[: len(full_path) - len(event.path)]}"


def render_openapi(document: dict[str, Any]) -> str:
    """The document as committed: stable key order, two-space indent, trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@cache
def _swagger_assets() -> tuple[str, str]:
    # Powertools ships a Swagger UI build beside its own docs handler; reading it once per
    # container keeps the page offline-capable without another dependency.
    folder = Path(swagger_ui.__file__).parent
    return (
        (folder / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (folder / "swagger-ui.min.css").read_text(encoding="utf-8"),
    )


def docs_html(document: dict[str, Any]) -> str:
    """A self-contained Swagger UI page for ``document`` (no network needed to render it)."""
    script, style = _swagger_assets()
    # "</" inside an inline <script> could end it early; "<\/" means the same to JSON.
    spec = json.dumps(document).replace("</", "<\\/")
    return swagger_ui.generate_swagger_html(spec, script, style, "", None)


def main(argv: list[str]) -> int:
    """``python -m videojobs.handlers.api_openapi PATH``: write the document to PATH."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m videojobs.handlers.api_openapi PATH\n")
        return 2
    Path(argv[0]).write_text(render_openapi(openapi_document()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
