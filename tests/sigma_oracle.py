"""A small, literal reading of a Sigma rule's ``detection`` over one Auth0 record, for tests only.

It checks that the simulator's records carry what Auth0's catalog rules name; it is not the
project's Sigma engine (that is :mod:`authviz.detections`). Supported: named selections as maps
(AND) or lists of maps (OR), lists of values (OR), field paths into the record where a segment
ending in ``{}`` means any element of that array, the modifiers ``contains``, ``startswith``,
``endswith``, ``re`` and ``all``, ``*``/``?`` wildcards, ``null``, values compared with their JSON
types (``false`` is not ``'false'``; strings without case), and conditions made of selection names,
``and``, ``or``, ``not``, parentheses, ``1 of PATTERN`` / ``all of PATTERN`` / ``... of them``.
Correlations and thresholds are out of scope: a rule "matches" a record when its detection does.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import yaml

_MISSING = object()


def load_rules(*folders: Path) -> dict[str, dict]:
    """Sigma id -> rule (the first document of each file, with ``_file`` set)."""
    rules = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yml")):
            rule = next(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
            rule["_file"] = path.stem
            rules[rule["id"]] = rule
    return rules


def _values(node: Any, segments: list[str]) -> list[Any]:
    if not segments:
        return [node]
    head, rest = segments[0], segments[1:]
    array = head.endswith("{}")
    key = head[:-2] if array else head
    if key:
        if not isinstance(node, dict) or key not in node:
            return [_MISSING]
        node = node[key]
    if array:
        if not isinstance(node, list):
            return [_MISSING]
        return [v for item in node for v in _values(item, rest)]
    return _values(node, rest)


def _equal(actual: Any, expected: Any, modifiers: list[str]) -> bool:
    if expected is None:
        return actual is None or actual is _MISSING
    if actual is _MISSING or actual is None:
        return False
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, (int, float)):
        return isinstance(actual, (int, float)) and actual == expected
    if not isinstance(actual, str):
        return False
    text, pattern = actual.lower(), str(expected).lower()
    if "re" in modifiers:
        return re.search(str(expected), actual) is not None
    if "contains" in modifiers:
        return pattern in text
    if "startswith" in modifiers:
        return text.startswith(pattern)
    if "endswith" in modifiers:
        return text.endswith(pattern)
    if "*" in pattern or "?" in pattern:
        return fnmatch.fnmatchcase(text, pattern)
    return text == pattern


def _field_matches(record: dict, field: str, expected: Any) -> bool:
    path, *modifiers = field.split("|")
    actuals = _values(record, path.split("."))
    options = expected if isinstance(expected, list) else [expected]
    test = all if "all" in modifiers else any
    return test(any(_equal(a, e, modifiers) for a in actuals) for e in options)


def _selection(record: dict, node: Any) -> bool:
    if isinstance(node, list):
        return any(_selection(record, item) for item in node)
    return all(_field_matches(record, field, expected) for field, expected in node.items())


def matches(rule: dict, record: dict) -> bool:
    """Whether the rule's detection matches the record (``{"log_id", "data"}``)."""
    detection = dict(rule["detection"])
    condition = detection.pop("condition")
    hits = {name: _selection(record, node) for name, node in detection.items()}
    tokens = re.findall(r"\(|\)|[\w*]+", condition)
    out, i = [], 0
    while i < len(tokens):
        token = tokens[i]
        if token in ("1", "all") and i + 2 < len(tokens) and tokens[i + 1] == "of":
            names = list(hits) if tokens[i + 2] == "them" else fnmatch.filter(hits, tokens[i + 2])
            out.append(str((any if token == "1" else all)(hits[n] for n in names)))
            i += 3
            continue
        out.append(token if token in ("and", "or", "not", "(", ")") else str(hits[token]))
        i += 1
    return bool(eval(" ".join(out), {"__builtins__": {}}, {"True": True, "False": False}))  # noqa: S307 - tokens are only booleans and operators
