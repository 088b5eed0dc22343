"""What an alert looks like on the wire: the signed webhook document and the Slack message.

Pure functions, no I/O. The webhook body is one JSON document per alert::

    {"type": "authviz.alert", "version": 1, "delivery_id": "...", "created_at": "...Z",
     "alert": {...Alert.to_dict()...}}

signed with HMAC-SHA256 in the header :data:`SIGNATURE_HEADER`::

    X-Authviz-Signature: t=1733234567,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd

``v1`` is the lower-case hex HMAC-SHA256, keyed with the shared secret (UTF-8), of the bytes
``f"{t}."`` followed by the raw request body; ``t`` is the Unix time of the attempt. A receiver
recomputes it over the body exactly as received, compares in constant time and rejects a ``t``
older than a few minutes (replays): :func:`verify_signature` does all three. The body (and its
``delivery_id``, also sent as :data:`DELIVERY_HEADER`) is the same on every retry of one
delivery, so a receiver de-duplicates on it; only ``t`` and the signature change.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "SIGNATURE_HEADER",
    "DELIVERY_HEADER",
    "MIN_SECRET_BYTES",
    "webhook_document",
    "sign",
    "verify_signature",
    "slack_payload",
    "check_secret",
]

SIGNATURE_HEADER = "X-Authviz-Signature"
DELIVERY_HEADER = "X-Authviz-Delivery"
DOCUMENT_TYPE = "authviz.alert"
DOCUMENT_VERSION = 1
#: a signing key shorter than this is refused (a guessable key signs nothing)
MIN_SECRET_BYTES = 16
#: :func:`verify_signature` accepts signatures at most this many seconds old (or early) by default
DEFAULT_TOLERANCE = 300


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else bytes(secret)


def check_secret(secret: str | bytes | None) -> bytes:
    """The key as bytes; ``ValueError`` with a sentence when it is missing or too short."""
    if not secret:
        raise ValueError("the alert webhook signing key is not set")
    key = _secret_bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the alert webhook signing key is {len(key)} bytes long; use at least {MIN_SECRET_BYTES} "
            "random bytes (for example `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return key


def _alert_dict(alert: Any) -> dict[str, Any]:
    return alert.to_dict() if hasattr(alert, "to_dict") else dict(alert)


def webhook_document(alert: Any, delivery_id: str, created_at: datetime | None = None) -> bytes:
    """The JSON body for one alert (an :class:`~authviz.Alert` or its ``to_dict()``)."""
    created = (created_at or datetime.now(UTC)).astimezone(UTC)
    document = {
        "type": DOCUMENT_TYPE,
        "version": DOCUMENT_VERSION,
        "delivery_id": delivery_id,
        "created_at": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "alert": _alert_dict(alert),
    }
    return orjson.dumps(document, default=str)


def _digest(key: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str | bytes, timestamp: int | None = None) -> str:
    """The :data:`SIGNATURE_HEADER` value for ``body``: ``t=<unix>,v1=<hex>``."""
    t = int(time.time() if timestamp is None else timestamp)
    return f"t={t},v1={_digest(check_secret(secret), t, body)}"


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str | bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when ``header`` is a valid signature of ``body`` made within ``tolerance`` seconds.

    Constant-time comparison; a header may carry several ``v1=`` values (key rotation) and is
    valid when any matches."""
    if not header:
        return False
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(name, []).append(value)
    try:
        t = int(fields.get("t", [""])[0])
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - t) > tolerance:
        return False
    expected = _digest(_secret_bytes(secret), t, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))


_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_CONTROL = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 127], None)


def _slack_text(value: Any) -> str:
    """Slack mrkdwn-safe text: ``&``, ``<``, ``>`` escaped (no injected links or mentions such as
    ``<!channel>``), control characters removed."""
    return str(value).translate(_CONTROL).translate(_SLACK_ESCAPES)


_SEVERITY_MARK = {
    "high": ":red_circle:",
    "medium": ":large_orange_circle:",
    "low": ":large_yellow_circle:",
    "info": ":white_circle:",
}


def slack_payload(alert: Any) -> dict[str, Any]:
    """A Slack incoming-webhook message (``text`` fallback plus Block Kit blocks) for one alert."""
    data = alert if isinstance(alert, Mapping) else _alert_dict(alert)
    severity = str(data.get("severity", ""))
    title = data.get("title") or data.get("detection") or "alert"
    headline = f"{'Updated ' if data.get('update') else ''}{severity} alert: {data.get('summary', '')}"
    text = _slack_text(headline)
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"{_SEVERITY_MARK.get(severity, '')} *{_slack_text(title)}*\n{text}".strip(),
            },
        },
    ]
    what = data.get("what_to_do")
    if what:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*What to do:* {_slack_text(what)}"[:3000]}}
        )
    context = [
        f"rule `{_slack_text(data.get('rule_id') or data.get('detection', ''))}`",
        f"group `{_slack_text(data.get('key', ''))}`",
        f"{data.get('count', 0)} events",
        f"{_slack_text(data.get('start', ''))} to {_slack_text(data.get('end', ''))}",
    ]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)[:3000]}]})
    return {"text": text[:3000], "blocks": blocks}
