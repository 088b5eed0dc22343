"""Sigma detections compiled to SQL: a small, engine-neutral form, rendered for DuckDB or Spark.

The Auth0 processing pipeline, in one place:

- a field ``data.a.b`` is the path ``a.b`` in the raw Auth0 log record (``data`` column, JSON);
  ``data.type``, ``data.ip``, ``data.user_id``, ... (the one-to-one log-entry keys) read the
  normalised column of the same name instead, which is the same value and much faster to scan;
  a field that is a schema column (``country_code``, ``tenant``) reads that column;
- a segment ending in ``{}`` (``shields{}``) means "any element of this array";
- a value matches a JSON scalar of the same text whatever its JSON type, as Splunk (for which the
  catalog was written) compares: ``false`` and ``'false'`` both match a JSON ``false`` and a
  string ``"false"``; numbers compare as numbers; ``null`` matches a missing key or a JSON null;
- strings compare case-insensitively with ``*``/``?`` wildcards (Sigma), ``|cased`` exactly;
  ``|re`` is a case-sensitive search (flags ``i``, ``m``, ``s`` honoured); ``|cidr`` takes IPv4
  and IPv6 ranges (an IPv6 address is compared in its full form, 32 hex digits, see
  :func:`ipv6_hex`; IPv6 text with a dotted IPv4 tail or a zone index is not an address here);
- ``{placeholder}`` text is replaced by the tenant's values (several values: any of them).

Invariant: both dialects render the same :class:`Node` tree, so DuckDB and Spark find the same
events.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from itertools import product
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

from authviz.auth0.archive import OBJECT_COLUMNS, SCALAR_COLUMNS, TYPE_KEY
from authviz.auth0.schema import COLUMNS
from authviz.detections.load import PLACEHOLDER, RuleError
from authviz.detections.model import Correlation, Rule, TenantSettings

#: ``data.<key>`` read from the normalised column of the same name (log-entry keys kept 1:1).
DATA_COLUMNS = frozenset(
    {"type", "description", "user_id", "user_name", "connection", "client_id", "client_name", "ip", "user_agent"}
)
#: authviz's own keys, computed from schema columns (first non-empty of the columns listed;
#: ``tenant_key`` falls back to ``(all)``): what the built-in detections group by.
DERIVED_FIELDS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "user_key": (("user_name", "email", "user_id"), None),
    "user_or_ip": (("user_name", "email", "user_id", "ip"), None),
    "tenant_key": (("tenant",), "(all)"),
}
#: Schema columns whose values are lower case by definition (:data:`authviz.auth0.schema.CATEGORIES`,
#: :data:`authviz.auth0.schema.SOURCES`).
LOWER_CASE_COLUMNS = frozenset({"category", "source"})
#: Keys of the Auth0 record that the events view also holds as columns of the same name.
JSON_COLUMNS = SCALAR_COLUMNS | OBJECT_COLUMNS
#: How many event ids a correlation finding lists at most (the count is exact).
MAX_EVENT_IDS = 1000
#: Fields whose values come from a short list (event type codes, categories, shapes, tenants): in
#: a stream of events one value is usually most of them, which the pruning of distinct-value
#: correlations uses (see :func:`correlation_query`). A hint for speed only: any field gives the
#: same findings.
ENUMERATED_FIELDS = frozenset({"type", TYPE_KEY, "category", "source", "tenant", "tenant_key", "connection"})


# ---- the engine-neutral form -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """Where a value is read: a schema ``column``, or a JSON ``path`` in ``data`` (``None`` segment: any element)."""

    column: str | None
    path: tuple[str | None, ...] = ()

    @property
    def is_list(self) -> bool:
        return None in self.path


@dataclass(frozen=True, slots=True)
class Test:
    """``field`` (``None``: the whole record's text) tested with ``kind`` against ``value``."""

    field: Field | None
    kind: str  # text | cased | number | bool | null | exists | re | cidr | compare
    value: Any = None


@dataclass(frozen=True, slots=True)
class And:
    items: tuple["Node", ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple["Node", ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: "Node"


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


Node = And | Or | Not | Test | Const


def parse_field(name: str) -> Field:
    """``data.details.shields{}`` -> a JSON path in ``data``; ``ip`` or ``data.ip`` -> the column."""
    if name in COLUMNS and name != "raw" or name in DERIVED_FIELDS:
        return Field(name)
    rest = name[5:] if name.startswith("data.") else name
    if rest in DATA_COLUMNS:
        return Field(rest)
    if rest in ("", "data"):
        raise RuleError(f"field {name!r} names no key")
    path: list[str | None] = []
    for segment in rest.split("."):
        is_array = segment.endswith("{}")
        key = segment[:-2] if is_array else segment
        if not key:
            raise RuleError(f"field {name!r} has an empty segment")
        path.append(key)
        if is_array:
            path.append(None)
    return Field(None, tuple(path))


def rule_tree(rule: Rule, settings: TenantSettings | None = None) -> Node:
    """The condition of Sigma event ``rule`` with its placeholders filled from ``settings``."""
    if rule.detection is None:
        raise RuleError(f"rule {rule.id} has no Sigma detection")
    missing = rule.missing(settings)
    if missing:
        raise RuleError(f"rule {rule.id} needs configuration: " + ", ".join("{" + m + "}" for m in missing))
    values = settings.placeholders if settings is not None else {}
    trees = [_node(condition.parse(), values) for condition in rule.detection.detection.parsed_condition]
    return trees[0] if len(trees) == 1 else Or(tuple(trees))


def _node(item: Any, values: dict[str, tuple[str, ...]]) -> Node:
    if isinstance(item, ConditionAND):
        return And(tuple(_node(arg, values) for arg in item.args))
    if isinstance(item, ConditionOR):
        return Or(tuple(_node(arg, values) for arg in item.args))
    if isinstance(item, ConditionNOT):
        return Not(_node(item.args[0], values))
    if isinstance(item, ConditionFieldEqualsValueExpression):
        return _test(parse_field(item.field), item.value, values)
    if isinstance(item, ConditionValueExpression):
        return _test(None, item.value, values)
    raise RuleError(f"condition element {type(item).__name__} is not supported")


def _test(field: Field | None, value: Any, values: dict[str, tuple[str, ...]]) -> Node:
    if isinstance(value, SigmaRegularExpression):
        flags = "".join(sorted(SigmaRegularExpression.sigma_to_re_flag[f] for f in value.flags))
        return Test(field, "re", (str(value.regexp), flags))
    if isinstance(value, SigmaString):
        kind = "cased" if isinstance(value, SigmaCasedString) else "text"
        variants = [Test(field, kind, parts) for parts in _filled(value, values)]
        return variants[0] if len(variants) == 1 else Or(tuple(variants))
    if isinstance(value, SigmaBool):
        return Test(field, "bool", bool(value.boolean))
    if isinstance(value, SigmaNumber):
        return Test(field, "number", float(value.number))
    if isinstance(value, SigmaNull):
        return Test(field, "null")
    if isinstance(value, SigmaExists):
        return Test(field, "exists", bool(value.exists))
    if isinstance(value, SigmaCIDRExpression):
        network = ipaddress.ip_network(value.cidr, strict=False)
        if network.version == 6:
            return Test(
                field,
                "cidr6",
                (
                    network.network_address.exploded.replace(":", ""),
                    network.broadcast_address.exploded.replace(":", ""),
                ),
            )
        return Test(field, "cidr", (int(network.network_address), int(network.broadcast_address)))
    if isinstance(value, SigmaCompareExpression):
        return Test(field, "compare", (value.op.name.lower(), float(value.number.number)))
    raise RuleError(f"value {value!r} ({type(value).__name__}) is not supported")


def _filled(value: SigmaString, values: dict[str, tuple[str, ...]]) -> list[tuple[Any, ...]]:
    """The parts of ``value`` (text and wildcards), once per combination of placeholder values."""
    parts: list[list[Any]] = []  # each part: its alternatives
    for part in value.s:
        if isinstance(part, str):
            pieces = PLACEHOLDER.split(part)  # text, name, text, name, ...
            for index, piece in enumerate(pieces):
                if index % 2 == 0:
                    if piece:
                        parts.append([piece])
                else:
                    parts.append(list(values[piece]))
        elif part is SpecialChars.WILDCARD_MULTI:
            parts.append([_STAR])
        elif part is SpecialChars.WILDCARD_SINGLE:
            parts.append([_ONE])
        else:
            raise RuleError(f"value {str(value)!r} uses an unsupported placeholder")
    return [tuple(combo) for combo in product(*parts)] if parts else [()]


class _Wildcard:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_STAR = _Wildcard("*")
_ONE = _Wildcard("?")


# ---- rendering ---------------------------------------------------------------------------------


class Dialect:
    """How one SQL engine spells JSON access, lists, regexes and time. Subclasses fill the gaps."""

    name = "sql"
    lambda_var = "_x"
    materialized = ""  # how a CTE is marked to be computed once (where the engine can say it)
    inlined = ""  # how a CTE is marked to be recomputed where it is used

    def literal(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def number(self, value: float) -> str:
        return repr(int(value)) if float(value).is_integer() else repr(value)

    def column(self, name: str) -> str:
        if name in DERIVED_FIELDS:
            columns, fallback = DERIVED_FIELDS[name]
            items = [f"nullif({self.column(c)}, '')" for c in columns] + ([self.literal(fallback)] if fallback else [])
            return f"coalesce({', '.join(items)})"
        return '"' + name + '"' if self.name == "duckdb" else "`" + name + "`"

    # JSON: implemented by subclasses
    def json_scalar(self, base: str, path: tuple[str, ...]) -> str:
        raise NotImplementedError

    def json_list(self, base: str, path: tuple[str | None, ...]) -> str:
        raise NotImplementedError

    def any_of(self, items: str, predicate) -> str:
        raise NotImplementedError

    def empty(self, items: str) -> str:
        raise NotImplementedError

    def regex(self, expr: str, pattern: str, flags: str) -> str:
        raise NotImplementedError

    def to_double(self, expr: str) -> str:
        return f"TRY_CAST({expr} AS DOUBLE)"

    def ipv4(self, expr: str) -> str:
        raise NotImplementedError

    def ipv6(self, expr: str) -> str:
        """``expr`` as :func:`ipv6_hex` gives it (32 lowercase hex digits), NULL when it is not IPv6 text."""
        raise NotImplementedError

    def epoch(self, expr: str) -> str:
        raise NotImplementedError

    def id_list(self, ids: str, order: str) -> str:
        raise NotImplementedError

    # shared rendering
    def render(self, node: Node, data: str = "data") -> str:
        if isinstance(node, And):
            return "(" + " AND ".join(self.render(item, data) for item in node.items) + ")" if node.items else "TRUE"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.render(item, data) for item in node.items) + ")" if node.items else "FALSE"
        if isinstance(node, Not):
            # Sigma's `not` is true when the inner test is false or unknown (a missing field).
            return f"(NOT coalesce({self.render(node.item, data)}, FALSE))"
        if isinstance(node, Const):
            return "TRUE" if node.value else "FALSE"
        return self._test(node, data)

    def _test(self, test: Test, data: str) -> str:
        if test.field is None:
            return self._predicate(
                test, f"CAST({data} AS VARCHAR)" if self.name == "duckdb" else f"CAST({data} AS STRING)", keyword=True
            )
        field = test.field
        if field.column is not None:
            expr = self.column(field.column)
            if field.column == "timestamp":
                expr = f"CAST({expr} AS VARCHAR)" if self.name == "duckdb" else f"CAST({expr} AS STRING)"
            return self._predicate(test, expr)
        if not field.is_list:
            return self._predicate(test, self.json_scalar(data, field.path))  # type: ignore[arg-type]
        items = self.json_list(data, field.path)
        if test.kind == "null" or (test.kind == "exists" and not test.value):
            return f"({self.empty(items)})"
        if test.kind == "exists":
            return f"(NOT {self.empty(items)})"
        return self.any_of(items, lambda var: self._predicate(test, var))

    def _predicate(self, test: Test, expr: str, keyword: bool = False, folded: bool = False) -> str:
        """``test`` on ``expr``; ``folded``: ``expr`` is already ``lower()`` of the field (text tests)."""
        kind, value = test.kind, test.value
        if kind in ("text", "cased"):
            parts = value
            if keyword:  # a keyword matches anywhere in the record
                parts = (_STAR, *parts, _STAR)
            cased = kind == "cased"
            subject = expr if cased or folded else f"lower({expr})"
            if not any(isinstance(p, _Wildcard) for p in parts):
                text = "".join(parts)
                return f"({subject} = {self.literal(text if cased else text.lower())})"
            pattern = "".join(
                "%" if p is _STAR else "_" if p is _ONE else _like_escape(p if cased else p.lower()) for p in parts
            )
            return f"({subject} LIKE {self.literal(pattern)} ESCAPE {self.literal(chr(92))})"
        if kind == "bool":
            return f"(lower({expr}) = {self.literal('true' if value else 'false')})"
        if kind == "number":
            return f"({self.to_double(expr)} = {self.number(value)})"
        if kind == "compare":
            op, number = value
            symbol = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "neq": "<>"}[op]
            return f"({self.to_double(expr)} {symbol} {self.number(number)})"
        if kind == "null":
            return f"({expr} IS NULL)"
        if kind == "exists":
            return f"({expr} IS {'NOT ' if value else ''}NULL)"
        if kind == "re":
            pattern, flags = value
            return self.regex(expr, pattern, flags)
        if kind == "cidr":
            low, high = value
            return f"({self.ipv4(expr)} BETWEEN {low} AND {high})"
        if kind == "cidr6":
            low, high = value
            return f"({self.ipv6(expr)} BETWEEN {self.literal(low)} AND {self.literal(high)})"
        raise RuleError(f"test {kind!r} is not supported")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class DuckDBDialect(Dialect):
    """DuckDB: ``json_extract_string`` with ``$."key"`` paths, list lambdas, RE2 (Python ``re`` when RE2 cannot)."""

    name = "duckdb"
    semi_join = "SEMI JOIN"
    materialized = "MATERIALIZED "  # a CTE computed once, before what uses it (not inlined and reordered)
    # a CTE recomputed where it is used: the matched events are read again rather than held (the
    # group test reads only the group and value columns; measured faster over 10M events)
    inlined = "NOT MATERIALIZED "

    def _path(self, path: tuple[str | None, ...]) -> str:
        return "$" + "".join("[*]" if key is None else '."' + key.replace('"', '\\"') + '"' for key in path)

    def json_scalar(self, base: str, path: tuple[str, ...]) -> str:
        return self._extract(base, path)

    def json_list(self, base: str, path: tuple[str | None, ...]) -> str:
        return self._extract(base, path)

    def _extract(self, base: str, path: tuple[str | None, ...]) -> str:
        if base != "data":
            return f"json_extract_string({base}, {self.literal(self._path(path))})"
        # Read the path straight from the record text (one parse), by shape, rather than from the
        # derived ``data`` column (which would parse, re-serialise and parse again).
        return (
            f"(CASE WHEN source = 'log_stream' THEN json_extract_string(raw, {self.literal(self._path(('data', *path)))}) "
            f"WHEN source = 'eventbridge' THEN json_extract_string(raw, {self.literal(self._path(('detail', 'data', *path)))}) "
            f"ELSE json_extract_string(raw, {self.literal(self._path(path))}) END)"
        )

    def any_of(self, items: str, predicate) -> str:
        var = self.lambda_var
        return f"(coalesce(len(list_filter({items}, lambda {var}: {predicate(var)})), 0) > 0)"

    def empty(self, items: str) -> str:
        return f"coalesce(len({items}), 0) = 0"

    def regex(self, expr: str, pattern: str, flags: str) -> str:
        full = (f"(?{flags})" if flags else "") + pattern
        if re2_compatible(full):
            return f"regexp_matches({expr}, {self.literal(full)})"
        return f"coalesce({PY_REGEX_FUNCTION}({expr}, {self.literal(full)}), FALSE)"

    def to_double(self, expr: str) -> str:
        return f"TRY_CAST({expr} AS DOUBLE)"

    def ipv4(self, expr: str) -> str:
        parts = [f"TRY_CAST(split_part({expr}, '.', {i}) AS BIGINT)" for i in range(1, 5)]
        return (
            f"(CASE WHEN regexp_full_match({expr}, '{_OCTET}(\\.{_OCTET}){{3}}') THEN "
            f"{parts[0]} * 16777216 + {parts[1]} * 65536 + {parts[2]} * 256 + {parts[3]} END)"
        )

    def ipv6(self, expr: str) -> str:
        # the text is bound once (a one-element list and a lambda), then checked and expanded
        pad = "array_to_string(list_transform(string_split({}, ':'), lambda _g: lpad(_g, 4, '0')), '')"
        groups = "(CASE WHEN {0} = '' THEN 0 ELSE len(string_split({0}, ':')) END)"
        head, tail = "split_part(_ip, '::', 1)", "split_part(_ip, '::', 2)"
        return (
            f"(list_transform([lower({expr})], lambda _ip: CASE "
            f"WHEN regexp_full_match(_ip, {self.literal(_IPV6_FULL)}) THEN {pad.format('_ip')} "
            f"WHEN regexp_full_match(_ip, {self.literal(_IPV6_SHORT)}) "
            f"AND {groups.format(head)} + {groups.format(tail)} <= 7 THEN "
            f"(CASE WHEN {head} = '' THEN '' ELSE {pad.format(head)} END) "
            f"|| repeat('0000', 8 - {groups.format(head)} - {groups.format(tail)}) "
            f"|| (CASE WHEN {tail} = '' THEN '' ELSE {pad.format(tail)} END) END)[1])"
        )

    def epoch(self, expr: str) -> str:
        return f"epoch({expr})"

    def epoch_ms(self, expr: str) -> str:
        return f"epoch_ms({expr})"

    def distinct_in_window(self, expr: str, window: str) -> str:
        return f"count(DISTINCT {expr}) {window}"

    def group_hash(self, exprs: list[str]) -> str:
        return f"hash({', '.join(exprs)})"

    def id_list(self, ids: str, order: str) -> str:
        return f"list({ids} ORDER BY {order}, {ids})[1:{MAX_EVENT_IDS}]"


class DuckDBEventsDialect(DuckDBDialect):
    """DuckDB over the engine's ``events`` view, which always has the archive's derived columns
    (:mod:`authviz.auth0.archive`), stored in a new archive and computed in the view otherwise.

    Same results as :class:`DuckDBDialect`, read from cheaper places: a case-insensitive text test
    on ``type`` compares ``type_key`` (``lower(type)``, on which a Parquet scan skips row groups
    of a type-sorted archive), ``data.hostname`` is the ``hostname`` column, and a path under
    ``data.details`` parses only the ``details`` text.
    """

    def _test(self, test: Test, data: str) -> str:
        field = test.field
        if field is not None and test.kind == "text":
            if field.column == "type":
                return self._predicate(test, _quoted(TYPE_KEY), folded=True)
            if field.column in LOWER_CASE_COLUMNS:  # lower(x) = x: compared as is, so the scan can filter
                return self._predicate(test, _quoted(field.column), folded=True)
        return super()._test(test, data)

    def _extract(self, base: str, path: tuple[str | None, ...]) -> str:
        if base == "data" and path and path[0] in JSON_COLUMNS:
            column = _quoted(str(path[0]))
            if len(path) == 1 and path[0] in SCALAR_COLUMNS:
                return column
            if path[0] in OBJECT_COLUMNS:
                return f"json_extract_string({column}, {self.literal(self._path(path[1:]))})"
        return super()._extract(base, path)


def _quoted(name: str) -> str:
    return '"' + name + '"'


class SparkDialect(Dialect):
    """Spark SQL: ``get_json_object`` with ``$['key']`` paths, ``from_json`` arrays, Java regexes."""

    name = "spark"
    semi_join = "LEFT SEMI JOIN"
    materialized = ""

    def literal(self, text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    @staticmethod
    def _path(keys: tuple[str, ...]) -> str:
        return "$" + "".join("['" + key.replace("'", "\\'") + "']" for key in keys)

    def json_scalar(self, base: str, path: tuple[str, ...]) -> str:
        return f"get_json_object({base}, {self.literal(self._path(path))})"

    def json_list(self, base: str, path: tuple[str | None, ...]) -> str:
        # split at the first "any element": the array, then each element's remaining path.
        cut = path.index(None)
        head, tail = path[:cut], path[cut + 1 :]
        array = f"from_json({self.json_scalar(base, head) if head else base}, 'array<string>')"
        if not tail:
            return array
        var = f"_e{len(path)}"
        if None in tail:
            return f"flatten(transform({array}, {var} -> {self.json_list(var, tail)}))"
        return f"transform({array}, {var} -> {self.json_scalar(var, tail)})"  # type: ignore[arg-type]

    def any_of(self, items: str, predicate) -> str:
        var = self.lambda_var
        return f"coalesce(exists({items}, {var} -> {predicate(var)}), FALSE)"

    def empty(self, items: str) -> str:
        return f"coalesce(size({items}), 0) <= 0"

    def regex(self, expr: str, pattern: str, flags: str) -> str:
        full = (f"(?{flags})" if flags else "") + pattern
        return f"({expr} RLIKE {self.literal(full)})"

    def ipv4(self, expr: str) -> str:
        parts = [f"TRY_CAST(split({expr}, '\\\\.')[{i}] AS BIGINT)" for i in range(4)]
        return (
            f"(CASE WHEN {expr} RLIKE '^{_OCTET_SPARK}(\\\\.{_OCTET_SPARK}){{3}}$' THEN "
            f"{parts[0]} * 16777216 + {parts[1]} * 65536 + {parts[2]} * 256 + {parts[3]} END)"
        )

    def ipv6(self, expr: str) -> str:
        pad = "array_join(transform(split({}, ':'), _g -> lpad(_g, 4, '0')), '')"
        groups = "(CASE WHEN {0} = '' THEN 0 ELSE size(split({0}, ':')) END)"
        head, tail = "substring_index(_ip, '::', 1)", "substring_index(_ip, '::', -1)"
        return (
            f"(transform(array(lower({expr})), _ip -> CASE "
            f"WHEN _ip RLIKE {self.literal('^' + _IPV6_FULL + '$')} THEN {pad.format('_ip')} "
            f"WHEN _ip RLIKE {self.literal('^' + _IPV6_SHORT + '$')} "
            f"AND {groups.format(head)} + {groups.format(tail)} <= 7 THEN "
            f"concat(CASE WHEN {head} = '' THEN '' ELSE {pad.format(head)} END, "
            f"repeat('0000', 8 - {groups.format(head)} - {groups.format(tail)}), "
            f"CASE WHEN {tail} = '' THEN '' ELSE {pad.format(tail)} END) END)[0])"
        )

    def epoch(self, expr: str) -> str:
        return f"unix_timestamp({expr})"

    def epoch_ms(self, expr: str) -> str:
        return f"unix_millis({expr})"

    def distinct_in_window(self, expr: str, window: str) -> str:
        return f"size(collect_set({expr}) {window})"

    def group_hash(self, exprs: list[str]) -> str:
        return f"xxhash64({', '.join(exprs)})"

    def id_list(self, ids: str, order: str) -> str:
        return (
            f"slice(transform(array_sort(collect_list(struct({order} AS o, {ids} AS i))), s -> s.i), 1, "
            f"{MAX_EVENT_IDS})"
        )


DUCKDB = DuckDBDialect()
#: The dialect of :class:`authviz.detections.DetectionEngine` (its ``events`` view).
DUCKDB_EVENTS = DuckDBEventsDialect()
SPARK = SparkDialect()
#: The DuckDB scalar function that runs a Python regular expression (registered by the engine).
PY_REGEX_FUNCTION = "authviz_regexp"


#: One IPv4 octet as Python's ``ipaddress`` reads it: 0-255, no leading zero.
_OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"
_OCTET_SPARK = _OCTET.replace("\\", "\\\\")  # in a Spark string literal, backslashes are escaped
#: IPv6 text, lowercase: eight groups, or groups around one ``::`` (at most seven: checked apart).
_IPV6_FULL = "([0-9a-f]{1,4}:){7}[0-9a-f]{1,4}"
_IPV6_SHORT = "(([0-9a-f]{1,4}:)*[0-9a-f]{1,4})?::(([0-9a-f]{1,4}:)*[0-9a-f]{1,4})?"


def ipv6_hex(text: str | None) -> str | None:
    """An IPv6 address as 32 lowercase hex digits (``2001:db8::1`` -> ``20010db8000...0001``), or
    ``None`` when ``text`` is not IPv6 text of the forms both SQL dialects expand: hex groups, one
    ``::`` at most; no dotted IPv4 tail, no ``%zone``. The reference for :meth:`Dialect.ipv6`."""
    if text is None:
        return None
    text = text.lower()
    if re.fullmatch(_IPV6_FULL, text):
        return "".join(group.rjust(4, "0") for group in text.split(":"))
    if not re.fullmatch(_IPV6_SHORT, text):
        return None
    head, tail = text.split("::")
    head_groups = head.split(":") if head else []
    tail_groups = tail.split(":") if tail else []
    if len(head_groups) + len(tail_groups) > 7:
        return None
    middle = ["0000"] * (8 - len(head_groups) - len(tail_groups))
    return "".join(group.rjust(4, "0") for group in [*head_groups, *middle, *tail_groups])


def re2_compatible(pattern: str) -> bool:
    """True unless ``pattern`` uses what RE2 (DuckDB's regex engine) lacks: look-around, back-references, atomic groups."""
    return not re.search(r"\(\?<?[=!]|\(\?>|\\[1-9]|\\k<", pattern)


# ---- whole queries -----------------------------------------------------------------------------


def event_query(rule: Rule, settings: TenantSettings | None, dialect: Dialect, table: str = "events") -> str:
    """SQL selecting ``event_id, timestamp`` of the events that match Sigma event ``rule``."""
    condition = dialect.render(rule_tree(rule, settings))
    return f"SELECT event_id, timestamp FROM {table} WHERE {condition}"


def correlation_query(rule: Rule, settings: TenantSettings | None, dialect: Dialect, table: str = "events") -> str:
    """SQL with one row per incident of correlation ``rule``.

    Columns: ``g0..gN`` (group-by values, as text), ``event_count``, ``first``, ``last``, ``event_ids``.
    Events whose group-by values are missing are not counted (as Splunk's ``stats ... by``).

    ``gt``/``gte`` (a measure that only grows with more events) use sliding windows, as
    :mod:`authviz.analytics.windows` does: an event triggers when the measure over the events of its
    group in ``[t - timespan, t]`` satisfies the condition; the events in any triggering window form
    incidents, merged while consecutive events are at most ``timespan`` apart. Other operators
    (``lt``, ``lte``, ``eq``, ``neq``: "at most N in the period") use fixed windows of ``timespan``
    aligned on the Unix epoch, as the catalog's Splunk queries (``bin _time span=...``) do.
    """
    spec = rule.correlation
    if spec is None:
        raise RuleError(f"rule {rule.id} is not a correlation")
    groups = [_text_expr(parse_field(name), dialect) for name in spec.group_by]
    value = _text_expr(parse_field(spec.field), dialect) if spec.field else "NULL"
    counts_rules = spec.type in ("temporal", "temporal_ordered")  # the measure is over which rules matched
    selects = []
    for index, counted in enumerate(spec.rules):
        condition = dialect.render(rule_tree(counted, settings))
        present = [f"({g}) IS NOT NULL" for g in groups]
        where = " AND ".join([condition, *present])
        columns = ", ".join(
            [f"{g} AS g{i}" for i, g in enumerate(groups)]
            + [f"CAST({index if counts_rules else value} AS {_string(dialect)}) AS v", f"{index} AS k"]
        )
        selects.append(f"SELECT event_id, timestamp, {columns} FROM {table} WHERE {where}")
    matched = " UNION ALL ".join(selects)
    group_columns = [f"g{i}" for i in range(len(groups))]
    symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=", "neq": "<>"}[spec.op]
    threshold = dialect.number(spec.threshold)
    if spec.type == "temporal" and spec.op == "gte" and spec.threshold <= 1 or spec.type == "temporal_ordered":
        threshold = str(len(spec.rules))  # Sigma's temporal default: all rules matched (ordered: always)
    span = int(spec.timespan.total_seconds())
    ids = dialect.id_list("event_id", "timestamp")
    span_ms = span * 1000
    partition = "PARTITION BY " + ", ".join(group_columns) if group_columns else ""
    order = f"OVER ({partition} ORDER BY t, event_id)"
    running = f"OVER ({partition} ORDER BY t, event_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    select_groups = ", ".join(group_columns) + ", " if group_columns else ""
    if _every_event_triggers(spec.type, spec.op, spec.threshold):
        # Every event's own window meets the condition, so every event is in an incident, and
        # incidents are the runs of a group's events at most one timespan apart: no windows to
        # measure, nothing to prune.
        return (
            f"WITH matched AS ({matched}), timed AS (SELECT *, {dialect.epoch_ms('timestamp')} AS t FROM matched), "
            f"marked AS (SELECT *, CASE WHEN lag(t) {order} IS NULL OR t - lag(t) {order} > {span_ms} "
            f"THEN 1 ELSE 0 END AS opens FROM timed), "
            f"numbered AS (SELECT *, sum(opens) {running} AS incident FROM marked) "
            f"SELECT {select_groups}incident, count(*) AS event_count, min(timestamp) AS first, "
            f"max(timestamp) AS last, {ids} AS event_ids FROM numbered GROUP BY {select_groups}incident"
        )
    if spec.op not in ("gt", "gte"):
        measure = "count(*)" if spec.type == "event_count" else "count(DISTINCT v)"
        bucket = f"floor({dialect.epoch('timestamp')} / {span})"
        keys = ", ".join(group_columns + ["bucket"])
        return (
            f"WITH matched AS ({matched}), windowed AS (SELECT *, {bucket} AS bucket FROM matched) "
            f"SELECT {', '.join(group_columns + ['bucket'])}, count(*) AS event_count, "
            f"min(timestamp) AS first, max(timestamp) AS last, {ids} AS event_ids "
            f"FROM windowed GROUP BY {keys} HAVING {measure} {symbol} {threshold}"
        )
    back = f"OVER ({partition} ORDER BY t RANGE BETWEEN {span_ms} PRECEDING AND CURRENT ROW)"
    # cov: a hit in [t, t + span]. The earliest hit at or after t, as a running minimum backwards in
    # time (hits first among equal times, so each row sees its peers' hits): one pass, where a
    # RANGE frame ahead cost ten times more.
    ahead = f"OVER ({partition} ORDER BY t DESC, hit DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    measure = f"count(*) {back}" if spec.type == "event_count" else dialect.distinct_in_window("v", back)
    # Exact pruning, before the window passes (which sort every event kept). Invariant: a dropped
    # event is in no triggering window, and no kept event's measure, cover or incident changes.
    # 1. A window never holds more than its group's whole history: a group whose total measure
    #    misses the threshold is dropped (distinct values only: see below).
    # 2. Fixed buckets of one timespan (b = floor(t / span)): an event is kept only if its buckets
    #    b-2..b+2 together meet the threshold (a window [t - span, t] that holds or neighbours a
    #    dropped event lies in those five buckets, and an event between two events of one incident
    #    lies within two buckets of both their triggering windows).
    # Groups are told apart by a 64-bit hash: two groups sharing one only keep more events (the
    # measure over the union is at least each one's), never fewer; the windows use the values.
    hashed = dialect.group_hash(group_columns) if group_columns else "0"
    near_window = "OVER (PARTITION BY h ORDER BY b RANGE BETWEEN 2 PRECEDING AND 2 FOLLOWING)"
    if spec.type == "event_count":
        # step 1 skipped: step 2 drops the same groups, and aggregating every group twice cost more
        # than it saved (benchmarks/RESULTS.md, session 5)
        history = f"grouped AS {dialect.inlined}(SELECT * FROM hashed), "
        counts = "SELECT h, b, count(*) AS n FROM grouped GROUP BY h, b"
        near_measure = f"sum(n) {near_window}"
    else:
        # (temporal_ordered: a window that triggers holds a match of every rule, so it counts them too)
        group_test = f"count(DISTINCT v) {symbol} {threshold}"
        if (spec.op, threshold) in (("gte", "2"), ("gt", "1")):
            group_test = "min(v) <> max(v)"  # two distinct values or more, without a distinct aggregate
        # 1a. Two distinct values or more: a group holding them holds one that is not the most common
        #     value overall, so only groups with such an event are measured. When the value is
        #     enumerated (one type of event in a thousand differs), that skips nearly every group
        #     without aggregating it; any value taken as "most common" keeps this exact.
        minority, eligible_from = "", "hashed"
        if _needs_two_values(spec.op, spec.threshold) and _enumerated(spec, counts_rules):
            minority = (
                "common AS (SELECT v AS c FROM hashed WHERE v IS NOT NULL GROUP BY v ORDER BY count(*) DESC, v LIMIT 1), "
                "minority AS (SELECT DISTINCT h FROM hashed CROSS JOIN common WHERE v <> c), "
            )
            eligible_from = f"hashed AS m {dialect.semi_join} minority AS n ON m.h = n.h"
        history = (
            f"{minority}eligible AS (SELECT h FROM {eligible_from} GROUP BY h HAVING {group_test}), "
            f"grouped AS {dialect.materialized}(SELECT m.* FROM hashed AS m {dialect.semi_join} eligible AS e ON m.h = e.h), "
        )
        counts = "SELECT DISTINCT h, b, v FROM grouped"
        near_measure = dialect.distinct_in_window("v", near_window)
    pruned = (
        f"hashed AS {dialect.inlined}(SELECT *, {hashed} AS h, CAST(floor({dialect.epoch_ms('timestamp')} / {span_ms}) AS BIGINT) AS b "
        f"FROM matched), "
        f"{history}"
        f"counts AS ({counts}), "
        f"near AS {dialect.materialized}(SELECT h, b FROM (SELECT h, b, {near_measure} AS s FROM counts) AS c WHERE s {symbol} {threshold}), "
        f"kept AS (SELECT m.* FROM grouped AS m {dialect.semi_join} near AS e ON m.h = e.h AND m.b = e.b), "
    )
    if spec.type == "temporal_ordered":
        measured = _ordered_measured(len(spec.rules), partition, span_ms)
    else:
        measured = (
            f"measured AS (SELECT *, CASE WHEN {measure} {symbol} {threshold} THEN 1 ELSE 0 END AS hit FROM timed), "
        )
    return (
        f"WITH matched AS {dialect.inlined}({matched}), {pruned}"
        f"timed AS (SELECT *, {dialect.epoch_ms('timestamp')} AS t FROM kept), "
        f"{measured}"
        f"ahead AS (SELECT *, min(CASE WHEN hit = 1 THEN t END) {ahead} AS next_hit FROM measured), "
        f"covered AS (SELECT *, CASE WHEN next_hit <= t + {span_ms} THEN 1 ELSE 0 END AS cov FROM ahead), "
        f"marked AS (SELECT *, CASE WHEN cov = 1 AND (lag(cov) {order} IS NULL OR lag(cov) {order} = 0 "
        f"OR t - lag(t) {order} > {span_ms}) THEN 1 ELSE 0 END AS opens FROM covered), "
        f"numbered AS (SELECT *, sum(opens) {running} AS incident FROM marked) "
        f"SELECT {select_groups}incident, count(*) AS event_count, min(timestamp) AS first, max(timestamp) AS last, "
        f"{ids} AS event_ids FROM numbered WHERE cov = 1 GROUP BY {select_groups}incident"
    )


def _every_event_triggers(kind: str, op: str, threshold: float) -> bool:
    """Whether the measure over any window holding an event meets ``op threshold`` (an event counts
    itself; a count of distinct values is at least 0, as a value may be missing)."""
    least = 1 if kind == "event_count" else 0
    return kind in ("event_count", "value_count") and (
        op == "gte" and threshold <= least or op == "gt" and threshold < least
    )


def _needs_two_values(op: str, threshold: float) -> bool:
    """Whether ``count(DISTINCT v) op threshold`` implies two distinct values or more."""
    return op == "gte" and threshold >= 2 or op == "gt" and threshold >= 1


def _enumerated(spec: Correlation, counts_rules: bool) -> bool:
    """Whether the counted value comes from a short list: the matched rule's index (temporal), or an
    enumerated field (:data:`ENUMERATED_FIELDS`)."""
    if counts_rules:
        return True
    field = parse_field(spec.field) if spec.field else None
    return field is not None and field.column in ENUMERATED_FIELDS


def _ordered_measured(rules: int, partition: str, span_ms: int) -> str:
    """CTEs ``chain0..`` and ``measured`` for ``temporal_ordered``: ``hit`` is 1 at an event when
    matches of every rule, in the rules' order and each strictly later than the one before, lie in
    ``[t - timespan, t]``.

    ``s<i>`` is, at a match of rule ``i``, the latest start of such a chain of rules ``0..i``
    ending there (rule 0: its own time; rule i: the greatest ``s<i-1>`` of strictly earlier
    matches), so a complete chain fits the window exactly when a match of the last rule in it has
    ``s`` at or after ``t - timespan``.
    """
    earlier = f"OVER ({partition} ORDER BY t RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    back = f"OVER ({partition} ORDER BY t RANGE BETWEEN {span_ms} PRECEDING AND CURRENT ROW)"
    ctes = ["chain0 AS (SELECT *, CASE WHEN k = 0 THEN t END AS s0 FROM timed)"]
    for i in range(1, rules):
        ctes.append(
            f"chain{i} AS (SELECT *, CASE WHEN k = {i} THEN max(s{i - 1}) {earlier} END AS s{i} FROM chain{i - 1})"
        )
    last = rules - 1
    ctes.append(
        f"measured AS (SELECT *, CASE WHEN max(s{last}) {back} >= t - {span_ms} THEN 1 ELSE 0 END AS hit "
        f"FROM chain{last})"
    )
    return ", ".join(ctes) + ", "


def _string(dialect: Dialect) -> str:
    return "VARCHAR" if dialect.name == "duckdb" else "STRING"


def _text_expr(field: Field, dialect: Dialect) -> str:
    if field.column is not None:
        return f"CAST({dialect.column(field.column)} AS {'VARCHAR' if dialect.name == 'duckdb' else 'STRING'})"
    if field.is_list:
        raise RuleError("a correlation cannot group by or count an array field ({})")
    return dialect.json_scalar("data", field.path)  # type: ignore[arg-type]


def findings_query(rule: Rule, settings: TenantSettings | None, dialect: Dialect, table: str = "events") -> str:
    """SQL with one row per finding of ``rule``: rule_id, title, level, group (JSON text), count, first, last, event_ids."""
    meta = f"{dialect.literal(rule.id)} AS rule_id, {dialect.literal(rule.title)} AS title, {dialect.literal(rule.level)} AS level"
    if rule.correlation is not None:
        names = rule.correlation.group_by
        if not names:
            group = "'{}'" if dialect.name == "spark" else "'{}'::JSON"
        elif dialect.name == "spark":
            group = "to_json(map(" + ", ".join(f"{dialect.literal(n)}, g{i}" for i, n in enumerate(names)) + "))"
        else:
            group = "json_object(" + ", ".join(f"{dialect.literal(n)}, g{i}" for i, n in enumerate(names)) + ")"
        inner = correlation_query(rule, settings, dialect, table)
        return (
            f"SELECT {meta}, {group} AS {dialect.column('group')}, event_count AS count, first, last, event_ids "
            f"FROM ({inner}) AS c"
        )
    if rule.sql is not None:
        if dialect.name != "duckdb":
            raise RuleError(f"rule {rule.id} is written in DuckDB SQL and has no {dialect.name} form")
        return f'SELECT {meta}, "group", count, first, last, event_ids FROM ({rule.sql.format(events=table)}) AS s'
    inner = event_query(rule, settings, dialect, table)
    empty = "'{}'" if dialect.name == "spark" else "'{}'::JSON"
    return (
        f"SELECT {meta}, {empty} AS {dialect.column('group')}, 1 AS count, timestamp AS first, "
        f"timestamp AS last, {'array(event_id)' if dialect.name == 'spark' else '[event_id]'} AS event_ids "
        f"FROM ({inner}) AS e"
    )


def spark_sql(rules, settings: TenantSettings | None = None, table: str = "auth0_events") -> dict[str, str]:
    """Spark SQL for each runnable rule (id -> query over ``table``: schema columns plus ``data`` as JSON text).

    Rules whose placeholders are unset, and DuckDB-only SQL rules, are left out.
    """
    exported: dict[str, str] = {}
    for rule in rules:
        if rule.missing(settings) or rule.sql is not None:
            continue
        exported[rule.id] = findings_query(rule, settings, SPARK, table)
    return exported
