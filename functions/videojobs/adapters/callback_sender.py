"""Outgoing callbacks: the one place that POSTs to a caller's ``callback_url`` (httpx).

The connection goes to an address that was checked just before (``address``), not to
whatever the host name resolves to by the time the socket opens: a name that re-resolves to
a private address between the check and the request (DNS rebinding) is never reached. TLS
still verifies the certificate against the URL's host name (SNI), and the ``Host`` header
is the URL's, so the receiver sees an ordinary request.

An attempt has one wall-clock deadline for everything: connecting, TLS, sending, and the
status line and headers. httpx's timeouts apply to each socket operation, so a receiver that
trickles a byte at a time could hold an attempt for ever; here every socket operation is
given at most the time left until the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

USER_AGENT = "videojobs-callbacks/1"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
ATTEMPT_SECONDS = 10.0
"""The longest one attempt may take, from connecting to the receiver's headers."""


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


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every operation ends by the deadline (``time.monotonic()``)."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def _bounded(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the attempt's deadline has passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = self._bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, bounded), self._deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, with every connection held to one deadline."""

    def __init__(self, deadline: float) -> None:
        self._backend = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("the attempt's deadline has passed")
        bounded = left if timeout is None else min(timeout, left)
        stream = self._backend.connect_tcp(host, port, bounded, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _transport(deadline: float) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx offers no way to hand its connection pool a network backend: the pool is replaced
    # by the same one over the deadline backend (tests/unit/test_callback_deadline.py checks
    # that a trickling receiver is cut off, so a change in httpx cannot go unnoticed).
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=_DeadlineBackend(deadline),
    )
    return transport


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    address: str,
    timeout: httpx.Timeout = TIMEOUT,
    deadline: float | None = None,
) -> SendResult:
    """POST ``body`` to ``url``, connecting to ``address``; redirects are not followed.

    The whole attempt ends by ``deadline`` (``time.monotonic()``; default: ``ATTEMPT_SECONDS``
    from now): a receiver still sending its headers then is a timed-out attempt.
    """
    ends = time.monotonic() + ATTEMPT_SECONDS if deadline is None else deadline
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
    with httpx.Client(
        timeout=timeout, follow_redirects=False, trust_env=False, transport=_transport(ends)
    ) as client:
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
