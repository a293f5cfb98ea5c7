"""Parsing of the provider's throttling headers: each format, precedence, garbage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from videojobs.adapters.providers.openai_videos import parse_duration, parse_retry_after

NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("0.5s", 0.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("100ns", 1e-7),
        ("1m30s500ms", 90.5),
        (" 3s ", 3.0),
        ("0s", 0.0),
    ],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", " ", "s", "1", "1x", "1s2", "-1s", "1 s", "abc", "1.2.3s"])
def test_garbage_durations_do_not_parse(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"Retry-After": format_datetime(NOW + timedelta(seconds=90), usegmt=True)}, 90.0),
        ({"Retry-After": format_datetime(NOW - timedelta(hours=1), usegmt=True)}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "20"}, 0.02),
        ({"x-ratelimit-reset-requests": "6m0s"}, 360.0),
        ({"x-ratelimit-reset-requests": "20ms"}, 0.02),
    ],
)
def test_each_format_on_its_own(headers: dict[str, str], seconds: float) -> None:
    result = parse_retry_after(httpx.Headers(headers), now=NOW.timestamp())

    assert result == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        # milliseconds are the most precise, so they win
        ({"retry-after-ms": "1500", "Retry-After": "2", "x-ratelimit-reset-requests": "9s"}, 1.5),
        # then Retry-After
        ({"Retry-After": "2", "x-ratelimit-reset-requests": "9s"}, 2.0),
        # a header that does not parse gives way to the next
        ({"retry-after-ms": "soon", "Retry-After": "2"}, 2.0),
        (
            {"retry-after-ms": "-10", "Retry-After": "later", "x-ratelimit-reset-requests": "9s"},
            9.0,
        ),
        ({"retry-after-ms": "nan", "Retry-After": "inf", "x-ratelimit-reset-requests": "1s"}, 1.0),
    ],
)
def test_precedence(headers: dict[str, str], seconds: float) -> None:
    assert parse_retry_after(httpx.Headers(headers), now=NOW.timestamp()) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Retry-After": ""},
        {"Retry-After": "-3"},
        {"Retry-After": "tomorrow"},
        {"Retry-After": "Wed, 99 Foo 2026 25:61:00 GMT"},
        {"Retry-After": "1e999"},
        {"retry-after-ms": "NaN"},
        {"x-ratelimit-reset-requests": "whenever"},
        {"Retry-After": "soon", "retry-after-ms": "x", "x-ratelimit-reset-requests": "y"},
    ],
)
def test_garbage_gives_none(headers: dict[str, str]) -> None:
    assert parse_retry_after(httpx.Headers(headers), now=NOW.timestamp()) is None


def test_header_names_are_case_insensitive() -> None:
    headers = httpx.Headers({"RETRY-AFTER-MS": "400"})

    assert parse_retry_after(headers) == pytest.approx(0.4)
