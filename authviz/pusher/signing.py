"""Pusher signatures: channel authorization, user authentication and HTTP API requests.

All signatures are HMAC-SHA256 hex digests keyed with the app secret over UTF-8 strings:

- private / encrypted channel: ``{socket_id}:{channel}``
- presence channel:            ``{socket_id}:{channel}:{channel_data}``
- user authentication:         ``{socket_id}::user::{user_data}``
- HTTP API:                    ``{METHOD}\\n{path}\\n{k=v&...}`` (params sorted by lower-cased key,
  keys lower-cased, values unescaped, ``auth_signature`` excluded)

``auth`` values are ``{key}:{hex signature}``. Every comparison is constant-time
(:func:`hmac.compare_digest` on bytes), and verifiers return ``False`` / raise
:class:`SignatureError` for any malformed input rather than crashing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from authviz.errors import AuthvizError
from authviz.pusher.channels import ChannelKind, channel_kind
from authviz.pusher.encryption import EncryptionKeyError, shared_secret
from authviz.pusher.limits import (
    DEFAULT_LIMITS,
    Limits,
    PusherValidationError,
    parse_presence_channel_data,
    parse_user_data,
    validate_channel_name,
    validate_socket_id,
    validate_user_id,
    validate_user_info,
)

__all__ = [
    "AUTH_VERSION",
    "DEFAULT_MAX_SKEW",
    "SignatureError",
    "authenticate_user",
    "authorize_channel",
    "hmac_sha256_hex",
    "presence_channel_data",
    "request_string_to_sign",
    "sign_request",
    "verify_channel_auth",
    "verify_request",
    "verify_user_auth",
]

AUTH_VERSION = "1.0"
#: Seconds an HTTP API request's ``auth_timestamp`` may differ from the server's clock.
DEFAULT_MAX_SKEW = 600
_AUTH_PARAMS = ("auth_key", "auth_timestamp", "auth_version", "auth_signature")


class SignatureError(AuthvizError):
    """An HTTP API request's signature does not verify.

    ``reason`` is one of ``"missing"`` (an auth parameter is absent), ``"bad_signature"``,
    ``"expired"`` (``auth_timestamp`` outside the allowed skew, or not a number) and ``"body_md5"``
    (the body does not match ``body_md5``, or a non-empty body has none). The hub answers 401.
    """

    REASONS = frozenset({"missing", "bad_signature", "expired", "body_md5"})

    def __init__(self, message: str, *, reason: str) -> None:
        assert reason in self.REASONS, reason
        super().__init__(message)
        self.reason = reason


def _utf8(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def hmac_sha256_hex(secret: str | bytes, message: str | bytes) -> str:
    """HMAC-SHA256 of *message* keyed with *secret* (both UTF-8 when text), as lower-case hex."""
    return hmac.new(_utf8(secret), _utf8(message), hashlib.sha256).hexdigest()


def _equal(a: str, b: str) -> bool:
    """Constant-time string equality that never raises (``compare_digest`` on UTF-8 bytes)."""
    try:
        return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
    except (AttributeError, UnicodeEncodeError):
        return False


def _check_auth(key: str, secret: str | bytes, auth: object, string_to_sign: str) -> bool:
    if not isinstance(auth, str):
        return False
    given_key, sep, given_sig = auth.partition(":")
    if not sep:
        return False
    try:
        expected = hmac_sha256_hex(secret, string_to_sign)
    except UnicodeEncodeError:
        return False
    # Evaluate both comparisons so timing does not reveal which part was wrong.
    key_ok = _equal(given_key, key)
    sig_ok = _equal(given_sig, expected)
    return key_ok and sig_ok


# --- channels -------------------------------------------------------------------------------------


def presence_channel_data(user_id: str | int, user_info: Any = None, limits: Limits = DEFAULT_LIMITS) -> str:
    """The compact JSON ``channel_data`` of a presence member: ``{"user_id":..,"user_info":..}``.

    ``user_info`` is omitted when ``None``. Sign this exact string and return it unchanged.
    """
    validate_user_id(user_id, limits)
    doc: dict[str, Any] = {"user_id": user_id}
    if user_info is not None:
        validate_user_info(user_info, limits)
        doc["user_info"] = user_info
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def authorize_channel(
    key: str,
    secret: str | bytes,
    socket_id: str,
    channel: str,
    *,
    channel_data: str | None = None,
    encryption_master_key: bytes | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, str]:
    """The auth response for a private, presence or encrypted channel subscription.

    Returns ``{"auth": "key:sig"}``; presence adds ``"channel_data"`` (the signed string, byte for
    byte: build it with :func:`presence_channel_data`); ``private-encrypted-*`` adds
    ``"shared_secret"`` (base64 text, JSON-serialisable), which needs *encryption_master_key*.
    Raises :class:`PusherValidationError` / :class:`EncryptionKeyError` for bad input.
    """
    validate_socket_id(socket_id)
    validate_channel_name(channel, limits)
    kind = channel_kind(channel)
    if kind is ChannelKind.PUBLIC:
        raise PusherValidationError(
            f"channel {channel!r} is public and needs no authorization; only private-, "
            "presence- and private-encrypted- channels are authorized",
            limit="channel_kind",
        )
    if kind is ChannelKind.PRESENCE:
        if channel_data is None:
            raise PusherValidationError(
                f"presence channel {channel!r} needs channel_data (see presence_channel_data())",
                limit="channel_data",
            )
        parse_presence_channel_data(channel_data, limits)
        string_to_sign = f"{socket_id}:{channel}:{channel_data}"
    else:
        if channel_data is not None:
            raise PusherValidationError(
                f"channel_data is only for presence channels, not {channel!r}",
                limit="channel_data",
            )
        string_to_sign = f"{socket_id}:{channel}"
    response = {"auth": f"{key}:{hmac_sha256_hex(secret, string_to_sign)}"}
    if kind is ChannelKind.PRESENCE:
        response["channel_data"] = channel_data  # type: ignore[assignment]
    elif kind is ChannelKind.PRIVATE_ENCRYPTED:
        if encryption_master_key is None:
            raise EncryptionKeyError(
                f"channel {channel!r} is encrypted: authorizing it needs the app's encryption master key"
            )
        secret_bytes = shared_secret(channel, encryption_master_key)
        response["shared_secret"] = base64.b64encode(secret_bytes).decode("ascii")
    return response


def verify_channel_auth(
    key: str,
    secret: str | bytes,
    socket_id: str,
    channel: str,
    auth: object,
    channel_data: str | None = None,
) -> bool:
    """True when *auth* is ``key:sig`` signed for this socket, channel and (presence) channel_data.

    When *channel_data* is given it is part of the signed string (presence), exactly as sent.
    Never raises: malformed input is simply not authorized.
    """
    if not isinstance(socket_id, str) or not isinstance(channel, str):
        return False
    if channel_data is not None and not isinstance(channel_data, str):
        return False
    string_to_sign = f"{socket_id}:{channel}"
    if channel_data is not None:
        string_to_sign += f":{channel_data}"
    return _check_auth(key, secret, auth, string_to_sign)


# --- users ----------------------------------------------------------------------------------------


def authenticate_user(
    key: str,
    secret: str | bytes,
    socket_id: str,
    user_data: str | Mapping[str, Any],
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, str]:
    """The response to a user-authentication request (``pusher:signin``): ``{"auth","user_data"}``.

    *user_data* is a JSON string (signed as is) or a mapping (serialised compactly); either way it
    must hold a non-empty string ``id`` and at most ``max_watchlist`` watchlist ids.
    """
    validate_socket_id(socket_id)
    if isinstance(user_data, Mapping):
        try:
            text = json.dumps(dict(user_data), separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise PusherValidationError(f"user_data is not JSON-serialisable ({exc})", limit="user_data") from None
    else:
        text = user_data
    parse_user_data(text, limits)
    return {
        "auth": f"{key}:{hmac_sha256_hex(secret, f'{socket_id}::user::{text}')}",
        "user_data": text,
    }


def verify_user_auth(key: str, secret: str | bytes, socket_id: str, user_data: str, auth: object) -> bool:
    """True when *auth* signs ``{socket_id}::user::{user_data}`` with this key's secret."""
    if not isinstance(socket_id, str) or not isinstance(user_data, str):
        return False
    return _check_auth(key, secret, auth, f"{socket_id}::user::{user_data}")


# --- HTTP API -------------------------------------------------------------------------------------


def request_string_to_sign(method: str, path: str, params: Mapping[str, str]) -> str:
    """``METHOD\\npath\\nk=v&...``: params minus ``auth_signature``, sorted by lower-cased key."""
    pairs = sorted((str(k).lower(), str(v)) for k, v in params.items() if str(k).lower() != "auth_signature")
    query = "&".join(f"{k}={v}" for k, v in pairs)
    return f"{method.upper()}\n{path}\n{query}"


def _body_md5(body: bytes) -> str:
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def sign_request(
    key: str,
    secret: str | bytes,
    method: str,
    path: str,
    params: Mapping[str, str] | None = None,
    body: bytes | None = None,
    *,
    timestamp: int | None = None,
) -> dict[str, str]:
    """All query parameters of a signed HTTP API request (the given ones plus the auth ones).

    Adds ``auth_key``, ``auth_timestamp`` (now unless given), ``auth_version=1.0``, ``body_md5``
    when *body* is non-empty, and ``auth_signature``. *path* is the full path, e.g.
    ``/apps/3/events``. Caller-supplied ``auth_*``/``body_md5`` parameters are replaced.
    """
    query: dict[str, str] = {
        str(k): str(v) for k, v in (params or {}).items() if str(k).lower() not in (*_AUTH_PARAMS, "body_md5")
    }
    query["auth_key"] = key
    query["auth_timestamp"] = str(int(time.time()) if timestamp is None else int(timestamp))
    query["auth_version"] = AUTH_VERSION
    if body:
        query["body_md5"] = _body_md5(body)
    query["auth_signature"] = hmac_sha256_hex(secret, request_string_to_sign(method, path, query))
    return query


def verify_request(
    secret: str | bytes,
    method: str,
    path: str,
    params: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    max_skew: float = DEFAULT_MAX_SKEW,
) -> None:
    """Check a signed HTTP API request; raise :class:`SignatureError` when it does not verify.

    Checks, in order: the auth parameters are present; the signature (constant-time); the
    timestamp is within *max_skew* seconds of *now*; ``body_md5`` matches the body (a non-empty
    body must have one; an empty body may carry the MD5 of nothing, as the ``pusher`` library
    sends). The caller looks the secret up by ``params["auth_key"]`` beforehand. *params* may be
    a multidict; a repeated parameter name is refused (``bad_signature``).
    """
    pairs = list(params.items())  # a multidict (aiohttp's request.query) yields every pair
    lowered = {str(k).lower(): v for k, v in pairs}
    if len(lowered) != len(pairs):
        raise SignatureError(
            "the query repeats a parameter name (names are compared case-insensitively); "
            "each parameter may appear once",
            reason="bad_signature",
        )
    for name in _AUTH_PARAMS:
        if not isinstance(lowered.get(name), str) or not lowered.get(name):
            raise SignatureError(
                f"the request has no {name} parameter; sign it as the Pusher HTTP API requires",
                reason="missing",
            )
    if lowered["auth_version"] != AUTH_VERSION:
        raise SignatureError(
            f"auth_version {lowered['auth_version'][:20]!r} is not supported; use {AUTH_VERSION}",
            reason="bad_signature",
        )
    try:
        expected = hmac_sha256_hex(secret, request_string_to_sign(method, path, lowered))
    except UnicodeEncodeError:
        raise SignatureError("the request is not valid text", reason="bad_signature") from None
    if not _equal(lowered["auth_signature"], expected):
        raise SignatureError(
            "auth_signature does not match: check the app key and secret, and that the "
            "signed path and parameters are exactly the ones sent",
            reason="bad_signature",
        )
    ts_text = lowered["auth_timestamp"]
    if not (ts_text.isascii() and ts_text.isdigit() and len(ts_text) <= 12):
        raise SignatureError(f"auth_timestamp {ts_text[:20]!r} is not a whole number of seconds", reason="expired")
    current = time.time() if now is None else now
    skew = int(ts_text) - current
    if abs(skew) > max_skew:
        raise SignatureError(
            f"auth_timestamp is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the "
            f"server clock; the limit is {max_skew:g} s (check the client's clock)",
            reason="expired",
        )
    given_md5 = lowered.get("body_md5")
    if given_md5 is None:
        if body:
            raise SignatureError("the request has a body but no body_md5 parameter", reason="body_md5")
    elif not isinstance(given_md5, str) or not _equal(given_md5, _body_md5(body or b"")):
        raise SignatureError("body_md5 does not match the request body (was the body altered?)", reason="body_md5")
