"""Webhooks: signing, verification (with the `pusher` library on the other side) and bodies."""

from __future__ import annotations

import json
import time

import pusher
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authviz.pusher import (
    PusherValidationError,
    hmac_sha256_hex,
    sign_webhook,
    verify_webhook,
    webhook_body,
    webhook_headers,
)

KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
EVENTS = [
    {"name": "channel_occupied", "channel": "presence-room"},
    {"name": "member_added", "channel": "presence-room", "user_id": "42"},
]


def _client() -> pusher.Pusher:
    return pusher.Pusher(app_id="3", key=KEY, secret=SECRET, host="127.0.0.1", port=1, ssl=False)


def test_body_shape() -> None:
    body = webhook_body(EVENTS, time_ms=1_700_000_000_000)
    assert body == (
        b'{"time_ms":1700000000000,"events":[{"name":"channel_occupied","channel":"presence-room"},'
        b'{"name":"member_added","channel":"presence-room","user_id":"42"}]}'
    )
    now_ms = time.time() * 1000
    assert abs(json.loads(webhook_body([]))["time_ms"] - now_ms) < 5_000


def test_body_refuses_unknown_event_names() -> None:
    with pytest.raises(PusherValidationError, match="'channel_exploded' is not one of") as err:
        webhook_body([{"name": "channel_exploded"}])
    assert err.value.limit == "webhook_event"
    with pytest.raises(PusherValidationError):
        webhook_body(["not a dict"])  # type: ignore[list-item]


def test_signature_is_hmac_of_raw_body() -> None:
    body = webhook_body(EVENTS, time_ms=1)
    assert sign_webhook(SECRET, body) == hmac_sha256_hex(SECRET, body)
    headers = webhook_headers(KEY, SECRET, body)
    assert headers["X-Pusher-Key"] == KEY and headers["Content-Type"] == "application/json"
    assert verify_webhook(KEY, SECRET, headers, body)


def test_pusher_library_accepts_our_webhooks() -> None:
    body = webhook_body(EVENTS)  # the library also refuses bodies older than 5 minutes
    result = _client().validate_webhook(KEY, sign_webhook(SECRET, body), body.decode())
    assert result is not None and result["events"] == EVENTS


def test_header_names_are_case_insensitive() -> None:
    body = webhook_body(EVENTS, time_ms=1)
    sig = sign_webhook(SECRET, body)
    for headers in (
        {"x-pusher-key": KEY, "x-pusher-signature": sig},
        {"X-PUSHER-KEY": KEY, "X-Pusher-Signature": sig},
    ):
        assert verify_webhook(KEY, SECRET, headers, body)


def test_rejections() -> None:
    body = webhook_body(EVENTS, time_ms=1)
    sig = sign_webhook(SECRET, body)
    good = {"X-Pusher-Key": KEY, "X-Pusher-Signature": sig}
    assert not verify_webhook(KEY, SECRET, {"X-Pusher-Key": KEY}, body)
    assert not verify_webhook(KEY, SECRET, {"X-Pusher-Signature": sig}, body)
    assert not verify_webhook(KEY, SECRET, {**good, "X-Pusher-Key": "other"}, body)
    assert not verify_webhook(KEY, "other-secret", good, body)
    assert not verify_webhook(KEY, SECRET, good, body + b" ")
    assert not verify_webhook(KEY, SECRET, {**good, "X-Pusher-Signature": sig.upper()}, body)
    assert not verify_webhook(KEY, SECRET, {**good, "X-Pusher-Signature": "é"}, body)
    assert not verify_webhook(KEY, SECRET, {**good, "X-Pusher-Signature": None}, body)
    assert not verify_webhook(KEY, SECRET, good, body.decode())  # type: ignore[arg-type]
    # expected_key overrides the key the header must carry.
    assert verify_webhook("ignored", SECRET, good, body, expected_key=KEY)
    assert not verify_webhook(KEY, SECRET, good, body, expected_key="another-key")


def test_max_age() -> None:
    now = 1_700_000_000.0
    body = webhook_body(EVENTS, time_ms=int(now * 1000) - 299_000)
    headers = webhook_headers(KEY, SECRET, body)
    assert verify_webhook(KEY, SECRET, headers, body, max_age_s=300, now=now)
    assert not verify_webhook(KEY, SECRET, headers, body, max_age_s=298, now=now)
    assert verify_webhook(KEY, SECRET, headers, body, now=now + 10**6)  # no age check unless asked
    weird = b'{"events":[]}'
    assert not verify_webhook(KEY, SECRET, webhook_headers(KEY, SECRET, weird), weird, max_age_s=300)


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.integers(0, 10**6), st.integers(0, 7))
def test_property_any_bit_flip_fails(body: bytes, pos: int, bit: int) -> None:
    headers = webhook_headers(KEY, SECRET, body)
    assert verify_webhook(KEY, SECRET, headers, body)
    flipped = bytearray(body)
    flipped[pos % len(flipped)] ^= 1 << bit
    assert not verify_webhook(KEY, SECRET, headers, bytes(flipped))
    sig = bytearray(headers["X-Pusher-Signature"].encode())
    sig[pos % len(sig)] ^= 1 << bit
    bad_sig = sig.decode("latin-1")
    assert not verify_webhook(KEY, SECRET, {**headers, "X-Pusher-Signature": bad_sig}, body)
