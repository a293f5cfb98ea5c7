"""Standard Webhooks verification, table by table, and interop with the reference library."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC

import pytest
from standardwebhooks import Webhook

from videojobs import standard_webhooks as sw
from videojobs.models.errors import InvalidWebhookSignatureError

SECRET = "whsec_" + base64.b64encode(b"a-32-byte-secret-for-the-tests!!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-here!").decode()
BODY = json.dumps({"type": "video.completed", "data": {"id": "video_1"}})
NOW = 1_800_000_000


def headers(**overrides: str | None) -> dict[str, str]:
    base = sw.signed_headers(SECRET, "msg_1", BODY, timestamp=NOW)
    for name, value in overrides.items():
        key = name.replace("_", "-")
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def test_valid_message_returns_its_id() -> None:
    assert sw.verify(BODY, headers(), SECRET, now=NOW) == "msg_1"


def test_bytes_body_and_header_case_are_accepted() -> None:
    upper = {k.upper(): v for k, v in headers().items()}
    assert sw.verify(BODY.encode(), upper, SECRET, now=NOW) == "msg_1"


REJECTED = [
    ("tampered body", BODY.replace("completed", "failed"), headers(), SECRET, NOW),
    ("wrong secret", BODY, headers(), OTHER_SECRET, NOW),
    ("stale", BODY, headers(), SECRET, NOW + 301),
    ("future", BODY, headers(), SECRET, NOW - 301),
    ("missing id", BODY, headers(webhook_id=None), SECRET, NOW),
    ("missing timestamp", BODY, headers(webhook_timestamp=None), SECRET, NOW),
    ("missing signature", BODY, headers(webhook_signature=None), SECRET, NOW),
    ("empty signature", BODY, headers(webhook_signature=""), SECRET, NOW),
    ("blank list", BODY, headers(webhook_signature="   "), SECRET, NOW),
    ("non-numeric timestamp", BODY, headers(webhook_timestamp="soon"), SECRET, NOW),
    ("negative timestamp", BODY, headers(webhook_timestamp="-5"), SECRET, NOW),
    ("unicode digits", BODY, headers(webhook_timestamp="١٢٣"), SECRET, NOW),
    ("bad base64", BODY, headers(webhook_signature="v1,not*base64"), SECRET, NOW),
    ("no version", BODY, headers(webhook_signature="abc"), SECRET, NOW),
    ("unknown version only", BODY, headers(webhook_signature="v2,abc="), SECRET, NOW),
    ("changed id", BODY, headers(webhook_id="msg_2"), SECRET, NOW),
    ("changed timestamp", BODY, headers(webhook_timestamp=str(NOW + 1)), SECRET, NOW),
]


@pytest.mark.parametrize(
    ("body", "hdrs", "secret", "now"),
    [case[1:] for case in REJECTED],
    ids=[case[0] for case in REJECTED],
)
def test_every_bad_message_raises_the_one_error(
    body: str, hdrs: dict[str, str], secret: str, now: int
) -> None:
    with pytest.raises(InvalidWebhookSignatureError):
        sw.verify(body, hdrs, secret, now=now)


def test_tolerance_edges_are_inclusive() -> None:
    assert sw.verify(BODY, headers(), SECRET, now=NOW + 300) == "msg_1"
    assert sw.verify(BODY, headers(), SECRET, now=NOW - 300) == "msg_1"


def test_rotation_any_of_several_signatures_may_match() -> None:
    # Given a sender signing with both the old and the new secret during a rotation
    old = sw.sign(OTHER_SECRET, "msg_1", NOW, BODY)
    new = sw.sign(SECRET, "msg_1", NOW, BODY)
    rotated = headers(webhook_signature=f"{old} {new}")
    # Then a receiver holding either secret accepts it
    assert sw.verify(BODY, rotated, SECRET, now=NOW) == "msg_1"
    assert sw.verify(BODY, rotated, OTHER_SECRET, now=NOW) == "msg_1"
    # And a receiver holding several secrets accepts a message signed by one of them
    assert sw.verify(BODY, headers(), [OTHER_SECRET, SECRET], now=NOW) == "msg_1"


def test_garbage_entries_beside_a_valid_one_are_ignored() -> None:
    good = sw.sign(SECRET, "msg_1", NOW, BODY)
    mixed = headers(webhook_signature=f"v2,zzz v1,*** {good}")
    assert sw.verify(BODY, mixed, SECRET, now=NOW) == "msg_1"


def test_misconfigured_secret_is_a_configuration_error_not_a_bad_message() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        sw.verify(BODY, headers(), "whsec_***", now=NOW)


def test_error_text_never_contains_the_secret() -> None:
    with pytest.raises(InvalidWebhookSignatureError) as info:
        sw.verify(BODY, headers(), OTHER_SECRET, now=NOW)
    assert OTHER_SECRET.removeprefix("whsec_") not in str(info.value)
    assert SECRET.removeprefix("whsec_") not in str(info.value)


def test_generated_secrets_are_distinct_and_usable() -> None:
    first, second = sw.generate_secret(), sw.generate_secret()
    assert first != second
    assert first.startswith("whsec_")
    hdrs = sw.signed_headers(first, "msg_x", BODY)
    assert sw.verify(BODY, hdrs, first) == "msg_x"


def test_reference_library_accepts_our_signatures() -> None:
    hdrs = sw.signed_headers(SECRET, "msg_ref", BODY)
    assert Webhook(SECRET).verify(BODY, hdrs) == json.loads(BODY)


def test_we_accept_the_reference_library_signatures() -> None:
    ts = int(time.time())
    from datetime import datetime

    signature = Webhook(SECRET).sign("msg_ref", datetime.fromtimestamp(ts, tz=UTC), BODY)
    hdrs = {"webhook-id": "msg_ref", "webhook-timestamp": str(ts), "webhook-signature": signature}
    assert sw.verify(BODY, hdrs, SECRET) == "msg_ref"


def test_reference_library_rejects_what_we_reject() -> None:
    from standardwebhooks.webhooks import WebhookVerificationError

    tampered = BODY.replace("video_1", "video_2")
    hdrs = sw.signed_headers(SECRET, "msg_ref", BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, hdrs)
    with pytest.raises(InvalidWebhookSignatureError):
        sw.verify(tampered, hdrs, SECRET)
