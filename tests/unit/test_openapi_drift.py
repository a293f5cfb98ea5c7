"""The OpenAPI document: the committed copy matches the code, it is valid OpenAPI 3.1, it
covers exactly the ``/v1`` routes of template.yaml and of the resolver, and it is served
(with its docs page) without an API key and without the internet."""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from videojobs.handlers import api
from videojobs.handlers.api_openapi import openapi_document, render_openapi
from videojobs_local.stack.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"
REGENERATE = "make openapi"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
PUBLIC_PREFIXES = ("/v1/", "/console")


def template_routes() -> dict[tuple[str, str], bool]:
    """(METHOD, path) of every ``/v1`` and ``/console`` API event in template.yaml -> whether
    it needs a key (the provider webhook route is not part of the public API)."""
    template = load_yaml((ROOT / "template.yaml").read_text())
    routes = {}
    for resource in template["Resources"].values():
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            props = event.get("Properties", {})
            # ANY only answers the methods a path does not declare (405): not an operation.
            if (
                event.get("Type") == "Api"
                and props.get("Path", "").startswith(PUBLIC_PREFIXES)
                and props["Method"].upper() != "ANY"
            ):
                public = (props.get("Auth") or {}).get("Authorizer") == "NONE"
                routes[(props["Method"].upper(), props["Path"])] = not public
    return routes


def document_operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_the_committed_document_matches_the_code() -> None:
    current = render_openapi(openapi_document())
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    if committed != current:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                current.splitlines(keepends=True),
                "docs/openapi.json (committed)",
                "docs/openapi.json (from the code)",
                n=2,
            )
        )
        pytest.fail(
            "docs/openapi.json is out of date with the API models; regenerate it with\n"
            f"    {REGENERATE}\nand review the change:\n{diff[:6000]}",
            pytrace=False,
        )


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_public_route_of_the_template_is_documented_and_nothing_else() -> None:
    assert set(document_operations(openapi_document())) == set(template_routes())


def test_every_route_the_resolver_serves_is_documented() -> None:
    served = {
        (route.method.upper(), route.openapi_path)
        for route in api.app._static_routes + api.app._dynamic_routes
    }
    assert served <= set(document_operations(openapi_document()))


def test_security_matches_the_authorizer_settings_of_the_template() -> None:
    document = openapi_document()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    assert schemes["apiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "x-api-key"}
    for route, needs_key in template_routes().items():
        operation = document_operations(document)[route]
        effective = operation.get("security", document["security"])
        assert bool(effective) is needs_key, route


def test_every_error_answer_has_the_openai_error_shape() -> None:
    document = openapi_document()
    error = document["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"]
    assert set(document["components"]["schemas"]["ErrorDetail"]["properties"]) == {
        "message",
        "type",
        "param",
        "code",
    }
    for route, operation in document_operations(document).items():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (route, status)
        if template_routes()[route]:
            assert {"400", "401"} <= set(operation["responses"]), route


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/v1/videos/{video_id}/content", "get", ["video_not_ready", "video_failed"]),
        ("/v1/videos/{video_id}/remix", "post", ["video_not_ready", "unsupported_parameter"]),
    ],
)
def test_the_400s_a_well_formed_request_can_get_are_declared_with_their_codes(
    path: str, method: str, codes: list[str]
) -> None:
    # A client (or a fuzzer) reading the document learns that the video's state, not the
    # request's shape, gives these.
    description = openapi_document()["paths"][path][method]["responses"]["400"]["description"]

    assert [code for code in codes if f"`{code}`" not in description] == []


def test_ids_in_paths_are_declared_parameters() -> None:
    for path, item in openapi_document()["paths"].items():
        names = {p["name"] for p in item.get("parameters", [])}
        for method in METHODS & set(item):
            names |= {p["name"] for p in item[method].get("parameters", []) if p["in"] == "path"}
        placeholders = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        assert placeholders <= names, path


def test_create_takes_json_and_the_multipart_form_the_sdk_sends() -> None:
    document = openapi_document()
    create = document["paths"]["/v1/videos"]["post"]
    content = create["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    form_ref = content["multipart/form-data"]["schema"]["$ref"]
    form = document["components"]["schemas"][form_ref.rsplit("/", 1)[-1]]
    assert form["properties"]["input_reference"]["format"] == "binary"
    assert "prompt" in form["required"]
    assert {"409"} <= set(create["responses"])
    # Header names are case-insensitive; Powertools writes them in lower case.
    assert any(p["name"].lower() == "idempotency-key" for p in create["parameters"])


def test_list_parameters_mirror_the_query_model() -> None:
    listing = openapi_document()["paths"]["/v1/videos"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert set(params) == {"after", "limit", "order", "status", "batch_id"}
    assert params["limit"]["schema"] == {
        "default": 20,
        "maximum": 100,
        "minimum": 1,
        "type": "integer",
    }
    assert params["order"]["schema"]["enum"] == ["asc", "desc"]
    assert all(p["in"] == "query" and not p["required"] for p in params.values())


def _event(path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "api_get_video.json").read_text())
    event = copy.deepcopy(event)
    event.update(
        resource=path,
        path=path,
        pathParameters=None,
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in (query or {}).items()} or None,
    )
    # These routes have no authorizer: no tenant, no key.
    event["headers"] = {"Host": "abc123.execute-api.us-east-1.amazonaws.com"}
    event["multiValueHeaders"] = {"Host": [event["headers"]["Host"]]}
    event["requestContext"].pop("authorizer")
    event["requestContext"].update(
        resourcePath=path, path=f"/live{path}", domainName=event["headers"]["Host"]
    )
    return event


def test_the_served_document_names_where_it_was_reached(lambda_context: Any) -> None:
    answer = api.handler(_event("/v1/openapi.json"), lambda_context)

    assert answer["statusCode"] == 200
    served = json.loads(answer["body"])
    assert served["servers"] == [{"url": "https://abc123.execute-api.us-east-1.amazonaws.com/live"}]
    served.pop("servers")
    assert served == openapi_document()


def test_the_docs_page_is_self_contained(lambda_context: Any) -> None:
    answer = api.handler(_event("/v1/docs"), lambda_context)

    assert answer["statusCode"] == 200
    headers = answer.get("multiValueHeaders") or {}
    assert headers["Content-Type"] == ["text/html"]
    page: str = answer["body"]
    assert '<meta charset="UTF-8">' in page
    assert "SwaggerUIBundle" in page
    assert '"operationId": "listVideos"' in page
    # Offline: the script and styles are inline, nothing is fetched from a CDN.
    assert "<script src" not in page and "<link rel" not in page
    # The page shows the same document as /v1/openapi.json, served from where it was reached.
    as_json_answer = api.handler(_event("/v1/docs", {"format": "json"}), lambda_context)
    as_json = json.loads(as_json_answer["body"])
    assert as_json["servers"] == [
        {"url": "https://abc123.execute-api.us-east-1.amazonaws.com/live"}
    ]
    as_json.pop("servers")
    assert as_json == openapi_document()
