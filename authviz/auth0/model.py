"""The immutable results of parsing: :class:`AuthEvent`, :class:`Reject`, :class:`ParseResult`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from authviz.errors import AuthvizError


class ParseError(AuthvizError):
    """A record is not an Auth0 event authviz can read; ``str()`` says which field and why.

    Raised by :func:`~authviz.auth0.parse_event` and by the strict mode of the batch parsers.
    """


class ReadOnlyMapping(Mapping[str, Any]):
    """A read-only, picklable view of a JSON object; nested objects and lists come back read-only.

    Invariant: the wrapped dict is never modified through this view, so an event's ``raw`` stays
    exactly what was received.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return _freeze(self._data[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ReadOnlyMapping({self._data!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReadOnlyMapping, (thaw(self._data),))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and thaw(self._data) == thaw(other)

    __hash__ = None  # type: ignore[assignment]


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping) and not isinstance(value, ReadOnlyMapping):
        return ReadOnlyMapping(value)
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, independent ``dict``/``list`` copy of a (possibly read-only) JSON value."""
    if isinstance(value, ReadOnlyMapping):
        return thaw(value._data)
    if isinstance(value, Mapping):
        return {str(k): thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(item) for item in value]
    return value


def unwrap(value: Any) -> Any:
    """The plain JSON value behind a read-only view, WITHOUT copying: for serialisers only
    (``orjson.dumps(event.raw, default=unwrap)``); the result must never be modified."""
    if isinstance(value, ReadOnlyMapping):
        return value._data
    return thaw(value)


@dataclass(frozen=True, slots=True)
class AuthEvent:
    """One normalised Auth0 event. One field per column of :data:`authviz.auth0.schema.COLUMNS`.

    ``timestamp`` is tz-aware UTC; text fields are ``None`` when the source had no value;
    ``country_*`` are ``None`` when unknown (an unknown country keeps its text in ``country_name``);
    ``raw`` is the untouched original record (read-only). ``raw`` takes no part in equality.
    """

    event_id: str
    timestamp: datetime
    type: str
    category: str
    description: str | None
    user_id: str | None
    user_name: str | None
    email: str | None
    connection: str | None
    client_id: str | None
    client_name: str | None
    ip: str | None
    user_agent: str | None
    country_code: str | None
    country_iso3: str | None
    country_name: str | None
    city: str | None
    latitude: float | None
    longitude: float | None
    is_mobile: bool | None
    tenant: str | None
    source: str
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def to_dict(self, *, include_raw: bool = True) -> dict[str, Any]:
        """A JSON-safe dict: ISO 8601 timestamp (``...Z``), ``raw`` as a plain dict."""
        out: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "timestamp":
                value = iso_z(value)
            elif item.name == "raw":
                if not include_raw:
                    continue
                value = _json_safe(thaw(value))
            out[item.name] = value
        return out


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with millisecond-or-better precision and a ``Z`` suffix."""
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return iso_z(value) if value.tzinfo else value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that could not be read: nothing is lost, it comes back with a reason.

    ``position`` is 1-based (the line number of a JSON lines input, else the index in the batch);
    ``raw`` is the record's original text; ``reason`` is a full sentence starting with
    ``record <position>:``; ``input`` names the file it came from when several were read.
    """

    position: int
    raw: str
    reason: str
    input: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"position": self.position, "reason": self.reason, "raw": self.raw}
        if self.input is not None:
            out["input"] = self.input
        return out


@dataclass(slots=True)
class ParseResult:
    """The outcome of parsing a batch: events (deduplicated by ``event_id``), rejects, duplicates.

    Invariant: every input record is exactly one of: an event, a reject, or a counted duplicate
    (a repeat of an ``event_id`` already kept, with the same content).
    """

    events: list[AuthEvent] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    duplicates: int = 0
