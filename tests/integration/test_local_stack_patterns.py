"""EventBridge patterns: moto's matcher, as the local stack corrects it, on every target."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto.events.exceptions import InvalidEventPatternException
from moto.events.models import EventPattern

from videojobs_local.stack import moto_fixes


@pytest.fixture(autouse=True)
def corrected_moto() -> Iterator[None]:
    moto_fixes.install()
    yield
    moto_fixes.uninstall()


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return EventPattern.load(json.dumps(pattern)).matches_event(event)


EVENT: dict[str, Any] = {
    "version": "0",
    "id": "e-1",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "123456789012",
    "time": "2026-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:s3:::media", "arn:aws:s3:::other"],
    "detail": {
        "bucket": {"name": "media"},
        "object": {"key": "intake/tenant-1/clip.mp4", "size": 2048},
        "reason": "PutObject",
        "tags": ["a", "b"],
        "flag": True,
        "nothing": None,
        "ip": "10.0.3.4",
    },
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({}, True),
        ({"source": ["aws.s3"]}, True),
        ({"source": ["aws.states", "aws.s3"]}, True),
        ({"source": ["aws.states"]}, False),
        ({"detail-type": ["Object Created"], "source": ["aws.s3"]}, True),
        ({"detail-type": ["Object Created"], "source": ["other"]}, False),
        ({"detail": {"bucket": {"name": ["media"]}}}, True),
        ({"detail": {"bucket": {"name": ["elsewhere"]}}}, False),
        ({"detail": {"object": {"key": [{"prefix": "intake/"}]}}}, True),
        ({"detail": {"object": {"key": [{"prefix": "videos/"}]}}}, False),
        ({"detail": {"object": {"key": [{"suffix": ".mp4"}]}}}, True),
        ({"detail": {"object": {"key": [{"wildcard": "intake/*/clip.*"}]}}}, True),
        ({"detail": {"object": {"key": [{"wildcard": "intake/*.mov"}]}}}, False),
        ({"detail": {"reason": [{"equals-ignore-case": "putobject"}]}}, True),
        ({"detail": {"reason": [{"anything-but": "PutObject"}]}}, False),
        ({"detail": {"reason": [{"anything-but": ["CopyObject", "Post"]}]}}, True),
        ({"detail": {"reason": [{"anything-but": {"prefix": "Put"}}]}}, False),
        ({"detail": {"missing": [{"anything-but": "x"}]}}, False),
        ({"detail": {"object": {"size": [2048]}}}, True),
        ({"detail": {"object": {"size": [2048.0]}}}, True),
        ({"detail": {"object": {"size": ["2048"]}}}, False),
        ({"detail": {"object": {"size": [{"numeric": [">", 1000, "<=", 2048]}]}}}, True),
        ({"detail": {"object": {"size": [{"numeric": ["<", 1000]}]}}}, False),
        ({"detail": {"tags": ["b"]}}, True),
        ({"detail": {"tags": ["c"]}}, False),
        ({"resources": ["arn:aws:s3:::other"]}, True),
        ({"detail": {"flag": [True]}}, True),
        ({"detail": {"flag": [1]}}, False),
        ({"detail": {"nothing": [None]}}, True),
        ({"detail": {"missing": [{"exists": False}]}}, True),
        ({"detail": {"missing": [{"exists": True}]}}, False),
        ({"detail": {"reason": [{"exists": True}]}}, True),
        ({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}, True),
        ({"detail": {"ip": [{"cidr": "192.168.0.0/16"}]}}, False),
        ({"detail": {"absent": {"deeper": ["x"]}}}, False),
        (
            {"$or": [{"source": ["nope"]}, {"detail": {"bucket": {"name": ["media"]}}}]},
            True,
        ),
        ({"$or": [{"source": ["nope"]}, {"detail-type": ["nope"]}]}, False),
    ],
)
def test_event_patterns(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


@pytest.mark.parametrize(
    "pattern",
    [{"source": "aws.s3"}, {"source": [{"regex": "x"}]}, {"detail": {"ip": [{"numeric": [">"]}]}}],
)
def test_unsupported_or_malformed_patterns_are_refused(pattern: dict[str, Any]) -> None:
    # As PutRule refuses them on AWS (moto alone accepts the last two and matches anything)
    with pytest.raises(InvalidEventPatternException):
        EventPattern.load(json.dumps(pattern))
