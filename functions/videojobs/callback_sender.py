"""Outgoing callbacks: the one place that POSTs to a caller's ``callback_url`` (httpx).

The connection goes to an address that was checked just before (``address``), not to
whatever the host name resolves to by the time the socket opens: a name that re-resolves to
a private address between the check and the request (DNS rebinding) is never reached. TLS
still verifies the certificate against the URL's host name (SNI), and the ``Host`` header
is the URL's, so the receiver sees an ordinary request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

USER_AGENT = "videojobs-webhooks/1"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True)
class SendResult:
    """How one POST went: the receiver's status, or why there was none."""

    status_code: int | None = None
    error: str | None = None
    connect_failed: bool = False
    """Nothing reached the address: another address of the same host may still work."""

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _describe(exc: httpx.HTTPError) -> str:
    # Never str(exc): it may quote the URL, and callers put tokens in query strings.
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    return f"request failed ({type(exc).__name__})"


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    address: str,
    timeout: httpx.Timeout = TIMEOUT,
) -> SendResult:
    """POST ``body`` to ``url``, connecting to ``address``; redirects are not followed."""
    target = httpx.URL(url)
    request_headers = {
        **headers,
        "Host": target.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    extensions = {}
    if target.scheme == "https":
        extensions["sni_hostname"] = target.raw_host.decode("ascii")
    # trust_env=False: a proxy from the environment would do its own resolution.
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        try:
            with client.stream(
                "POST",
                target.copy_with(host=address),
                content=body,
                headers=request_headers,
                extensions=extensions,
            ) as response:
                # The answer's body is not needed; closing unread also bounds what is read.
                return SendResult(status_code=response.status_code)
        except httpx.HTTPError as exc:
            return SendResult(
                error=_describe(exc), connect_failed=isinstance(exc, httpx.ConnectError)
            )
