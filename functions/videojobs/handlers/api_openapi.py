"""The OpenAPI 3.1 document of the API, made by Powertools from the routes themselves.

Each route declares what it takes and answers where it is defined: typed ``Annotated[...,
Query()/Path()/Header()]`` parameters and ``responses=`` (the pieces below keep those short).
Powertools builds the document from them (``ApiResolver.get_openapi_schema``); this module
adds only what Powertools cannot declare:

- the request bodies the handlers parse themselves (JSON or ``multipart/form-data``, with
  OpenAI-shaped 400s): a route declares one with ``openapi_extensions=request_body(...)``,
  and the models it names are added to ``components``;
- ``security: []`` on the public routes (Powertools drops an empty list), which a route
  declares with ``openapi_extensions=PUBLIC``;
- no 422: request validation errors are answered with the OpenAI 400 (see ``api.py``).

Regenerate the committed copy with ``make openapi``
(``python -m videojobs.handlers.api_openapi docs/openapi.json``); a unit test fails while it
differs from the code.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import (
    OpenAPI,
    Server,
    Tag,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from videojobs.models.api import ErrorBody

API_TITLE = "videojobs"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Durable video-generation jobs behind an OpenAI-compatible `/v1/videos` API. "
    "Authenticate with `Authorization: Bearer <key>` (what the openai SDK sends) "
    "or `x-api-key: <key>`. Every error is "
    '`{"error": {"message", "type", "param", "code"}}`.'
)
TAGS: list[Tag | str] = [
    Tag(name="videos", description="Video jobs (OpenAI Videos API shapes)."),
    Tag(name="batches", description="Many jobs submitted and tracked together."),
    Tag(name="meta", description="This API's own description."),
    Tag(name="console", description="The web console served beside the API."),
]
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]
SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <key>`, as the openai SDK sends it.",
    },
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "x-api-key"},
}
DOCS_PATH = "/v1/docs"

_REF = "#/components/schemas/{model}"
# The components of the bodies routes declare with request_body(), by component name.
_BODY_COMPONENTS: dict[str, dict[str, Any]] = {}

# A route without an authorizer in template.yaml (the document, its docs page, the console).
PUBLIC: dict[str, Any] = {"security": []}

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


def answers(
    ok: dict[int, OpenAPIResponse], *errors: int, bad_request: str | None = None
) -> dict[int, OpenAPIResponse]:
    """A tenant route's ``responses=``: its success, and the error bodies it may answer.

    Every tenant route may answer 400, 401 and 429 (the tenant's request rate).
    ``bad_request``: the 400s a well-formed request can get, by ``error.code``.
    """
    result: dict[int, OpenAPIResponse] = dict(ok)
    for status in sorted({400, 401, 429, *errors}):
        description = _ERRORS[status]
        if status == 400 and bad_request:
            description += " " + bad_request
        result[status] = {
            "description": description,
            "content": {"application/json": {"model": ErrorBody}},
        }
    return result


def ok(
    model: type[BaseModel], description: str, links: dict[str, Any] | None = None
) -> dict[int, OpenAPIResponse]:
    """A 200 with a JSON ``model`` (and OpenAPI ``links`` to follow from it)."""
    answer: OpenAPIResponse = {
        "description": description,
        "content": {"application/json": {"model": model}},
    }
    if links:
        answer["links"] = links
    return {200: answer}


def links(parameter: str, *operation_ids: str) -> dict[str, Any]:
    """OpenAPI links: the ``id`` in a response is the ``parameter`` of these operations
    (readers and fuzzers such as schemathesis follow them from create to read to delete)."""
    return {
        op: {"operationId": op, "parameters": {parameter: "$response.body#/id"}}
        for op in operation_ids
    }


def public_file(description: str, media_type: str) -> dict[int, OpenAPIResponse]:
    """The 200 of a public route answering a page or file of ``media_type``."""
    return {
        200: {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}
    }


def _component(model: type[BaseModel], title: str | None = None, **files: str) -> str:
    """Adds ``model`` (as the handlers validate it) to the body components; its name."""
    schema = model.model_json_schema(ref_template=_REF, mode="validation")
    for name, definition in schema.pop("$defs", {}).items():
        _BODY_COMPONENTS.setdefault(name, definition)
    name = title or model.__name__
    if files:
        schema["title"] = name
        schema.setdefault("properties", {}).update(
            {
                field: {"type": "string", "format": "binary", "description": description}
                for field, description in files.items()
            }
        )
    _BODY_COMPONENTS[name] = schema
    return name


def request_body(
    model: type[BaseModel], *, form: bool = False, **form_files: str
) -> dict[str, Any]:
    """``openapi_extensions`` declaring a body the handler parses itself: JSON as ``model``,
    and with ``form`` also the multipart form the openai SDK sends (the same fields, plus
    the file parts named in ``form_files`` with their descriptions)."""
    content: dict[str, Any] = {
        "application/json": {"schema": {"$ref": _REF.format(model=_component(model))}}
    }
    if form:
        form_name = model.__name__
        if form_files:
            form_name = _component(model, f"{model.__name__}Form", **form_files)
        content["multipart/form-data"] = {"schema": {"$ref": _REF.format(model=form_name)}}
    return {"requestBody": {"required": True, "content": content}}


class ApiResolver(APIGatewayRestResolver):
    """The API's resolver: Powertools' document, completed as the module docstring says.

    Swagger UI (``enable_swagger``) asks the same two methods, so the docs page shows the
    same document as ``/v1/openapi.json``, with the server it was reached at.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.configure_openapi(
            title=API_TITLE,
            version=API_VERSION,
            description=API_DESCRIPTION,
            tags=TAGS,
            security=SECURITY,
            security_schemes=SECURITY_SCHEMES,
        )

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPI:
        generated = super().get_openapi_schema(**kwargs)
        document = json.loads(generated.model_dump_json(by_alias=True, exclude_none=True))
        return OpenAPI.model_validate(_completed(document))

    def _get_base_path(self) -> str:
        # Only the Swagger UI route asks: the server its document names.
        return served_from(self.current_event) or super()._get_base_path()


def _plain_parameter(parameter: dict[str, Any]) -> None:
    """A parameter is absent or a string, never JSON null: no null branch, and its
    description once, beside it rather than repeated inside its schema."""
    schema = parameter.get("schema", {})
    options = [s for s in schema.pop("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options
    schema.pop("title", None)
    for bound in ("minimum", "maximum"):
        # Powertools keeps bounds as floats; an integer's read better as integers.
        if isinstance(schema.get(bound), float) and schema[bound].is_integer():
            schema[bound] = int(schema[bound])
    if schema.get("description") == parameter.get("description"):
        schema.pop("description", None)


def _completed(document: dict[str, Any]) -> dict[str, Any]:
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                _plain_parameter(parameter)
            responses = operation.get("responses", {})
            # Powertools' 422s: a refused parameter is the OpenAI 400 here.
            responses.pop("422", None)
            for response in responses.values():
                if response.get("content") == {}:
                    del response["content"]
    # Powertools leaves its Swagger UI route out of the document; it is a public route too.
    document["paths"][DOCS_PATH] = {
        "get": {
            "tags": ["meta"],
            "summary": "Interactive documentation (Swagger UI, self-contained)",
            "operationId": "getApiDocs",
            "security": [],
            "responses": {
                "200": {
                    "description": "An HTML page (`?format=json`: this document).",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)
    clash = sorted(set(_BODY_COMPONENTS) & set(schemas))
    if clash:
        # A model both sent and answered would be described twice (as validated and as
        # written), under one name: give the body its own model instead.
        raise ValueError(f"request body models also answered: {clash}")
    schemas.update(_BODY_COMPONENTS)
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    return document


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route (``server_url``: where it is served)."""
    from videojobs.handlers.api import app

    servers = [Server(url=server_url)] if server_url else None
    document: dict[str, Any] = json.loads(app.get_openapi_json_schema(servers=servers))
    if not server_url:
        # The committed copy names no server: it is the same for every deployment.
        document.pop("servers", None)
    return document


@cache
def documented_operations() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """(METHOD, path) of each operation -> its parameters' schemas by (location, name), read
    from the document (once per container): what refusals describe."""
    found: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            found[(method.upper(), path)] = {
                f"{p['in']}:{p['name'].lower()}": p.get("schema", {})
                for p in operation.get("parameters", [])
            }
    return found


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
    """The document as committed: two-space indent, trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """``python -m videojobs.handlers.api_openapi PATH``: write the document to PATH."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m videojobs.handlers.api_openapi PATH\n")
        return 2
    Path(argv[0]).write_text(render_openapi(openapi_document()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
