"""One event against one rule's condition, in Python: the same semantics as the SQL the engines run.

For the live side (one event at a time, no database): ``matches(rule_tree(rule, settings), event)``
is true exactly when DuckDB's ``event_query`` would select the event. ``event`` is an
:class:`~authviz.auth0.model.AuthEvent` or a mapping of schema columns with ``raw`` (a dict or JSON
text) and ``source``. Pure: no I/O, no clock.

For many events, compile once: ``predicate = compile_condition(tree)`` then
``predicate(EventView(event))`` (``True``/``False``/``None`` for SQL's unknown);
:func:`required_values` gives what a column must equal for a condition to hold (an index key),
:func:`field_text` the text of a field as the SQL engines read it (group-by and counted values).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from authviz.auth0.model import unwrap
from authviz.detections.compile import (
    _ONE,
    _STAR,
    DERIVED_FIELDS,
    And,
    Const,
    Field,
    Node,
    Not,
    Or,
    RuleError,
    Test,
    _Wildcard,
    ipv6_hex,
)

#: a compiled condition: SQL's three values (``None``: unknown, e.g. a missing field)
Predicate = Callable[["EventView"], "bool | None"]


def matches(node: Node, event: Any) -> bool:
    """True when ``event`` satisfies ``node`` (SQL's unknown counts as false, ``not`` of unknown as true)."""
    return compile_condition(node)(EventView(event)) is True


def _missing(value: Any) -> bool:
    """pandas' missing markers (NaN, NA, NaT) in a row of a DataFrame: SQL's NULL."""
    if value is None or isinstance(value, (str, bool, int)):
        return False
    try:
        return bool(value != value)  # NaN, NaT
    except TypeError:  # pandas.NA has no truth value
        return True


class EventView:
    """One event as the SQL engines see it: schema columns (derived ones included) and ``data``,
    the Auth0 record (parsed once, on first use)."""

    __slots__ = ("event", "_mapping", "_data", "_texts")

    def __init__(self, event: Any) -> None:
        self.event = event
        self._mapping = type(event) is dict or isinstance(event, Mapping)
        self._data: Any = _UNSET
        self._texts: dict[int, str | None] | None = None

    def column(self, name: str) -> Any:
        if self._mapping:
            if name in DERIVED_FIELDS:
                return self._derived(name)
            value = self.event.get(name)
            if name != "raw" and _missing(value):
                return None
        else:
            value = getattr(self.event, name, _UNSET)
            if value is _UNSET:
                return self._derived(name) if name in DERIVED_FIELDS else None
        if name == "timestamp" and value is not None:
            return str(value)
        return value

    def _derived(self, name: str) -> Any:
        columns, fallback = DERIVED_FIELDS[name]
        for column in columns:
            value = self.column(column)
            if value not in (None, ""):
                return value
        return fallback

    def text(self, field: Field) -> str | None:
        """:func:`field_text`, remembered for this event by the field's identity (rules share
        group-by fields; the caller keeps its fields alive)."""
        texts = self._texts
        key = id(field)
        if texts is None:
            texts = self._texts = {}
        elif key in texts:
            return texts[key]
        value = texts[key] = field_text(field, self)
        return value

    @property
    def data(self) -> Any:
        if self._data is _UNSET:
            raw = self.column("raw")
            if raw is not None and not isinstance(raw, (str, bytes, dict)):
                raw = unwrap(raw)  # a read-only view: its plain JSON, not a copy
            if isinstance(raw, (str, bytes)):
                try:
                    raw = json.loads(raw)
                except ValueError:
                    raw = None
            source = self.column("source")
            if source == "log_stream" and isinstance(raw, Mapping):
                raw = raw.get("data")
            elif source == "eventbridge" and isinstance(raw, Mapping):
                detail = raw.get("detail")
                raw = detail.get("data") if isinstance(detail, Mapping) else None
            self._data = raw
        return self._data


_UNSET = object()


def compile_condition(node: Node) -> Predicate:
    """``node`` as a Python function of an :class:`EventView` (three-valued, as in SQL). Raises
    :class:`RuleError` for what cannot be evaluated (an unknown test, a regex Python cannot read)."""
    if isinstance(node, And):
        items = tuple(compile_condition(item) for item in node.items)

        def all_of(view: EventView) -> bool | None:
            unknown = False
            for item in items:
                result = item(view)
                if result is False:
                    return False
                unknown = unknown or result is None
            return None if unknown else True

        return all_of
    if isinstance(node, Or):
        items = tuple(compile_condition(item) for item in node.items)

        def any_of(view: EventView) -> bool | None:
            unknown = False
            for item in items:
                result = item(view)
                if result is True:
                    return True
                unknown = unknown or result is None
            return None if unknown else False

        return any_of
    if isinstance(node, Not):
        inner = compile_condition(node.item)
        return lambda view: inner(view) is not True
    if isinstance(node, Const):
        value = bool(node.value)
        return lambda view: value
    return _compile_test(node)


def _compile_test(test: Test) -> Predicate:
    if test.kind not in _KINDS:
        raise RuleError(f"test {test.kind!r} is not supported")
    if test.kind == "re":
        pattern, flags = test.value
        try:
            _regex((f"(?{flags})" if flags else "") + pattern)
        except re.error as error:
            raise RuleError(f"regular expression {pattern!r} cannot be used: {error}") from None
    field: Field | None = test.field
    if field is None:

        def keyword(view: EventView) -> bool | None:
            raw = view.column("raw")
            if raw is not None and not isinstance(raw, (str, dict)):
                raw = unwrap(raw)
            text = raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":"), ensure_ascii=False)
            return _predicate(test, text, keyword=True)

        return keyword
    if field.column is not None:
        name = field.column
        if test.kind in ("text", "cased") and not any(isinstance(p, _Wildcard) for p in test.value):
            # the common case (``type: fp``): one comparison, as the SQL's ``lower(x) = 'fp'``
            cased = test.kind == "cased"
            literal = "".join(test.value) if cased else "".join(test.value).lower()

            def equals(view: EventView) -> bool | None:
                value = view.column(name)
                if value is None:
                    return None
                if not isinstance(value, str):
                    value = _text(value)
                return (value if cased else value.lower()) == literal

            return equals

        def on_column(view: EventView) -> bool | None:
            value = view.column(name)
            return _predicate(test, None if value is None else (value if isinstance(value, str) else _text(value)))

        return on_column
    path = field.path
    if not field.is_list:

        def on_path(view: EventView) -> bool | None:
            found = _walk(view.data, path)
            return _predicate(test, _text(found[0]) if found else None)

        return on_path

    def on_list(view: EventView) -> bool | None:
        texts = [_text(v) for v in _walk(view.data, path)]
        if test.kind == "null" or (test.kind == "exists" and not test.value):
            return not texts
        if test.kind == "exists":
            return bool(texts)
        return any(_predicate(test, t) is True for t in texts)

    return on_list


_KINDS = frozenset(("text", "cased", "number", "bool", "null", "exists", "re", "cidr", "cidr6", "compare"))


def required_values(node: Node, column: str) -> frozenset[str | None] | None:
    """Lower-cased values one of which ``column`` must equal (case-insensitively; ``None``: the
    column is missing) for ``node`` to hold, or ``None`` when the condition does not pin it: a
    necessary condition, for an index."""
    if isinstance(node, Test):
        field = node.field
        if field is None or field.column != column:
            return None
        if node.kind in ("text", "cased") and not any(isinstance(p, _Wildcard) for p in node.value):
            return frozenset(("".join(node.value).lower(),))
        if node.kind == "null" or (node.kind == "exists" and not node.value):
            return frozenset((None,))
        return None
    if isinstance(node, And):
        pinned = [v for v in (required_values(item, column) for item in node.items) if v is not None]
        return min(pinned, key=len) if pinned else None
    if isinstance(node, Or):
        options = [required_values(item, column) for item in node.items]
        if not options or any(v is None for v in options):
            return None
        return frozenset().union(*options)
    if isinstance(node, Const) and not node.value:
        return frozenset()
    return None


def field_text(field: Field, view: EventView) -> str | None:
    """The text of ``field`` for ``view`` as the SQL engines read a group-by or counted field
    (``CAST(column AS VARCHAR)``, ``json_extract_string`` on ``data``). Array fields are refused
    when the rule is compiled (``_text_expr``)."""
    if field.column is not None:
        value = view.column(field.column)
        return None if value is None else (value if isinstance(value, str) else _text(value))
    found = _walk(view.data, field.path)
    return _text(found[0]) if found else None


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
    if None not in path:  # a scalar path: no lists to build on the way
        for key in path:
            if type(value) is dict or isinstance(value, Mapping):
                if key not in value:
                    return []
                value = value[key]
            else:
                return []
        return [value]
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
