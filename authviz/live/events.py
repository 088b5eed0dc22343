"""What a consumer receives: :class:`LiveEvent` (one event on one channel) and control notices.

A LiveEvent is built on the websocket thread with the least work that makes it useful: the message
is JSON-decoded once (orjson), the event data (a JSON string on the wire) is decoded once, and
nothing else. Everything more expensive (the :class:`~authviz.auth0.AuthEvent`, timestamps) is
computed lazily on the consumer's thread and cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from authviz import topics

__all__ = ["ControlNotice", "LiveEvent", "expects_server_events"]


def expects_server_events(channel: str) -> bool:
    """True where only the server publishes: the server-only channels (the event feed, user
    channels) and public channels (clients cannot send there). A ``client-*`` event arriving on
    one is forged or misrouted, and is never treated as data."""
    return topics.server_only(channel) or not channel.startswith(("private-", "presence-"))


_TIME_KEYS = ("sent_at", "timestamp", "date", "time")


@dataclass(slots=True, eq=False)
class LiveEvent:
    """One event from a channel.

    ``data`` is the decoded payload (dict, list, ...; the original string when it was not JSON),
    ``raw`` the payload as it arrived (for encrypted channels: the decrypted text),
    ``received_at`` the ``time.time()`` of its arrival, ``user_id`` the sender of a client event on a
    presence channel.
    """

    channel: str
    name: str
    data: Any
    raw: Any
    received_at: float
    user_id: str | None = None
    _auth_event: Any = field(default=None, repr=False)
    _timestamp: Any = field(default=False, repr=False)

    @property
    def timestamp(self) -> float | None:
        """Epoch seconds the event happened (or was triggered), from its payload; None if unknown.

        Looks at ``sent_at``, ``timestamp``, ``date``, ``time`` (epoch seconds or milliseconds, or
        ISO 8601 text) at the top level of the payload, then in a Rule payload's ``context``.
        """
        if self._timestamp is False:
            self._timestamp = _find_time(self.data)
        return self._timestamp

    @property
    def auth_event(self):
        """The :class:`~authviz.auth0.AuthEvent` of this event, or None if it is not an Auth0 event.

        ``auth-event`` payloads are normalised dicts (``AuthEvent.to_dict()``); the public feed's
        ``user-signedUp``/``user-loggedIn`` carry the Rule payload; replay and simulator events carry
        Log Streaming records. Parsed once, on first access.
        """
        if self._auth_event is None:
            self._auth_event = _to_auth_event(self.name, self.data) or False
        return self._auth_event or None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (the format :class:`~authviz.live.sources.Recorder` writes)."""
        record = {"t": self.received_at, "channel": self.channel, "event": self.name, "data": self.data}
        if self.user_id is not None:
            record["user_id"] = self.user_id
        return record


@dataclass(frozen=True, slots=True)
class ControlNotice:
    """Something other than data happened: ``kind`` is ``subscribed``, ``member_added``,
    ``member_removed``, ``error``, ``signed_in``, ``connected`` or ``disconnected``."""

    kind: str
    channel: str | None = None
    user_id: str | None = None
    user_info: Any = None
    error: Exception | None = None


def _epoch(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value / 1000.0 if value > 1e11 else float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def _find_time(data: Any) -> float | None:
    if not isinstance(data, dict):
        return None
    for key in _TIME_KEYS:
        if key in data:
            found = _epoch(data[key])
            if found is not None:
                return found
    inner = data.get("data") if isinstance(data.get("data"), dict) else data.get("context")
    if isinstance(inner, dict):
        for key in _TIME_KEYS:
            if key in inner:
                found = _epoch(inner[key])
                if found is not None:
                    return found
    return None


_REQUIRED = ("event_id", "timestamp", "type", "category", "source")


def _from_event_dict(data: dict):
    """An AuthEvent from its ``to_dict()`` form (what ``auth-event`` carries); None if incomplete."""
    import dataclasses

    from authviz.auth0 import AuthEvent, parse_timestamp

    if not all(data.get(name) for name in _REQUIRED):
        return None
    values = {f.name: data.get(f.name) for f in dataclasses.fields(AuthEvent)}
    values["timestamp"] = parse_timestamp(data["timestamp"])
    values["raw"] = data.get("raw") or {}
    return AuthEvent(**values)


def _to_auth_event(name: str, data: Any):
    # A client event is written by a client, never by Auth0 or the bridge: never an Auth0 event.
    if not isinstance(data, dict) or name.startswith("client-"):
        return None
    from authviz import auth0  # lazy: pandas and the country tables load only when needed
    from authviz.errors import AuthvizError

    try:
        if name == topics.AUTH_EVENT:
            return _from_event_dict(data)
        return auth0.parse_event(data)
    except (AuthvizError, ValueError, TypeError):  # not an Auth0 shape: the raw data stays available
        return None
