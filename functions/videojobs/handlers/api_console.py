"""The web console: ``GET /console`` and its script and styles, served by the API itself.

Plain files from ``videojobs/console`` (no build step, nothing fetched from another origin).
The page talks to ``/v1`` with the key the user signs in with, kept in the browser's session
storage, so it can do and see exactly what that key can through the public API. These routes
have no authorizer: the files are the same for everyone and hold nothing secret.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from videojobs.adapters.storage import assets
from videojobs.handlers.api_openapi import PUBLIC, public_file

router = APIGatewayRouter()  # type: ignore[no-untyped-call]

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "console"
# Every file the console is made of, with its type: nothing else under /console is served.
FILES = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}


@cache
def _read(name: str) -> str:
    return (CONSOLE_DIR / name).read_text(encoding="utf-8")


def content_security_policy(storage_origin: str) -> str:
    """Scripts, styles and API calls from this origin only; images and video also from the
    bucket the presigned asset links point at; no frames, forms or plugins."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            f"img-src 'self' data: {storage_origin}",
            f"media-src {storage_origin}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _answer(body: str, content_type: str) -> Response[str]:
    return Response(
        status_code=200,
        content_type=content_type,
        body=body,
        headers={
            "Content-Security-Policy": content_security_policy(assets.link_origin()),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


@router.get(
    "/console",
    operation_id="getConsole",
    tags=["console"],
    summary="The web console (sign in with an API key)",
    responses=public_file("The file, with a Content-Security-Policy header.", "text/html"),
    openapi_extensions=PUBLIC,
)
def console_page() -> Response[str]:
    return _answer(_read("index.html"), "text/html; charset=utf-8")


@router.get(
    "/console/console.js",
    operation_id="getConsoleScript",
    tags=["console"],
    summary="The console's script",
    responses=public_file("The file, with a Content-Security-Policy header.", "text/javascript"),
    openapi_extensions=PUBLIC,
)
def console_script() -> Response[str]:
    return _answer(_read("console.js"), FILES["console.js"])


@router.get(
    "/console/console.css",
    operation_id="getConsoleStyles",
    tags=["console"],
    summary="The console's styles",
    responses=public_file("The file, with a Content-Security-Policy header.", "text/css"),
    openapi_extensions=PUBLIC,
)
def console_styles() -> Response[str]:
    return _answer(_read("console.css"), FILES["console.css"])
