"""Pusher Channels limits and the validators that enforce them.

Every limit is a named field of :class:`Limits` (defaults = Pusher's documented values), and every
validator raises :class:`PusherValidationError` whose message names the limit and the value seen
("channel name is 170 characters; the limit is 164"). Validators accept *any* object and never raise
anything else, so a boundary can feed them untrusted input directly; on success they return the
validated (sometimes normalised) value.

Sizes of event data are **bytes of UTF-8**, never ``len(str)`` or ``sys.getsizeof`` (the ``pusher``
library uses the latter, which counts Python object overhead and accepts 3-byte characters as 1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from authviz.errors import AuthvizError, ConfigError
from authviz.pusher.channels import (
    ENCRYPTED_PREFIX,
    PRESENCE_PREFIX,
    SERVER_TO_USER_PREFIX,
    is_server_to_user_channel,
)

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "PresenceMember",
    "PusherValidationError",
    "SignedInUser",
    "WATCHLIST_CLOSE_CODE",
    "parse_presence_channel_data",
    "parse_user_data",
    "validate_batch_size",
    "validate_channel_name",
    "validate_channels",
    "validate_data_size",
    "validate_event_name",
    "validate_socket_id",
    "validate_user_id",
    "validate_user_info",
    "validate_watchlist",
]

#: Close/error code Pusher uses when a sign-in's watchlist is too long.
WATCHLIST_CLOSE_CODE = 4302
#: The largest integer JavaScript clients represent exactly (numeric presence user ids).
_JS_MAX_SAFE_INTEGER = 2**53 - 1

# ASCII digits only (``\d`` would admit other scripts' digits); ≤ 20 digits per part (a uint64).
_SOCKET_ID_RE = re.compile(r"\A[0-9]{1,20}\.[0-9]{1,20}\Z")
# Channel names (and sign-in user ids, which become part of a channel name): A-Z a-z 0-9 _ - = @ , . ;
_CHANNEL_CHARS_RE = re.compile(r"\A[-A-Za-z0-9_=@,.;]+\Z")
_CHANNEL_CHARS_MATCH = _CHANNEL_CHARS_RE.match
_RESERVED_EVENT_PREFIXES = ("pusher:", "pusher_internal:")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_PRESENCE_ENCRYPTED_PREFIX = PRESENCE_PREFIX + "encrypted-"


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits one app enforces. Defaults are Pusher Channels' documented values.

    Immutable: make a variant with ``dataclasses.replace(DEFAULT_LIMITS, max_data_bytes=...)``.
    """

    max_channel_name: int = 164
    """Characters in a channel name (all allowed characters are ASCII, so also bytes)."""
    max_event_name: int = 200
    """Characters in an event name."""
    max_data_bytes: int = 10_240
    """UTF-8 bytes of one event's ``data`` string (HTTP 413 beyond). Every subscriber's send
    buffer may hold a number of these, so this bounds per-connection memory too."""
    max_channels_per_trigger: int = 100
    """Channels one HTTP ``events`` trigger may name."""
    max_batch_events: int = 10
    """Events in one ``batch_events`` request (Pusher's multi-tenant clusters allow 10)."""
    max_watchlist: int = 100
    """User ids in a sign-in's ``watchlist`` (close code 4302 beyond)."""
    max_presence_members: int = 100
    """Distinct users on one presence channel; further subscriptions are refused."""
    max_presence_user_info_bytes: int = 1024
    """UTF-8 bytes of a presence member's compact-JSON ``user_info`` (Pusher: "1KB limit for
    user object")."""
    max_user_id: int = 128
    """Characters in a user id (Pusher's presence documentation: "maximum 128 characters for
    user id"); numeric ids must also be JavaScript-safe integers (|n| < 2**53)."""
    client_events_per_second: int = 10
    """Client events one connection may send per second (close code 4301 beyond)."""

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"Limits.{name} must be a positive whole number, not {value!r}")


DEFAULT_LIMITS = Limits()


class PusherValidationError(AuthvizError, ValueError):
    """Input broke a Pusher rule or limit.

    ``limit`` names the rule (a :class:`Limits` field name such as ``"max_channel_name"``, or a
    rule name such as ``"channel_chars"``); ``code`` is the Pusher close/error code when the rule
    has one (4302 for the watchlist); ``http_status`` is what the HTTP API answers (413 for data
    too large, 400 otherwise).
    """

    def __init__(self, message: str, *, limit: str, code: int | None = None, http_status: int = 400) -> None:
        super().__init__(message)
        self.limit = limit
        self.code = code
        self.http_status = http_status


def _show(value: object, width: int = 40) -> str:
    """A short, safe rendering of untrusted input for an error message."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _require_str(value: object, what: str, limit: str) -> str:
    if not isinstance(value, str):
        raise PusherValidationError(f"{what} must be a string, not {type(value).__name__}", limit=limit)
    return value


def validate_socket_id(socket_id: object) -> str:
    """Check a socket id has the form ``digits.digits`` (what every Pusher server issues).

    Stricter than the ``pusher`` library's ``\\A\\d+\\.\\d+\\Z``: ASCII digits only, at most 20 per
    part."""
    s = _require_str(socket_id, "socket_id", "socket_id")
    if not _SOCKET_ID_RE.match(s):
        raise PusherValidationError(
            f"socket_id {_show(s)} is malformed; it must look like 1234.5678", limit="socket_id"
        )
    return s


def validate_channel_name(name: object, limits: Limits = DEFAULT_LIMITS, *, allow_server_to_user: bool = False) -> str:
    """Check a channel name: non-empty, ≤ ``max_channel_name`` characters of ``A-Za-z0-9_-=@,.;``.

    ``#server-to-user-{id}`` is refused unless *allow_server_to_user* (the HTTP API may publish to
    it; clients reach it only through ``pusher:signin``). ``presence-encrypted-*`` is refused:
    encrypted presence channels do not exist, and such a channel would carry plaintext.
    """
    # Fast path for the common, valid case (this runs for every subscription and publish).
    if (
        type(name) is str
        and 0 < len(name) <= limits.max_channel_name
        and name[0] != "#"
        and _CHANNEL_CHARS_MATCH(name)
        and not name.startswith(_PRESENCE_ENCRYPTED_PREFIX)
    ):
        return name
    s = _require_str(name, "channel name", "channel_chars")
    if not s:
        raise PusherValidationError("channel name is empty", limit="channel_chars")
    if len(s) > limits.max_channel_name:
        raise PusherValidationError(
            f"channel name is {len(s)} characters; the limit is {limits.max_channel_name}",
            limit="max_channel_name",
        )
    body = s
    if is_server_to_user_channel(s):
        if not allow_server_to_user:
            raise PusherValidationError(
                f"channel {_show(s)} is internal: {SERVER_TO_USER_PREFIX}* channels are joined "
                "by signing in (pusher:signin), never by subscribing",
                limit="server_to_user",
            )
        body = s[len(SERVER_TO_USER_PREFIX) :]
        if not body:
            raise PusherValidationError(f"channel {_show(s)} names no user", limit="channel_chars")
    if not _CHANNEL_CHARS_RE.match(body):
        raise PusherValidationError(
            f"channel name {_show(s)} has characters outside A-Z a-z 0-9 _ - = @ , . ;",
            limit="channel_chars",
        )
    if s.startswith(_PRESENCE_ENCRYPTED_PREFIX):
        raise PusherValidationError(
            f"channel {_show(s)}: encrypted channels cannot be presence channels; use a {ENCRYPTED_PREFIX}* channel",
            limit="channel_kind",
        )
    return s


def validate_event_name(name: object, limits: Limits = DEFAULT_LIMITS) -> str:
    """Check an application event name: non-empty, ≤ ``max_event_name`` characters, and not in
    the protocol's reserved ``pusher:`` / ``pusher_internal:`` namespaces (clients act on those:
    a published ``pusher_internal:member_added`` would forge presence state)."""
    s = _require_str(name, "event name", "event_name")
    if not s:
        raise PusherValidationError("event name is empty", limit="event_name")
    if s.startswith(_RESERVED_EVENT_PREFIXES):
        raise PusherValidationError(
            f"event name {_show(s)} is reserved: names beginning pusher: or pusher_internal: belong to the protocol",
            limit="reserved_event_name",
        )
    if len(s) > limits.max_event_name:
        raise PusherValidationError(
            f"event name is {len(s)} characters; the limit is {limits.max_event_name}",
            limit="max_event_name",
        )
    return s


def validate_data_size(data: object, limits: Limits = DEFAULT_LIMITS) -> int:
    """Check event data is at most ``max_data_bytes`` bytes of UTF-8; return its byte size.

    A ``str`` is measured as its UTF-8 encoding (``"é"`` is 2 bytes, ``"€"`` 3), ``bytes`` as is.
    """
    if isinstance(data, str):
        try:
            # str.isascii() is O(1) in CPython: ASCII text needs no encoding to be measured.
            size = len(data) if data.isascii() else len(data.encode("utf-8"))
        except UnicodeEncodeError:
            raise PusherValidationError(
                "event data is not valid text (it contains an unpaired surrogate)",
                limit="data_encoding",
            ) from None
    elif isinstance(data, (bytes, bytearray, memoryview)):
        size = data.nbytes if isinstance(data, memoryview) else len(data)
    else:
        raise PusherValidationError(f"event data must be a string, not {type(data).__name__}", limit="data_type")
    if size > limits.max_data_bytes:
        raise PusherValidationError(
            f"event data is {size} bytes; the limit is {limits.max_data_bytes}",
            limit="max_data_bytes",
            http_status=413,
        )
    return size


def validate_user_id(user_id: object, limits: Limits = DEFAULT_LIMITS, *, channel_safe: bool = False) -> str | int:
    """Check a user id: a non-empty string of ≤ ``max_user_id`` characters, or a JS-safe integer.

    With *channel_safe* (sign-in ids, which become ``#server-to-user-{id}``) only a string of
    channel-name characters ``A-Za-z0-9_-=@,.;`` is accepted. Otherwise control characters are
    refused. Returns the id unchanged.
    """
    if isinstance(user_id, int) and not isinstance(user_id, bool) and not channel_safe:
        if abs(user_id) > _JS_MAX_SAFE_INTEGER:
            raise PusherValidationError(
                f"user id {user_id} is beyond 2**53, the largest integer JavaScript represents exactly; use a string",
                limit="max_user_id",
            )
        return user_id
    s = _require_str(user_id, "user id", "user_id")
    if not s:
        raise PusherValidationError("user id is empty", limit="user_id")
    if len(s) > limits.max_user_id:
        raise PusherValidationError(
            f"user id is {len(s)} characters; the limit is {limits.max_user_id}",
            limit="max_user_id",
        )
    if channel_safe:
        if not _CHANNEL_CHARS_RE.match(s):
            raise PusherValidationError(
                f"user id {_show(s)} has characters outside A-Z a-z 0-9 _ - = @ , . ; "
                "(a signed-in user's id becomes part of a channel name)",
                limit="user_id_chars",
            )
    elif _CONTROL_RE.search(s):
        raise PusherValidationError(f"user id {_show(s)} contains control characters", limit="user_id_chars")
    return s


def validate_user_info(user_info: object, limits: Limits = DEFAULT_LIMITS) -> object:
    """Check presence ``user_info`` is JSON-serialisable and ≤ ``max_presence_user_info_bytes``."""
    try:
        encoded = json.dumps(user_info, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as exc:
        raise PusherValidationError(f"user_info is not JSON-serialisable ({exc})", limit="user_info") from None
    if len(encoded) > limits.max_presence_user_info_bytes:
        raise PusherValidationError(
            f"user_info is {len(encoded)} bytes of JSON; the limit is {limits.max_presence_user_info_bytes}",
            limit="max_presence_user_info_bytes",
        )
    return user_info


def validate_watchlist(watchlist: object, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """Check a sign-in ``watchlist``: a list of ≤ ``max_watchlist`` user ids (4302 beyond)."""
    if not isinstance(watchlist, (list, tuple)):
        raise PusherValidationError(
            f"watchlist must be a list of user ids, not {type(watchlist).__name__}",
            limit="watchlist",
        )
    if len(watchlist) > limits.max_watchlist:
        raise PusherValidationError(
            f"watchlist has {len(watchlist)} user ids; the limit is {limits.max_watchlist}",
            limit="max_watchlist",
            code=WATCHLIST_CLOSE_CODE,
        )
    out: list[str] = []
    for item in watchlist:
        if not isinstance(item, str):
            raise PusherValidationError(
                f"watchlist entries must be user id strings, not {type(item).__name__}",
                limit="watchlist",
            )
        out.append(str(validate_user_id(item, limits)))
    return out


def validate_channels(channels: object, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """Check the channels of one trigger: 1..``max_channels_per_trigger`` valid names.

    Returns the names with duplicates removed (first occurrence kept), so an event is delivered
    once per channel. Publishing to ``#server-to-user-*`` is allowed (that is send-to-user).
    """
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Iterable):
        raise PusherValidationError(
            f"channels must be a list of channel names, not {type(channels).__name__}",
            limit="channels",
        )
    if not isinstance(channels, (list, tuple)):
        channels = list(channels)
    if not channels:
        raise PusherValidationError("channels is empty; name at least one channel", limit="channels")
    if len(channels) > limits.max_channels_per_trigger:
        raise PusherValidationError(
            f"trigger names {len(channels)} channels; the limit is {limits.max_channels_per_trigger}",
            limit="max_channels_per_trigger",
        )
    seen: dict[str, None] = {}
    for name in channels:
        seen[validate_channel_name(name, limits, allow_server_to_user=True)] = None
    return list(seen)


def validate_batch_size(count: int, limits: Limits = DEFAULT_LIMITS) -> int:
    """Check a ``batch_events`` request has 1..``max_batch_events`` events."""
    if count < 1:
        raise PusherValidationError("batch is empty; send at least one event", limit="batch")
    if count > limits.max_batch_events:
        raise PusherValidationError(
            f"batch has {count} events; the limit is {limits.max_batch_events}",
            limit="max_batch_events",
        )
    return count


# --- the JSON documents a client hands over -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PresenceMember:
    """One member of a presence channel, from a verified ``channel_data``.

    ``user_id`` is as sent (string or integer); ``key`` is its string form, which identifies the
    member (one member per user across connections)."""

    user_id: str | int
    user_info: Any = None

    @property
    def key(self) -> str:
        return str(self.user_id)


@dataclass(frozen=True, slots=True)
class SignedInUser:
    """A user from a verified ``pusher:signin`` ``user_data``."""

    id: str
    user_info: Any = None
    watchlist: tuple[str, ...] = ()
    raw: Mapping[str, Any] | None = None


def _parse_json_object(text: object, what: str) -> dict[str, Any]:
    s = _require_str(text, what, what)
    try:
        value = json.loads(s)
    except (ValueError, RecursionError):
        raise PusherValidationError(f"{what} is not valid JSON", limit=what) from None
    if not isinstance(value, dict):
        raise PusherValidationError(f"{what} must be a JSON object, not {type(value).__name__}", limit=what)
    return value


def parse_presence_channel_data(channel_data: object, limits: Limits = DEFAULT_LIMITS) -> PresenceMember:
    """Parse and check a presence ``channel_data`` string ``{"user_id", "user_info"?}``."""
    doc = _parse_json_object(channel_data, "channel_data")
    if "user_id" not in doc:
        raise PusherValidationError("channel_data has no user_id", limit="channel_data")
    user_id = validate_user_id(doc["user_id"], limits)
    user_info = validate_user_info(doc.get("user_info"), limits)
    return PresenceMember(user_id, user_info)


def parse_user_data(user_data: object, limits: Limits = DEFAULT_LIMITS) -> SignedInUser:
    """Parse and check a sign-in ``user_data`` string ``{"id", "user_info"?, "watchlist"?}``.

    The id must be a non-empty string of channel-name characters (it names the user's
    ``#server-to-user-{id}`` channel); a watchlist over ``max_watchlist`` raises with code 4302.
    """
    doc = _parse_json_object(user_data, "user_data")
    if "id" not in doc:
        raise PusherValidationError("user_data has no id", limit="user_data")
    if not isinstance(doc["id"], str):
        raise PusherValidationError(f"user_data id must be a string, not {type(doc['id']).__name__}", limit="user_data")
    uid = str(validate_user_id(doc["id"], limits, channel_safe=True))
    watchlist = validate_watchlist(doc["watchlist"], limits) if "watchlist" in doc else []
    return SignedInUser(uid, doc.get("user_info"), tuple(watchlist), doc)
