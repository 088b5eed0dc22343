"""Per-record parsing: one record (any shape) -> :class:`AuthEvent`; batches -> :class:`ParseResult`.

This is the reference semantics. The bulk reader (:mod:`authviz.auth0.bulk`) computes the same
columns vectorised and hands every record it is not sure about to this module, so both paths
agree on what is accepted and on every reason given.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from authviz.auth0.countries import resolve_country
from authviz.auth0.log_types import category_for, describe_type
from authviz.auth0.model import AuthEvent, ParseError, ParseResult, ReadOnlyMapping, Reject
from authviz.auth0.shapes import ShapeError, derived_id, extract, kind, unwrap
from authviz.auth0.timestamps import TimestampError, parse_timestamp

#: Hostnames ``<tenant>.auth0.com`` / ``<tenant>.<region>.auth0.com`` name their tenant.
TENANT_HOST_PATTERN = r"^([A-Za-z0-9][A-Za-z0-9-]*)\.(?:[A-Za-z]{2}\.)?auth0\.com$"
_TENANT_HOST_RE = re.compile(TENANT_HOST_PATTERN)

#: Fields compared to tell a retry (same content: a counted duplicate) from a conflict (a reject).
CONTENT_FIELDS = (
    "timestamp",
    "type",
    "description",
    "user_id",
    "user_name",
    "email",
    "connection",
    "client_id",
    "client_name",
    "ip",
    "user_agent",
    "country_code",
    "country_name",
    "city",
    "latitude",
    "longitude",
    "is_mobile",
    "tenant",
)

_TRUE = {"true": True, "false": False, "1": True, "0": False}


def parse_event(obj: Mapping[str, Any], *, source: str | None = None) -> AuthEvent:
    """Parse one record of any shape (auto-detected; ``source`` forces one) into an :class:`AuthEvent`.

    ``raw`` of the result is a read-only view of ``obj`` itself: do not modify ``obj`` afterwards.
    Raises :class:`ParseError` whose message names the field and what is wrong with it.
    """
    if not isinstance(obj, Mapping):
        raise ParseError(f"not a JSON object but {kind(obj)}")
    try:
        shape, record = unwrap(obj, source)
        fields = extract(record, shape)
    except ShapeError as error:
        raise ParseError(str(error)) from None
    return _build(fields, obj, record, shape)


def _text(fields: Mapping[str, tuple[str, Any]], name: str) -> str | None:
    label, value = fields[name]
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    raise ParseError(f"{label!r} should be text, not {kind(value)}")


def _number(fields: Mapping[str, tuple[str, Any]], name: str) -> float | None:
    label, value = fields[name]
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ParseError(f"{label!r} should be a number, not {value!r}") from None
    else:
        raise ParseError(f"{label!r} should be a number, not {kind(value)}")
    if not math.isfinite(number):
        raise ParseError(f"{label!r} should be a finite number, not {value!r}")
    return number


def _flag(fields: Mapping[str, tuple[str, Any]], name: str) -> bool | None:
    label, value = fields[name]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return _TRUE[value.strip().lower()]
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ParseError(f"{label!r} should be true or false, not {value!r}")


def tenant_from_hostname(hostname: str | None) -> str | None:
    """``dev-abc`` for ``dev-abc.eu.auth0.com``; ``None`` for custom domains."""
    if not hostname:
        return None
    match = _TENANT_HOST_RE.fullmatch(hostname)
    return match.group(1) if match else None


def email_from(email: str | None, user_name: str | None) -> str | None:
    """The explicit email, else the user name when it is an address (database logins log one)."""
    if email:
        return email
    if user_name and "@" in user_name:
        return user_name
    return email


def _build(
    fields: Mapping[str, tuple[str, Any]], raw: Mapping[str, Any], record: Mapping[str, Any], shape: str
) -> AuthEvent:
    date_label, date_value = fields["date"]
    if date_value is None or date_value == "":
        raise ParseError(f"{date_label!r} is {'missing' if date_value is None else 'empty'}")
    try:
        timestamp = parse_timestamp(date_value)
    except TimestampError as error:
        raise ParseError(
            f"{date_label!r} is not a timestamp: {_short(date_value)}"
            + ("" if "not a timestamp" in str(error) else f" ({error})")
        ) from None
    type_label, type_value = fields["type"]
    if type_value is None or type_value == "":
        raise ParseError(f"{type_label!r} is {'missing' if type_value is None else 'empty'}")
    if not isinstance(type_value, str):
        raise ParseError(f"{type_label!r} should be text, not {kind(type_value)}")
    try:
        event_id = _text(fields, "event_id") or derived_id(record)
    except ShapeError as error:
        raise ParseError(str(error)) from None
    country = resolve_country(
        _text(fields, "country_code"), _text(fields, "country_code3"), _text(fields, "country_name")
    )
    user_name = _text(fields, "user_name")
    description = _text(fields, "description")
    return AuthEvent(
        event_id=event_id,
        timestamp=timestamp,
        type=type_value,
        category=category_for(type_value),
        description=description if description is not None else describe_type(type_value),
        user_id=_text(fields, "user_id"),
        user_name=user_name,
        email=email_from(_text(fields, "email") if "email" in fields else None, user_name),
        connection=_text(fields, "connection"),
        client_id=_text(fields, "client_id"),
        client_name=_text(fields, "client_name"),
        ip=_text(fields, "ip"),
        user_agent=_text(fields, "user_agent"),
        country_code=country.code or None,
        country_iso3=country.iso3 or None,
        country_name=country.name or None,
        city=_text(fields, "city"),
        latitude=_number(fields, "latitude"),
        longitude=_number(fields, "longitude"),
        is_mobile=_flag(fields, "is_mobile"),
        tenant=_text(fields, "tenant") or tenant_from_hostname(_text(fields, "hostname")),
        source=shape,
        raw=ReadOnlyMapping(raw),
    )


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def content_key(event: AuthEvent) -> tuple[Any, ...]:
    """What must agree for a repeated ``event_id`` to count as a retry rather than a conflict."""
    return tuple(getattr(event, name) for name in CONTENT_FIELDS)


class Collector:
    """Accumulates a :class:`ParseResult`, deduplicating by ``event_id`` (the first one is kept).

    A repeated ``event_id`` with the same content (:data:`CONTENT_FIELDS`) is a retry: counted in
    ``duplicates``. With different content it is a conflict: it becomes a :class:`Reject`, so
    nothing is silently lost. In strict mode the first reject raises :class:`ParseError`.
    """

    def __init__(self, *, strict: bool = False, dedup: bool = True) -> None:
        self.result = ParseResult()
        self.strict = strict
        self.dedup = dedup
        #: The input being read (file name), recorded on each reject; ``None`` for one input.
        self.input: str | None = None
        #: Every input read so far, in order.
        self.inputs: list[str] = []
        self._seen: dict[str, tuple[int, tuple[Any, ...]]] = {}

    def reject(self, position: int, raw: str, message: str, *, input: str | None = None) -> None:
        where = input if input is not None else self.input
        reject = Reject(position, raw, f"record {position}: {message}", where)
        if self.strict:
            raise ParseError(f"{where}: {reject.reason}" if where else reject.reason)
        self.result.rejects.append(reject)

    def record(self, position: int, obj: Any, raw_text: str | None = None, *, source: str | None = None) -> None:
        try:
            event = parse_event(obj, source=source)
        except ParseError as error:
            self.reject(position, raw_text if raw_text is not None else dumps_text(obj), str(error))
            return
        self.event(position, event, raw_text)

    def event(self, position: int, event: AuthEvent, raw_text: str | None = None) -> None:
        if not self.dedup:
            self.result.events.append(event)
            return
        key = content_key(event)
        first = self._seen.get(event.event_id)
        if first is None:
            self._seen[event.event_id] = (position, key)
            self.result.events.append(event)
        elif first[1] == key:
            self.result.duplicates += 1
        else:
            self.reject(
                position,
                raw_text if raw_text is not None else dumps_text(event.raw),
                f"event id {event.event_id!r} was already seen in record {first[0]} with different "
                f"content; record {first[0]} was kept",
            )


def dumps_text(obj: Any) -> str:
    """JSON text of a record (for ``raw`` of rejects and the DataFrame)."""
    from authviz.auth0.model import thaw

    try:
        plain = thaw(obj)
        try:
            return orjson.dumps(plain, option=orjson.OPT_NON_STR_KEYS, default=str).decode("utf-8")
        except TypeError:  # integers beyond 64 bits, nesting beyond orjson's limit
            return json.dumps(plain, default=str, ensure_ascii=False)
    except RecursionError:
        return "<a value nested too deeply to write out>"


def loads(data: bytes | str) -> Any:
    """Decode JSON (orjson; the standard library only for integers beyond 64 bits).

    Raises ``ValueError`` with orjson's explanation.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        if "64-bit" not in str(error) and "integer" not in str(error).lower():
            raise ValueError(str(error)) from None
        try:
            return json.loads(data, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            raise ValueError(str(error)) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_records(
    records: Iterable[Mapping[str, Any]], *, source: str | None = None, strict: bool = False, dedup: bool = True
) -> ParseResult:
    """Parse records (already-decoded objects); positions are 1-based indexes in ``records``.

    Events are deduplicated by ``event_id`` (the first is kept; see :class:`Collector`) unless
    ``dedup`` is false. ``strict`` raises :class:`ParseError` at the first reject.
    """
    collector = Collector(strict=strict, dedup=dedup)
    for position, obj in enumerate(records, 1):
        collector.record(position, obj, source=source)
    return collector.result


def iter_body_records(body: bytes | str) -> Iterator[tuple[int, Any, str, str | None]]:
    """``(position, object, raw text, problem)`` for each record of a webhook body.

    Content formats (Log Streaming): a JSON array, a single JSON object, or JSON lines. A body that
    is one JSON value is that value; an object that is not itself an event but holds a ``logs``
    array (Management API ``include_totals``) or only objects (a named collection) is opened. Else
    the body is JSON lines: blank lines are skipped, positions are line numbers, and an invalid
    line yields a problem instead of an object.
    """
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if not data.strip():
        return
    value = document_value(data)
    if value is not NOT_ONE_DOCUMENT:
        yield from document_records(value, data)
        return
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        text = line.decode("utf-8", errors="replace").rstrip(" \t\r\n\x0b\x0c")
        try:
            obj = loads(line)
        except ValueError as error:
            yield number, None, text, f"not valid JSON ({error})"
            continue
        yield number, obj, text, None


LEADING_SPACE = re.compile(rb"\s*")


#: What :func:`document_value` returns for input that is not one JSON document.
NOT_ONE_DOCUMENT = object()


def document_value(data: bytes) -> Any:
    """The decoded value if ``data`` is one JSON document (an array, a pretty-printed object, an
    object on one line), else :data:`NOT_ONE_DOCUMENT` (JSON lines, invalid JSON).

    A body whose first line is a whole object is JSON lines when more follows (positions are then
    line numbers), and that one object otherwise.
    """
    begin = LEADING_SPACE.match(data).end()
    head = data[begin : begin + 1]
    if head not in (b"[", b"{"):
        return NOT_ONE_DOCUMENT
    if head == b"{":
        newline = data.find(b"\n", begin)
        end = newline if newline >= 0 else len(data)
        try:
            value = loads(data[begin:end])
        except ValueError:
            pass
        else:
            if LEADING_SPACE.match(data, end).end() == len(data):
                return value  # the only line
            return NOT_ONE_DOCUMENT  # the first line is a whole object: JSON lines
    try:
        return loads(data)
    except ValueError:
        return NOT_ONE_DOCUMENT


def is_one_document(data: bytes) -> bool:
    """Whether ``data`` is read as one JSON document rather than as JSON lines."""
    return document_value(data) is not NOT_ONE_DOCUMENT


def document_records(value: Any, data: bytes) -> Iterator[tuple[int, Any, str, str | None]]:
    """``(position, object, raw text, None)`` for the records of one decoded document."""
    if isinstance(value, list):
        items = value
    elif isinstance(value, Mapping):
        items = collection_items(value)
    else:
        items = [value]
    if len(items) == 1 and items[0] is value:
        # The whole body is the record: keep its text as received.
        yield 1, value, data.decode("utf-8", errors="replace").strip(" \t\r\n\x0b\x0c"), None
        return
    for position, item in enumerate(items, 1):
        yield position, item, dumps_text(item), None


def collection_items(value: Mapping[str, Any]) -> list[Any]:
    """The records of one JSON object: itself, its ``logs`` array, or each of its object values."""
    try:
        unwrap(value)
        return [value]
    except ShapeError:
        pass
    logs = value.get("logs")
    if isinstance(logs, list):
        return logs
    if len(value) > 1 and all(isinstance(item, Mapping) for item in value.values()):
        return list(value.values())
    return [value]


def parse_body(
    body: bytes | str, *, source: str | None = None, strict: bool = False, dedup: bool = True
) -> ParseResult:
    """Parse a webhook body in any Log Streaming content format, or any other shape's JSON.

    Invalid JSON lines become rejects; the other lines still parse. Positions are line numbers
    for JSON lines and 1-based indexes for an array. ``dedup``/``strict`` as in :func:`parse_records`.
    """
    collector = Collector(strict=strict, dedup=dedup)
    for position, obj, raw_text, problem in iter_body_records(body):
        if problem is not None:
            collector.reject(position, raw_text, problem)
        elif not isinstance(obj, Mapping):
            collector.reject(position, raw_text, f"not a JSON object but {kind(obj)}")
        else:
            collector.record(position, obj, raw_text, source=source)
    return collector.result
