"""The fast path from a webhook body to normalised event dicts (pure: no I/O).

:func:`read_body_fast` reads a body (JSON lines, a JSON array or one object) as
:func:`authviz.auth0.parse_body` does and gives, per record, its event dict and raw text or the
reason it is refused: the bridge's hot path. Per record: Auth0 log-stream records (``{"log_id", "data": {...}}``), EventBridge
envelopes and flat Management API entries whose fields all have the ordinary JSON types. For such
a record :func:`fast_event` builds the event dict directly (no ``AuthEvent``, no ``(label,
value)`` field tables, no per-record ``datetime``), with the same helpers and caches as the
reference parser for categories, descriptions, countries and tenants.

Invariant (checked by property tests against :func:`authviz.auth0.parse_event`): when
:func:`fast_event` returns a dict, it equals the event dict the reference path gives for the same
record (:func:`event_dict` of ``parse_event(record)``), key order
included. When it returns ``None`` (any unusual type, a missing id, date or type, another
timestamp form, wrappers, Rule/Action payloads...), the caller MUST take the reference path,
which accepts the record or gives the reason it is refused. The fast path never refuses anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import lru_cache
from math import isfinite
from typing import Any, NamedTuple

import orjson

from authviz.auth0.countries import resolve_country
from authviz.auth0.log_types import category_for, describe_type
from authviz.auth0.model import AuthEvent, ParseError, iso_z, unwrap
from authviz.auth0.parse import (
    CONTENT_FIELDS,
    NOT_ONE_DOCUMENT,
    document_records,
    document_value,
    dumps_text,
    loads,
    parse_event,
    tenant_from_hostname,
)
from authviz.auth0.schema import COLUMNS
from authviz.auth0.shapes import kind

__all__ = ["BodyRead", "event_dict", "fast_event", "fast_timestamp", "raw_json", "read_body_fast"]

#: The one timestamp form taken on the fast path: UTC with ``Z`` and an optional fraction of 1 to
#: 9 digits, the form Auth0 writes (``2026-11-20T10:00:00.123Z``). Other forms: reference path.
#: Checked in two steps: the minute prefix (date, hour, minute; cached, as a batch's events
#: share few minutes), then seconds and fraction with string tests.
_MINUTE = re.compile(r"([0-9]{4})-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")
#: Years whose every instant a ``datetime64[ns]`` column holds (the reference refuses values
#: outside 1677-09-21..2262-04-11; the edge years take the reference path).
_FIRST_YEAR, _LAST_YEAR = "1678", "2261"

#: How many distinct values the small caches below remember.
CACHE_SIZE = 4096

_str = str
_float = float
_int = int
_dict = dict


def fast_timestamp(value: str) -> str | None:
    """``iso_z(parse_timestamp(value))`` for ``YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z``, else ``None``.

    The fraction is truncated to microseconds, as the reference does; the date and time are
    validated by :meth:`datetime.fromisoformat` (month 13, February 30, hour 24 -> ``None``).
    """
    if len(value) < 20 or value[-1] != "Z" or value[16] != ":" or not value.isascii():
        return None
    minute = value[:16]
    valid = _minutes.get(minute)
    if valid is None:
        valid = _minute_valid(minute)
        if len(_minutes) >= CACHE_SIZE:
            _minutes.clear()
        _minutes[minute] = valid
    seconds = value[17:19]
    if not valid or not seconds.isdigit() or seconds > "59":  # ASCII: isdigit means 0-9
        return None
    fraction = value[19:-1]
    if not fraction:
        return value[:19] + ".000000Z"
    if fraction[0] != "." or not 2 <= len(fraction) <= 10 or not fraction[1:].isdigit():
        return None
    return value[:19] + "." + fraction[1:7].ljust(6, "0") + "Z"


#: minute prefix -> whether it is a valid date, hour and minute within the years taken here
_minutes: dict[str, bool] = {}


def _minute_valid(minute: str) -> bool:
    match = _MINUTE.fullmatch(minute)
    if match is None or not _FIRST_YEAR <= match.group(1) <= _LAST_YEAR:
        return False
    try:
        datetime.fromisoformat(minute + ":00")
    except ValueError:
        return False
    return True


@lru_cache(maxsize=CACHE_SIZE)
def _tenant_from_hostname(hostname: str | None) -> str | None:
    return tenant_from_hostname(hostname)


@lru_cache(maxsize=CACHE_SIZE)
def _type_info(type_code: str) -> tuple[str, str]:
    return category_for(type_code), describe_type(type_code)


_TEXT_OR_NULL = frozenset({str, type(None)})
#: ``resolve_country`` of (code, code3, name) as the three event columns (``None`` for empty).
_countries: dict[tuple[Any, Any, Any], tuple[str | None, str | None, str | None]] = {}


def _country_columns(
    code: str | None, code3: str | None, name: str | None
) -> tuple[str | None, str | None, str | None]:
    key = (code, code3, name)
    columns = _countries.get(key)
    if columns is None:
        country = resolve_country(code, code3, name)
        columns = (country.code or None, country.iso3 or None, country.name or None)
        if len(_countries) >= CACHE_SIZE:
            _countries.clear()
        _countries[key] = columns
    return columns


def _coordinate(value: Any) -> float | None | bool:
    """A latitude/longitude as the reference reads it; ``False`` means "take the reference path"."""
    if value is None:
        return None
    kind = type(value)
    if kind is _float or kind is _int:
        try:
            number = _float(value)
        except OverflowError:  # an integer beyond float range (decoded by the json fallback)
            return False
        return number if isfinite(number) else False
    return False  # text, "" and booleans: the reference decides


def _entry_event(entry: dict[str, Any], outer_id: Any, source: str) -> dict[str, Any] | None:
    """The event of a flat log entry (``log_entry_fields`` + ``_build`` of the reference).

    Every ``_first(a, b)`` of the reference (the first value neither missing nor empty text,
    else the first) is written out inline.
    """
    get = entry.get
    event_id = outer_id
    if event_id is None or event_id == "":
        event_id = get("log_id")
        if event_id is None or event_id == "":
            event_id = get("_id")
    if type(event_id) is not _str or not event_id:
        return None  # missing (the reference derives an id) or not text
    date = get("date")
    type_code = get("type")
    if type(date) is not _str or type(type_code) is not _str or not type_code:
        return None
    timestamp = fast_timestamp(date)
    if timestamp is None:
        return None
    location = get("location_info")
    if location is None:
        code = code3 = name = city = latitude = longitude = None
    elif type(location) is _dict:
        lget = location.get
        code, code3, name, city = (lget("country_code"), lget("country_code3"), lget("country_name"), lget("city_name"))
        latitude, longitude = lget("latitude"), lget("longitude")
        if (
            type(latitude) is not _float
            or type(longitude) is not _float
            or not (isfinite(latitude) and isfinite(longitude))
        ):
            latitude, longitude = _coordinate(latitude), _coordinate(longitude)
            if latitude is False or longitude is False:
                return None
    else:
        return None
    is_mobile = get("is_mobile")
    if is_mobile is None or is_mobile == "":
        other = get("isMobile")
        if other is not None and other != "":
            is_mobile = other
    if is_mobile is not None and is_mobile is not True and is_mobile is not False:
        return None
    tenant = get("tenant_name")
    if tenant is None or tenant == "":
        other = get("tenant")
        if other is not None and other != "":
            tenant = other
    description, user_id, user_name, connection, client_id, client_name, ip, user_agent, hostname = (
        get("description"),
        get("user_id"),
        get("user_name"),
        get("connection"),
        get("client_id"),
        get("client_name"),
        get("ip"),
        get("user_agent"),
        get("hostname"),
    )
    if not _TEXT_OR_NULL.issuperset(
        map(
            type,
            (
                description,
                user_id,
                user_name,
                connection,
                client_id,
                client_name,
                ip,
                user_agent,
                hostname,
                tenant,
                code,
                code3,
                name,
                city,
            ),
        )
    ):
        return None  # a number or boolean where text belongs: the reference converts or refuses
    category, default_description = _type_info(type_code)
    country_code, country_iso3, country_name = _country_columns(code, code3, name)
    return {
        "event_id": event_id,
        "timestamp": timestamp,
        "type": type_code,
        "category": category,
        "description": description if description is not None else default_description,
        "user_id": user_id,
        "user_name": user_name,
        "email": user_name if user_name and "@" in user_name else None,
        "connection": connection,
        "client_id": client_id,
        "client_name": client_name,
        "ip": ip,
        "user_agent": user_agent,
        "country_code": country_code,
        "country_iso3": country_iso3,
        "country_name": country_name,
        "city": city,
        "latitude": latitude,
        "longitude": longitude,
        "is_mobile": is_mobile,
        "tenant": tenant or _tenant_from_hostname(hostname),
        "source": source,
    }


def fast_event(obj: Any) -> dict[str, Any] | None:
    """The normalised event dict of one decoded record, or ``None``: take the reference path.

    The shape tests mirror :func:`authviz.auth0.shapes.detect_shape` (a null counts as missing),
    restricted to plain dicts, so a record is read here only in the shape the reference sees.
    """
    if type(obj) is not _dict:
        return None
    detail = obj.get("detail")
    if detail is not None:  # eventbridge, or a shape the reference must decide
        if type(detail) is _dict:
            data = detail.get("data")
            if type(data) is _dict:
                return _entry_event(data, detail.get("log_id"), "eventbridge")
        return None
    data = obj.get("data")
    if data is not None:  # log_stream when ``data`` is an object
        if type(data) is _dict:
            return _entry_event(data, obj.get("log_id"), "log_stream")
        return None
    if "type" in obj and "date" in obj:
        return _entry_event(obj, None, "management_api")
    return None


# ---------------------------------------------------------------------- a whole body


class BodyRead(NamedTuple):
    """A body read record by record: what :func:`authviz.auth0.parse_body` would give, as rows."""

    #: ``(event_id, event dict, raw JSON text)`` per event, in body order
    events: list[tuple[str, dict[str, Any], str]]
    #: ``(position, reason, record text)`` per refused record
    rejects: list[tuple[int, str, str]]
    #: records repeated inside the body with the same content (one copy kept)
    duplicates: int


def raw_json(record: Any) -> str:
    """The JSON text a record is stored and published with (compact, as orjson writes it)."""
    try:
        return orjson.dumps(record, default=unwrap, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # an integer beyond 64 bits (decoded by the json fallback)
        return dumps_text(record)


#: The schema columns except ``raw`` (kept apart as text), in order.
_FIELDS = tuple(name for name in COLUMNS if name != "raw")


def event_dict(event: AuthEvent) -> dict[str, object]:
    """``event.to_dict(include_raw=False)`` without its per-call dataclass introspection."""
    data = {name: getattr(event, name) for name in _FIELDS}
    data["timestamp"] = iso_z(event.timestamp)
    return data


def _line_text(line: bytes) -> str:
    """A JSON line's text as the reference reports it in a reject."""
    return line.decode("utf-8", errors="replace").rstrip(" \t\r\n\x0b\x0c")


#: JSON's whitespace around a value (RFC 8259): what is cut from a line kept as the raw text.
_JSON_SPACE = " \t\r\n"


def _body_records(data: bytes) -> Iterator[tuple[int, Any, Any, str | None, bool]]:
    """``(position, object, raw, problem, verbatim)`` as
    :func:`authviz.auth0.parse.iter_body_records` yields the first four, except that ``raw`` of a
    JSON line is its bytes (decoded only when used). ``verbatim``: the line was read by orjson,
    so its text is exactly one valid JSON value and is kept as the record's raw text (a line the
    standard library had to read, for integers beyond 64 bits, is stored as orjson writes it)."""
    value = document_value(data)
    if value is not NOT_ONE_DOCUMENT:
        for position, obj, text, problem in document_records(value, data):
            yield position, obj, text, problem, False
        return
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            try:
                obj = loads(line)  # orjson again, then the standard library for big integers
            except ValueError as error:
                yield number, None, line, f"not valid JSON ({error})", False
                continue
            yield number, obj, line, None, False
            continue
        yield number, obj, line, None, True


def read_body_fast(body: bytes) -> BodyRead:
    """Read a webhook body: each record by :func:`fast_event` when it can, else by the reference
    parser (:func:`authviz.auth0.parse_event`), which also gives every reject its reason.

    The result equals what :func:`authviz.auth0.parse_body` gives: same events in the same order
    (the same ``raw`` JSON values; the text of a JSON line as received), same rejects with the
    same positions, texts and reasons, same duplicate count (within the body, a repeated id with
    the same content is a duplicate, with other content a reject).
    """
    events: list[tuple[str, dict[str, Any], str]] = []
    rejects: list[tuple[int, str, str]] = []
    duplicates = 0
    seen: dict[str, tuple[int, dict[str, Any]]] = {}
    for position, obj, raw, problem, verbatim in _body_records(body):
        if problem is None and type(obj) is not dict and not isinstance(obj, Mapping):
            problem = f"not a JSON object but {kind(obj)}"
        if problem is not None:
            text = raw if isinstance(raw, str) else _line_text(raw)
            rejects.append((position, f"record {position}: {problem}", text))
            continue
        data = fast_event(obj)
        if data is None:
            try:
                data = event_dict(parse_event(obj))
            except ParseError as error:
                text = raw if isinstance(raw, str) else _line_text(raw)
                rejects.append((position, f"record {position}: {error}", text))
                continue
        log_id = data["event_id"]
        first = seen.get(log_id)
        if first is None:
            seen[log_id] = (position, data)
            # the record as received: a JSON line's own text (orjson read it, so it is one
            # valid JSON value), else as orjson writes it
            text = raw.decode().strip(_JSON_SPACE) if verbatim else raw_json(obj)
            events.append((log_id, data, text))
        elif _content(first[1]) == _content(data):
            duplicates += 1
        else:  # the reference's conflict (authviz.auth0.parse.Collector.event), same words
            text = raw if isinstance(raw, str) else _line_text(raw)
            rejects.append(
                (
                    position,
                    (
                        f"record {position}: event id {log_id!r} was already seen in record {first[0]} "
                        f"with different content; record {first[0]} was kept"
                    ),
                    text,
                )
            )
    return BodyRead(events, rejects, duplicates)


def _content(data: dict[str, Any]) -> tuple[Any, ...]:
    """:func:`authviz.auth0.parse.content_key` of an event dict (ISO timestamps compare as the
    instants they name: both are UTC with microseconds)."""
    return tuple(data[name] for name in CONTENT_FIELDS)
