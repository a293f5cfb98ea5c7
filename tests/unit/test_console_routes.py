"""The web console's files as the API function serves them: only the named files, each with a
policy that lets the page run its own script and show the bucket's media, nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from videojobs.handlers import api

ROOT = Path(__file__).resolve().parents[2]


def console_event(path: str) -> dict[str, Any]:
    """A request without a key (these routes have no authorizer), as API Gateway sends it."""
    event: dict[str, Any] = json.loads((ROOT / "events" / "api_get_video.json").read_text())
    event.update(resource=path, path=path, pathParameters=None)
    event["requestContext"].pop("authorizer")
    event["requestContext"].update(resourcePath=path, path=f"/live{path}")
    return event


@pytest.mark.parametrize(
    ("path", "content_type", "marker"),
    [
        ("/console", "text/html; charset=utf-8", '<script src="console/console.js" defer>'),
        ("/console/console.js", "text/javascript; charset=utf-8", "sessionStorage"),
        ("/console/console.css", "text/css; charset=utf-8", ".progress"),
    ],
)
def test_each_console_file_is_served_with_its_type_and_a_strict_policy(
    path: str, content_type: str, marker: str, lambda_context: Any
) -> None:
    # When a console file is asked for
    answer = api.handler(console_event(path), lambda_context)
    # Then it comes with its type, and a policy that allows no other origin's script
    assert answer["statusCode"] == 200
    headers = answer["multiValueHeaders"]
    assert headers["Content-Type"] == [content_type]
    assert marker in answer["body"]
    (policy,) = headers["Content-Security-Policy"]
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    # And media only from where the asset links point (the bucket's S3 host)
    assert directives["media-src"].startswith("https://") and ".s3." in directives["media-src"]
    assert headers["X-Content-Type-Options"] == ["nosniff"]


def test_the_page_has_no_inline_script_and_loads_nothing_from_elsewhere(
    lambda_context: Any,
) -> None:
    page = api.handler(console_event("/console"), lambda_context)["body"]
    assert "<script>" not in page and "onclick=" not in page
    assert "http://" not in page and "https://" not in page


@pytest.mark.parametrize("path", ["/console/index.html", "/console/../settings.py", "/console/x"])
def test_nothing_else_under_console_is_served(path: str, lambda_context: Any) -> None:
    answer = api.handler(console_event(path), lambda_context)
    assert answer["statusCode"] == 404
    assert json.loads(answer["body"])["error"]["message"].startswith("Unknown request URL")
