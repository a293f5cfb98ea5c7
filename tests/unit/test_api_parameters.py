"""Declared parameters that do not match their declaration: Powertools refuses them before a
route runs, and the caller gets the OpenAI error a route would have given (a 400 naming the
parameter and what it must be, a 404 for an id that cannot exist), never Powertools' 422."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from videojobs.handlers import api

ROOT = Path(__file__).resolve().parents[2]
VIDEO = "video_" + "0" * 32


def request(
    method: str,
    resource: str,
    path: str,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(
        json.loads((ROOT / "events" / "api_get_video.json").read_text())
    )
    all_headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    event.update(
        resource=resource,
        path=path,
        httpMethod=method,
        headers=all_headers,
        multiValueHeaders={k: [v] for k, v in all_headers.items()},
        queryStringParameters={k: v[-1] for k, v in (query or {}).items()} or None,
        multiValueQueryStringParameters=query or None,
        pathParameters=path_parameters,
    )
    # Refused before the route runs: no tenant (and so no rate-limit table) is involved.
    event["requestContext"].pop("authorizer")
    event["requestContext"].update(resourcePath=resource, httpMethod=method, path=f"/live{path}")
    return event


def answer(event: dict[str, Any], context: Any) -> tuple[int, dict[str, Any]]:
    result = api.handler(event, context)
    return result["statusCode"], json.loads(result["body"])["error"]


@pytest.mark.parametrize(
    ("query", "param", "message"),
    [
        ({"limit": ["0"]}, "limit", "limit must be an integer from 1 to 100."),
        ({"limit": ["many"]}, "limit", "limit must be an integer from 1 to 100."),
        ({"order": ["sideways"]}, "order", "order must be one of: asc, desc."),
        (
            {"status": ["done"]},
            "status",
            "status must be one of: queued, in_progress, completed, failed, cancelled.",
        ),
        ({"batch_id": ["b" * 129]}, "batch_id", "batch_id must be 1 to 128 characters."),
        ({"after": ["nope"]}, "after", "after must match ^video_[0-9a-f]{32}$."),
        (
            {"limit": ["5", "6"]},
            "limit",
            "Query parameter 'limit' was given more than once.",
        ),
    ],
)
def test_a_list_query_parameter_out_of_its_declaration_is_a_400_naming_it(
    query: dict[str, list[str]], param: str, message: str, lambda_context: Any
) -> None:
    status, error = answer(request("GET", "/v1/videos", "/v1/videos", query), lambda_context)

    assert status == 400
    assert error == {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": "invalid_value",
    }


def test_a_usage_day_not_of_the_calendar_form_is_a_400(lambda_context: Any) -> None:
    event = request("GET", "/v1/usage", "/v1/usage", {"start": ["1700000000"]})

    status, error = answer(event, lambda_context)

    assert status == 400
    assert error["message"] == "start must be a day as YYYY-MM-DD (UTC), got '1700000000'."
    assert (error["param"], error["code"]) == ("start", "invalid_value")


def test_an_unknown_content_variant_is_a_400(lambda_context: Any) -> None:
    path = f"/v1/videos/{VIDEO}/content"
    event = request(
        "GET",
        "/v1/videos/{video_id}/content",
        path,
        {"variant": ["../../secret"]},
        path_parameters={"video_id": VIDEO},
    )

    status, error = answer(event, lambda_context)

    assert status == 400
    assert error["message"] == "variant must be one of: video, thumbnail, spritesheet."
    assert (error["param"], error["code"]) == ("variant", "invalid_value")


@pytest.mark.parametrize(
    ("resource", "name", "value", "message"),
    [
        ("/v1/videos/{video_id}", "video_id", "123", "No video found with id '123'."),
        (
            "/v1/video_batches/{batch_id}",
            "batch_id",
            "vbatch_x",
            "No video batch found with id 'vbatch_x'.",
        ),
    ],
)
def test_an_id_that_cannot_exist_is_a_404_as_an_unknown_one_is(
    resource: str, name: str, value: str, message: str, lambda_context: Any
) -> None:
    path = resource.replace("{" + name + "}", value)
    event = request("GET", resource, path, path_parameters={name: value})

    status, error = answer(event, lambda_context)

    assert status == 404
    assert error["message"] == message


def test_an_idempotency_key_out_of_its_declaration_is_a_400_of_its_own_code(
    lambda_context: Any,
) -> None:
    event = request("POST", "/v1/videos", "/v1/videos", headers={"Idempotency-Key": "k" * 300})

    status, error = answer(event, lambda_context)

    assert status == 400
    assert (error["param"], error["code"]) == ("Idempotency-Key", "invalid_idempotency_key")
    assert error["message"] == "Idempotency-Key must be 1 to 255 characters."
