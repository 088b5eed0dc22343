"""The five shapes Auth0 hands events out in: detection and field extraction (pure, no I/O).

Each extractor turns one record into :data:`Fields`: schema field -> ``(label, value)``, where
``label`` is the record's own key path (``data.date``) so a problem can name what to fix, and
``value`` is taken as found (validation and conversion happen in :mod:`authviz.auth0.parse`).

Detection order (first match wins), on an object:
1. ``eventbridge``: ``detail`` is an object holding a non-null ``data`` (or ``log_id``).
2. ``log_stream``: ``data`` is an object, or ``log_id`` is present and ``data`` is not null.
(A null is treated like a missing key throughout, as a columnar reader cannot tell them apart.)
3. ``management_api``: a flat log entry: ``type`` and ``date``, or one of them with ``_id``/``log_id``.
4. ``action``: ``user`` is an object beside ``request``/``stats``/``client``/``connection``/...
5. ``rule``: a user profile (``user_id`` or ``email``) beside ``country``/``app_metadata``/...
An object matching none with exactly one key whose value is an object is a wrapper
(``{"SUCCESSFUL_LOGIN": {...envelope...}}``): it is opened, up to :data:`MAX_WRAPPER_DEPTH` levels.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import orjson

from authviz.errors import AuthvizError
from authviz.auth0.schema import SOURCES

#: How many single-key wrapper objects are opened around a record before giving up.
MAX_WRAPPER_DEPTH = 4

Fields = dict[str, tuple[str, Any]]

_ACTION_KEYS = ("request", "stats", "client", "connection", "transaction", "authentication", "session")
_RULE_KEYS = ("country", "app_metadata", "updated_at", "identities", "created_at", "last_login", "logins_count")
#: Log-entry keys that map one-to-one onto schema fields.
_ENTRY_TEXT = ("description", "user_id", "user_name", "connection", "client_id", "client_name", "ip", "user_agent")


class ShapeError(AuthvizError, ValueError):
    """A record's structure is wrong (``str()`` is the reason, without the record prefix)."""


def detect_shape(obj: Mapping[str, Any]) -> str | None:
    """The shape of one record (one of :data:`~authviz.auth0.schema.SOURCES`) or ``None``."""
    detail = obj.get("detail")
    if isinstance(detail, Mapping) and (detail.get("data") is not None or detail.get("log_id") is not None):
        return "eventbridge"
    if obj.get("data") is not None and (isinstance(obj["data"], Mapping) or "log_id" in obj):
        return "log_stream"
    has_type, has_date = "type" in obj, "date" in obj
    if (has_type and has_date) or ((has_type or has_date) and ("_id" in obj or "log_id" in obj)):
        return "management_api"
    if isinstance(obj.get("user"), Mapping) and any(key in obj for key in _ACTION_KEYS):
        return "action"
    if ("user_id" in obj or "email" in obj) and any(key in obj for key in _RULE_KEYS):
        return "rule"
    return None


def unwrap(obj: Mapping[str, Any], source: str | None = None) -> tuple[str, Mapping[str, Any]]:
    """The shape and the record inside any single-key wrappers; :class:`ShapeError` if none fits.

    With ``source`` given, that shape is used for the innermost object that is not a wrapper.
    """
    if source is not None and source not in SOURCES:
        raise ShapeError(f"unknown source {source!r}: expected one of {', '.join(SOURCES)}")
    current = obj
    for _ in range(MAX_WRAPPER_DEPTH + 1):
        shape = detect_shape(current)
        if shape is not None:
            return (source or shape), current
        if len(current) == 1:
            (inner,) = current.values()
            if isinstance(inner, Mapping):
                current = inner
                continue
        break
    if source is not None:
        return source, current
    keys = ", ".join(repr(str(key)) for key in list(current)[:8]) or "none"
    more = ", ..." if len(current) > 8 else ""
    raise ShapeError(
        "not a recognised Auth0 event (expected a log-stream record {'log_id', 'data'}, a "
        "Management API log entry with 'date' and 'type', an EventBridge envelope {'detail'}, an "
        f"Action event or a Rule user profile); its keys: {keys}{more}"
    )


def extract(obj: Mapping[str, Any], shape: str) -> Fields:
    """The raw field values of one record of a known shape."""
    return _EXTRACTORS[shape](obj)


def _object(container: Mapping[str, Any], key: str, label: str) -> Mapping[str, Any]:
    """``container[key]`` as an object; ``{}`` when missing or null."""
    value = container.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ShapeError(f"{label!r} should be an object, not {kind(value)}")
    return value


def kind(value: Any) -> str:
    """The JSON kind of a value, with its article, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    return f"a {type(value).__name__}"


def _first(*pairs: tuple[str, Any]) -> tuple[str, Any]:
    """The first ``(label, value)`` whose value is neither missing nor empty text (else the first)."""
    for label, value in pairs:
        if value is not None and value != "":
            return label, value
    return pairs[0]


def log_entry_fields(entry: Mapping[str, Any], prefix: str, outer_id: tuple[str, Any] | None) -> Fields:
    """Fields of a flat Auth0 log entry (``data`` of a stream record, a Management API entry)."""
    location = _object(entry, "location_info", f"{prefix}location_info")
    loc = f"{prefix}location_info."
    fields: Fields = {
        "event_id": _first(
            *([outer_id] if outer_id else []),
            (f"{prefix}log_id", entry.get("log_id")),
            (f"{prefix}_id", entry.get("_id")),
        ),
        "date": (f"{prefix}date", entry.get("date")),
        "type": (f"{prefix}type", entry.get("type")),
        "country_code": (f"{loc}country_code", location.get("country_code")),
        "country_code3": (f"{loc}country_code3", location.get("country_code3")),
        "country_name": (f"{loc}country_name", location.get("country_name")),
        "city": (f"{loc}city_name", location.get("city_name")),
        "latitude": (f"{loc}latitude", location.get("latitude")),
        "longitude": (f"{loc}longitude", location.get("longitude")),
        "is_mobile": _first(
            (f"{prefix}is_mobile", entry.get("is_mobile")), (f"{prefix}isMobile", entry.get("isMobile"))
        ),
        "tenant": _first((f"{prefix}tenant_name", entry.get("tenant_name")), (f"{prefix}tenant", entry.get("tenant"))),
        "hostname": (f"{prefix}hostname", entry.get("hostname")),
    }
    for name in _ENTRY_TEXT:
        fields[name] = (f"{prefix}{name}", entry.get(name))
    return fields


def _log_stream(obj: Mapping[str, Any]) -> Fields:
    data = obj.get("data")
    if not isinstance(data, Mapping):
        raise ShapeError(f"'data' should be an object, not {kind(data)}")
    return log_entry_fields(data, "data.", ("log_id", obj.get("log_id")))


def _eventbridge(obj: Mapping[str, Any]) -> Fields:
    detail = _object(obj, "detail", "detail")
    data = detail.get("data")
    if not isinstance(data, Mapping):
        raise ShapeError(f"'detail.data' should be an object, not {kind(data)}")
    return log_entry_fields(data, "detail.data.", ("detail.log_id", detail.get("log_id")))


def _management_api(obj: Mapping[str, Any]) -> Fields:
    return log_entry_fields(obj, "", None)


def _action(obj: Mapping[str, Any]) -> Fields:
    user = _object(obj, "user", "user")
    request = _object(obj, "request", "request")
    geoip = _object(request, "geoip", "request.geoip")
    stats = _object(obj, "stats", "stats")
    client = _object(obj, "client", "client")
    connection = obj.get("connection")
    tenant = obj.get("tenant")
    methods = _object(obj, "authentication", "authentication").get("methods")
    last_method = methods[-1] if isinstance(methods, list) and methods and isinstance(methods[-1], Mapping) else {}
    logins = stats.get("logins_count")
    first_login = logins == 1 and not isinstance(logins, bool)
    geo = "request.geoip."
    return {
        "event_id": _first(("log_id", obj.get("log_id")), ("event_id", obj.get("event_id")), ("id", obj.get("id"))),
        "date": _first(
            ("timestamp", obj.get("timestamp")),
            ("date", obj.get("date")),
            ("authentication.methods[-1].timestamp", last_method.get("timestamp")),
            ("user.last_login", user.get("last_login")),
            ("user.updated_at", user.get("updated_at")),
        ),
        "type": ("stats.logins_count", "ss" if first_login else "s"),
        "description": ("description", obj.get("description")),
        "user_id": ("user.user_id", user.get("user_id")),
        "user_name": _first(
            ("user.username", user.get("username")), ("user.email", user.get("email")), ("user.name", user.get("name"))
        ),
        "email": ("user.email", user.get("email")),
        "connection": (
            ("connection.name", connection.get("name"))
            if isinstance(connection, Mapping)
            else ("connection", connection)
        ),
        "client_id": ("client.client_id", client.get("client_id")),
        "client_name": ("client.name", client.get("name")),
        "ip": ("request.ip", request.get("ip")),
        "user_agent": ("request.user_agent", request.get("user_agent")),
        "country_code": (f"{geo}countryCode", geoip.get("countryCode")),
        "country_code3": (f"{geo}countryCode3", geoip.get("countryCode3")),
        "country_name": (f"{geo}countryName", geoip.get("countryName")),
        "city": (f"{geo}cityName", geoip.get("cityName")),
        "latitude": (f"{geo}latitude", geoip.get("latitude")),
        "longitude": (f"{geo}longitude", geoip.get("longitude")),
        "is_mobile": ("is_mobile", obj.get("is_mobile")),
        "tenant": (("tenant.id", tenant.get("id")) if isinstance(tenant, Mapping) else ("tenant", tenant)),
        "hostname": ("request.hostname", request.get("hostname")),
    }


def _rule(obj: Mapping[str, Any]) -> Fields:
    app_metadata = _object(obj, "app_metadata", "app_metadata")
    geoip = _object(obj, "geoip", "geoip")
    signed_up = app_metadata.get("signedUp") is True or app_metadata.get("signedUp") == "true"
    identities = obj.get("identities")
    first_identity = (
        identities[0] if isinstance(identities, list) and identities and isinstance(identities[0], Mapping) else {}
    )
    type_code = "s" if signed_up else "ss"
    event_id = _first(("log_id", obj.get("log_id")), ("event_id", obj.get("event_id")))
    if event_id[1] in (None, ""):
        # The tutorial's payload has no id: derive one that is stable across retries.
        basis = f"{obj.get('user_id')}|{obj.get('email')}|{obj.get('updated_at')}|{type_code}"
        event_id = ("user_id", "derived-" + hashlib.sha1(basis.encode("utf-8")).hexdigest())
    return {
        "event_id": event_id,
        "date": _first(
            ("updated_at", obj.get("updated_at")),
            ("last_login", obj.get("last_login")),
            ("created_at", obj.get("created_at")),
        ),
        "type": ("app_metadata.signedUp", type_code),
        "description": ("description", obj.get("description")),
        "user_id": ("user_id", obj.get("user_id")),
        "user_name": _first(
            ("username", obj.get("username")),
            ("email", obj.get("email")),
            ("name", obj.get("name")),
            ("nickname", obj.get("nickname")),
        ),
        "email": ("email", obj.get("email")),
        "connection": ("identities[0].connection", first_identity.get("connection")),
        "client_id": ("client_id", obj.get("client_id")),
        "client_name": ("client_name", obj.get("client_name")),
        "ip": _first(("ip", obj.get("ip")), ("last_ip", obj.get("last_ip"))),
        "user_agent": ("user_agent", obj.get("user_agent")),
        "country_code": _first(
            ("country_code", obj.get("country_code")), ("geoip.country_code", geoip.get("country_code"))
        ),
        "country_code3": ("geoip.country_code3", geoip.get("country_code3")),
        "country_name": _first(("country", obj.get("country")), ("geoip.country_name", geoip.get("country_name"))),
        "city": _first(("city", obj.get("city")), ("geoip.city_name", geoip.get("city_name"))),
        "latitude": ("geoip.latitude", geoip.get("latitude")),
        "longitude": ("geoip.longitude", geoip.get("longitude")),
        "is_mobile": ("is_mobile", obj.get("is_mobile")),
        "tenant": ("tenant", obj.get("tenant")),
        "hostname": ("hostname", obj.get("hostname")),
    }


_EXTRACTORS = {
    "log_stream": _log_stream,
    "eventbridge": _eventbridge,
    "management_api": _management_api,
    "action": _action,
    "rule": _rule,
}


def derived_id(obj: Any) -> str:
    """A deterministic id for a record that carries none: a hash of its canonical JSON."""
    from authviz.auth0.model import thaw  # local: model imports nothing from here

    try:
        plain = thaw(obj)
        try:
            canonical = orjson.dumps(plain, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
        except TypeError:  # integers beyond 64 bits, nesting beyond orjson's limit
            canonical = json.dumps(plain, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise ShapeError("the record has no id and is nested too deeply to derive one") from None
    return "derived-" + hashlib.sha1(canonical).hexdigest()
