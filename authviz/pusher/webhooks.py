"""Pusher webhooks: the signed POST a server sends to an app when channels change.

Body: ``{"time_ms": int, "events": [{"name": ..., ...}, ...]}``; headers ``X-Pusher-Key`` (the
app key) and ``X-Pusher-Signature`` (HMAC-SHA256 hex of the raw body keyed with the app secret).
A receiver must verify the raw bytes *before* parsing them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from authviz.pusher.limits import PusherValidationError
from authviz.pusher.signing import _equal, hmac_sha256_hex

__all__ = [
    "KEY_HEADER",
    "SIGNATURE_HEADER",
    "WEBHOOK_EVENT_NAMES",
    "sign_webhook",
    "verify_webhook",
    "webhook_body",
    "webhook_headers",
]

KEY_HEADER = "X-Pusher-Key"
SIGNATURE_HEADER = "X-Pusher-Signature"
WEBHOOK_EVENT_NAMES = frozenset(
    {
        "channel_occupied",
        "channel_vacated",
        "member_added",
        "member_removed",
        "client_event",
        "cache_miss",
    }
)


def sign_webhook(secret: str | bytes, body: bytes) -> str:
    """The ``X-Pusher-Signature`` of a webhook body: HMAC-SHA256 hex of the raw bytes."""
    return hmac_sha256_hex(secret, body)


def webhook_headers(key: str, secret: str | bytes, body: bytes) -> dict[str, str]:
    """The headers of a webhook POST: content type, key and signature."""
    return {
        "Content-Type": "application/json",
        KEY_HEADER: key,
        SIGNATURE_HEADER: sign_webhook(secret, body),
    }


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    wanted = name.lower()
    for k, v in headers.items():
        if isinstance(k, str) and k.lower() == wanted:
            return v if isinstance(v, str) else None
    return None


def verify_webhook(
    key: str,
    secret: str | bytes,
    headers: Mapping[str, Any],
    body: bytes,
    *,
    expected_key: str | None = None,
    max_age_s: float | None = None,
    now: float | None = None,
) -> bool:
    """True when *body* carries a valid signature from the app with key *key*.

    Header names are case-insensitive. ``X-Pusher-Key`` must equal *expected_key* when given,
    else *key*. With *max_age_s*, the body's ``time_ms`` must also be within that many seconds of
    *now* (the ``pusher`` library always applies 300 s; replayed old webhooks then fail).
    Never raises.
    """
    given_key = _header(headers, KEY_HEADER)
    given_sig = _header(headers, SIGNATURE_HEADER)
    if given_key is None or given_sig is None or not isinstance(body, (bytes, bytearray)):
        return False
    key_ok = _equal(given_key, expected_key if expected_key is not None else key)
    sig_ok = _equal(given_sig, sign_webhook(secret, bytes(body)))
    if not (key_ok and sig_ok):
        return False
    if max_age_s is not None:
        try:
            time_ms = json.loads(body)["time_ms"]
        except (ValueError, KeyError, TypeError, RecursionError):
            return False
        if not isinstance(time_ms, (int, float)) or isinstance(time_ms, bool):
            return False
        current = time.time() if now is None else now
        if abs(current - time_ms / 1000) > max_age_s:
            return False
    return True


def webhook_body(events: list[dict[str, Any]], time_ms: int | None = None) -> bytes:
    """The compact JSON body of a webhook carrying *events* (each with a known ``name``)."""
    for event in events:
        name = event.get("name") if isinstance(event, Mapping) else None
        if name not in WEBHOOK_EVENT_NAMES:
            raise PusherValidationError(
                f"webhook event name {name!r} is not one of {', '.join(sorted(WEBHOOK_EVENT_NAMES))}",
                limit="webhook_event",
            )
    if time_ms is None:
        time_ms = int(time.time() * 1000)
    return json.dumps(
        {"time_ms": int(time_ms), "events": list(events)},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
