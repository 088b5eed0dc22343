"""One event against one rule's condition, in Python: the same semantics as the SQL the engines run.

For the live side (one event at a time, no database): ``matches(rule_tree(rule, settings), event)``
is true exactly when DuckDB's ``event_query`` would select the event. ``event`` is an
:class:`~authviz.auth0.model.AuthEvent` or a mapping of schema columns with ``raw`` (a dict or JSON
text) and ``source``. Pure: no I/O, no clock.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

from authviz.detections.compile import _ONE, _STAR, DERIVED_FIELDS, And, Const, Field, Node, Not, Or, Test, ipv6_hex


def matches(node: Node, event: Any) -> bool:
    """True when ``event`` satisfies ``node`` (SQL's unknown counts as false, ``not`` of unknown as true)."""
    view = _EventView(event)
    return _eval(node, view) is True


class _EventView:
    __slots__ = ("event", "_data")

    def __init__(self, event: Any) -> None:
        self.event = event
        self._data: Any = _UNSET

    def column(self, name: str) -> Any:
        if name in DERIVED_FIELDS:
            columns, fallback = DERIVED_FIELDS[name]
            for column in columns:
                value = self.column(column)
                if value not in (None, ""):
                    return value
            return fallback
        value = self.event.get(name) if isinstance(self.event, Mapping) else getattr(self.event, name, None)
        if name == "timestamp" and value is not None:
            return str(value)
        return value

    @property
    def data(self) -> Any:
        if self._data is _UNSET:
            raw = self.column("raw")
            if isinstance(raw, (str, bytes)):
                try:
                    raw = json.loads(raw)
                except ValueError:
                    raw = None
            source = self.column("source")
            if isinstance(raw, Mapping) and source == "log_stream":
                raw = raw.get("data")
            elif isinstance(raw, Mapping) and source == "eventbridge":
                detail = raw.get("detail")
                raw = detail.get("data") if isinstance(detail, Mapping) else None
            self._data = raw
        return self._data


_UNSET = object()


def _eval(node: Node, view: _EventView) -> bool | None:
    if isinstance(node, And):
        results = [_eval(item, view) for item in node.items]
        if any(r is False for r in results):
            return False
        return None if any(r is None for r in results) else True
    if isinstance(node, Or):
        results = [_eval(item, view) for item in node.items]
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False
    if isinstance(node, Not):
        return _eval(node.item, view) is not True
    if isinstance(node, Const):
        return node.value
    return _test(node, view)


def _text(value: Any) -> str | None:
    """A JSON value as DuckDB's ``json_extract_string`` gives it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _walk(value: Any, path: tuple[str | None, ...]) -> list[Any]:
    """Every value at ``path`` (``None``: each element of an array), flattened."""
    values = [value]
    for key in path:
        nxt = []
        for item in values:
            if key is None:
                if isinstance(item, list):
                    nxt.extend(item)
            elif isinstance(item, Mapping) and key in item:
                nxt.append(item[key])
        values = nxt
    return values


def _test(test: Test, view: _EventView) -> bool | None:
    field: Field | None = test.field
    if field is None:
        raw = view.column("raw")
        text = raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":"), ensure_ascii=False)
        return _predicate(test, text, keyword=True)
    if field.column is not None:
        value = view.column(field.column)
        return _predicate(test, None if value is None else (_text(value) if not isinstance(value, str) else value))
    found = _walk(view.data, field.path)
    if not field.is_list:
        return _predicate(test, _text(found[0]) if found else None)
    texts = [_text(v) for v in found]
    if test.kind == "null" or (test.kind == "exists" and not test.value):
        return not texts
    if test.kind == "exists":
        return bool(texts)
    return any(_predicate(test, t) is True for t in texts)


def _predicate(test: Test, text: str | None, keyword: bool = False) -> bool | None:
    kind, value = test.kind, test.value
    if kind == "null":
        return text is None
    if kind == "exists":
        return (text is not None) == bool(value)
    if text is None:
        return None
    if kind in ("text", "cased"):
        parts = (_STAR, *value, _STAR) if keyword else value
        cased = kind == "cased"
        subject = text if cased else text.lower()
        return (
            _like(tuple(p if not isinstance(p, str) or cased else p.lower() for p in parts)).fullmatch(subject)
            is not None
        )
    if kind == "bool":
        return text.lower() == ("true" if value else "false")
    if kind in ("number", "compare"):
        try:
            number = float(text)
        except ValueError:
            return None
        if kind == "number":
            return number == value
        op, limit = value
        return {
            "lt": number < limit,
            "lte": number <= limit,
            "gt": number > limit,
            "gte": number >= limit,
            "neq": number != limit,
        }[op]
    if kind == "re":
        pattern, flags = value
        return _regex((f"(?{flags})" if flags else "") + pattern).search(text) is not None
    if kind == "cidr":
        low, high = value
        try:
            address = ipaddress.IPv4Address(text)
        except ValueError:
            return None
        return low <= int(address) <= high
    if kind == "cidr6":
        low, high = value
        expanded = ipv6_hex(text)
        return None if expanded is None else low <= expanded <= high
    raise ValueError(f"test {kind!r} is not supported")


@functools.lru_cache(maxsize=1024)
def _like(parts: tuple[Any, ...]) -> re.Pattern[str]:
    return re.compile("".join(".*" if p is _STAR else "." if p is _ONE else re.escape(p) for p in parts), re.DOTALL)


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)
