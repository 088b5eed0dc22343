"""Loading rules: Sigma files (rules and correlations) and tenant settings, with one-sentence problems.

A file that is not valid Sigma becomes a :class:`RuleProblem` naming the file and the problem; the
other files still load. Two Auth0 catalog habits are read as their authors meant them:

- an unquoted placeholder such as ``data.client_id: {global_client_id}`` (which YAML reads as a
  one-key mapping with a null value) is the placeholder text ``'{global_client_id}'``;
- a rule referenced by a correlation is not run on its own unless the correlation says
  ``generate: true`` (Sigma 2.0).

Regular expressions are checked with Python's ``re`` (pySigma's trusted policy): rule files are
the analyst's own, and the catalog uses look-ahead, which RE2 lacks.
"""

from __future__ import annotations

import re
from dataclasses import replace
from collections.abc import Iterable, Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.conditions import ConditionFieldEqualsValueExpression, ConditionItem, ConditionValueExpression
from sigma.correlations import SigmaCorrelationConditionOperator, SigmaCorrelationRule, SigmaCorrelationTimespan
from sigma.exceptions import SigmaError
from sigma.policy.profiles import TrustedPolicy
from sigma.rule import SigmaRule
from sigma.types import SigmaRegularExpression, SigmaString

from authviz.detections.model import LEVELS, Correlation, Escalation, Rule, RuleProblem, RuleSet, TenantSettings
from authviz.errors import AuthvizError

#: ``{name}`` in a rule value: a per-tenant setting.
PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z0-9_.-]*)\}")
#: File names read as Sigma rules inside a directory.
RULE_SUFFIXES = (".yml", ".yaml")
#: The rules shipped in the package: ``builtin`` (authviz's detections) and ``catalog`` (Auth0's).
PACKAGED = ("builtin", "catalog")
#: What the placeholders of Auth0's catalog stand for (the comments of :func:`settings_template`).
PLACEHOLDER_HINTS: dict[str, str] = {
    "your-tenant-url": "the tenant's own Auth0 host name, e.g. acme.eu.auth0.com (log-ins through it "
    "rather than a custom domain are reported)",
    "your-tenant-domain": "the tenant's Auth0 domain, e.g. acme.eu.auth0.com (the Management API "
    "audience is https://DOMAIN/api/v2/)",
    "global_client_id": "the tenant's Global Client ID (Dashboard: Settings > Advanced > Global Client Information)",
    "trusted-client_id-1": "the client id of an application trusted to be granted Management API scopes",
    "trusted-client_id-2": "the client id of another trusted application (a list of values is fine too)",
    "api_explorer_client_id": "the client id of the API Explorer Application (Dashboard: Applications)",
}
#: Fields documented by the catalog that a person receiving an alert should see.
_PREVENTION_KEYS = ("prevention", "what_to_do")


class RuleError(AuthvizError):
    """A rule or settings file cannot be used (the message names the file)."""


def load_rules(paths: Iterable[str | Path], *, origin: str = "user") -> RuleSet:
    """Every rule in ``paths`` (files, or directories searched recursively for ``*.yml``/``*.yaml``).

    A path that does not exist raises :class:`RuleError`; a file that is not usable Sigma is a
    problem in the result and the others still load.
    """
    result = RuleSet()
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise RuleError(f"rule path {str(path)!r} does not exist")
        for file in files:
            result.extend(load_rule_file(file, origin=origin))
    return result


def packaged_rules(which: Iterable[str] = PACKAGED) -> RuleSet:
    """The rules shipped in ``authviz/detections/rules/<which>/`` (SQL rules included)."""
    from authviz.detections.sqlrules import sql_rules

    result = RuleSet()
    base = resources.files("authviz.detections") / "rules"
    for name in which:
        folder = base / name
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(RULE_SUFFIXES):
                result.extend(load_rule_text(entry.read_text(encoding="utf-8"), f"{name}/{entry.name}", origin=name))
        if name == "builtin":
            result.rules.extend(sql_rules())
    return result


def load_rule_file(path: str | Path, *, origin: str = "user") -> RuleSet:
    """The rules of one Sigma file (several YAML documents allowed)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return RuleSet(problems=[RuleProblem(str(path), f"{path}: cannot be read ({error}).")])
    return load_rule_text(text, str(path), origin=origin)


def load_rule_text(text: str, source: str, *, origin: str = "user") -> RuleSet:
    """The rules of Sigma YAML ``text``; ``source`` names it in problems and in ``Rule.source``."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        reason = getattr(error, "problem", None) or str(error).splitlines()[0]
        return _problem(source, f"is not valid YAML{at} ({reason})")
    if not documents:
        return _problem(source, "holds no rule")
    for doc in documents:
        if not isinstance(doc, dict):
            return _problem(source, "is not a Sigma rule (a YAML mapping with title and detection)")
        _unquoted_placeholders(doc)
    try:
        collection = SigmaCollection.from_dicts(documents, collect_errors=False, policy=TrustedPolicy)
    except SigmaError as error:
        return _problem(source, f"is not valid Sigma: {_sigma_message(error)}")
    except Exception as error:  # pySigma raises plain errors on some malformed shapes
        return _problem(source, f"is not valid Sigma: {error}")
    try:
        return _rules_from(collection, documents, source, origin)
    except SigmaError as error:
        return _problem(source, f"is not valid Sigma: {_sigma_message(error)}")
    except RuleError as error:
        text = str(error)  # names the file already, or is about the file
        text = text if text.startswith(source) else f"{source}: {text}"
        return RuleSet(problems=[RuleProblem(source, f"{text.rstrip('.')}.")])


def load_settings(path: str | Path) -> TenantSettings:
    """Tenant settings from a YAML (or JSON) file: ``{placeholder-name: value or [values]}``.

    The mapping may also sit under a ``placeholders:`` key. Names may be written with or without
    braces (``your-tenant-url`` or ``'{your-tenant-url}'``). A name with no value (``name:``, as
    :func:`settings_template` writes them) is left unset.
    """
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RuleError(f"settings file {str(path)!r} cannot be read ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        raise RuleError(f"settings file {str(path)!r} is not valid YAML or JSON") from error
    if loaded is None:
        loaded = {}
    if isinstance(loaded, dict) and isinstance(loaded.get("placeholders"), dict):
        loaded = loaded["placeholders"]
    if not isinstance(loaded, dict):
        raise RuleError(f"settings file {str(path)!r} must be a mapping of placeholder names to values")
    values: dict[str, tuple[str, ...]] = {}
    for key, value in loaded.items():
        name = str(key).strip()
        if name.startswith("{") and name.endswith("}"):
            name = name[1:-1]
        if value is None:
            continue  # not filled in yet: the rules that need it keep waiting
        items = value if isinstance(value, list) else [value]
        if not items or any(item is None or isinstance(item, (dict, list)) for item in items):
            raise RuleError(f"settings file {str(path)!r}: {name!r} must be a value or a list of values")
        values[name] = tuple(_text(item) for item in items)
    return TenantSettings(values, str(path))


def settings_template(rules: Iterable[Rule], settings: TenantSettings | None = None) -> str:
    """A settings file (YAML) with every placeholder ``rules`` use that ``settings`` leaves unset:
    each name with no value yet, what it stands for and the rules waiting for it."""
    waiting: dict[str, list[Rule]] = {}
    for rule in rules:
        for name in rule.missing(settings):
            waiting.setdefault(name, []).append(rule)
    lines = [
        "# authviz rule settings: fill in the values, then pass this file as --settings FILE to",
        "# `authviz detect`, `authviz rules list` and `authviz rules check`. A list ([a, b]) means any",
        "# of the values; a name left empty stays unset and the rules that need it are not run.",
    ]
    for name in sorted(waiting):
        lines.append("")
        if name in PLACEHOLDER_HINTS:
            lines.append(f"# {PLACEHOLDER_HINTS[name]}")
        for rule in waiting[name]:
            lines.append(f"# needed by: {rule.title} ({rule.source})")
        lines.append(f"{name}:")
    return "\n".join(lines) + "\n"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _problem(source: str, what: str) -> RuleSet:
    return RuleSet(problems=[RuleProblem(source, f"{source} {what.rstrip('.')}.")])


def _sigma_message(error: SigmaError) -> str:
    text = str(error)
    # pySigma appends " in <location>"; the file is already named by the caller.
    return re.sub(r"\s+in (?:line \d+ of )?(?:\S+)?$", "", text).strip() or type(error).__name__


def _unquoted_placeholders(doc: dict[str, Any]) -> None:
    """Turn ``{name: None}`` values inside ``detection`` back into the placeholder text ``'{name}'``."""
    detection = doc.get("detection")
    if not isinstance(detection, dict):
        return

    def fix(value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, inner),) = value.items()
            if inner is None and isinstance(key, str) and PLACEHOLDER.fullmatch("{" + key + "}"):
                return "{" + key + "}"
        if isinstance(value, list):
            return [fix(item) for item in value]
        return value

    def fix_selection(selection: Any) -> Any:
        if isinstance(selection, dict):
            return {key: fix(value) for key, value in selection.items()}
        if isinstance(selection, list):
            return [fix_selection(item) if isinstance(item, dict) else item for item in selection]
        return selection

    for name, selection in list(detection.items()):
        if name != "condition":
            detection[name] = fix_selection(selection)


def _rules_from(collection: SigmaCollection, documents: list[dict[str, Any]], source: str, origin: str) -> RuleSet:
    result = RuleSet()
    sigma_rules = [r for r in collection.rules if isinstance(r, SigmaRule)]
    correlations = [r for r in collection.rules if isinstance(r, SigmaCorrelationRule)]
    event_rules: dict[int, Rule] = {}
    for index, rule in enumerate(sigma_rules):
        product = (rule.logsource.product or "auth0").lower() if rule.logsource else "auth0"
        if product != "auth0":
            raise RuleError(f"{source} is a rule for {product!r} logs, not auth0")
        for condition in rule.detection.parsed_condition:
            condition.parse()  # raises on a malformed condition now, not at run time
        event_rules[id(rule)] = _event_rule(rule, source, origin, index)
    referenced: set[int] = set()
    for correlation in correlations:
        counted = []
        for reference in correlation.rules or []:
            target = reference.rule
            if not isinstance(target, SigmaRule) or id(target) not in event_rules:
                raise RuleError(f"{source}: correlation {correlation.title!r} counts a rule that is not in the file")
            counted.append(event_rules[id(target)])
            if not correlation.generate:
                referenced.add(id(target))
        rule = _correlation_rule(correlation, tuple(counted), source, origin)
        escalation = _escalation(correlation, sigma_rules, event_rules, source)
        if escalation is not None:
            referenced.add(id(escalation[0]))  # part of the correlation, never a rule of its own
            rule = replace(
                rule, escalation=escalation[1], placeholders=rule.placeholders | escalation[1].rule.placeholders
            )
        result.rules.append(rule)
    for rule in sigma_rules:
        if id(rule) not in referenced:
            result.rules.append(event_rules[id(rule)])
    return result


def _escalation(
    correlation: SigmaCorrelationRule, sigma_rules: list[SigmaRule], event_rules: dict[int, Rule], source: str
) -> tuple[SigmaRule, Escalation] | None:
    """The correlation's ``escalation:`` (see :class:`~authviz.detections.model.Escalation`), with
    the Sigma rule it names; ``None`` when it declares none."""
    spec = _custom(correlation, "escalation")
    if spec is None:
        return None
    title = correlation.title or correlation.name
    if not isinstance(spec, dict) or not spec.get("rule"):
        raise RuleError(f"{source}: the escalation of {title!r} needs rule, within and level")
    target = next((r for r in sigma_rules if spec["rule"] in (r.name, str(r.id))), None)
    if target is None:
        raise RuleError(f"{source}: the escalation of {title!r} names rule {spec['rule']!r}, which is not in the file")
    level = str(spec.get("level", "")).lower()
    if level not in LEVELS:
        raise RuleError(f"{source}: the escalation of {title!r} has level {level!r}; use one of {', '.join(LEVELS)}")
    try:
        within = timedelta(seconds=SigmaCorrelationTimespan(str(spec.get("within", ""))).seconds)
    except (SigmaError, ValueError):
        raise RuleError(
            f"{source}: the escalation of {title!r} has within {spec.get('within')!r}; write a timespan such as 1h"
        ) from None
    escalating = event_rules[id(target)]
    says = " ".join(str(spec.get("says") or escalating.title).split())
    return target, Escalation(rule=escalating, within=within, level=level, says=says)


def _custom(rule: Any, key: str) -> Any:
    return (rule.custom_attributes or {}).get(key)


def _lines(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(" ".join(str(item).split()) for item in value if item is not None)
    return (" ".join(str(value).split()),)


def _level(rule: Any, fallback: str = "medium") -> str:
    return rule.level.name.lower() if rule.level is not None else fallback


def _event_rule(rule: SigmaRule, source: str, origin: str, index: int) -> Rule:
    prevention = ()
    for key in _PREVENTION_KEYS:
        prevention = prevention or _lines(_custom(rule, key))
    rule_id = str(rule.id) if rule.id else (rule.name or f"{Path(source).stem}#{index}")
    return Rule(
        id=rule_id,
        title=rule.title or rule_id,
        level=_level(rule),
        description=" ".join((rule.description or "").split()),
        origin=origin,
        source=source,
        prevention=prevention,
        tags=tuple(str(t) for t in rule.tags or ()),
        status=rule.status.name.lower() if rule.status else None,
        falsepositives=_lines(rule.falsepositives),
        name=rule.name,
        detection=rule,
        placeholders=frozenset(_placeholders(rule)),
    )


def _correlation_rule(correlation: SigmaCorrelationRule, counted: tuple[Rule, ...], source: str, origin: str) -> Rule:
    first = counted[0]
    condition = correlation.condition
    op = condition.op.name.lower() if isinstance(condition.op, SigmaCorrelationConditionOperator) else str(condition.op)
    kind = correlation.type.name.lower()
    if kind not in ("event_count", "value_count", "temporal", "temporal_ordered"):
        raise RuleError(
            f"{source}: correlation type {kind!r} is not supported (event_count, value_count, temporal, "
            "temporal_ordered)"
        )
    threshold = float(condition.count)
    if kind == "temporal_ordered":
        # every rule, in order: Sigma's default condition (gte: the number of rules) and its spellings
        every = (op == "gte" and threshold in (1, len(counted))) or (op == "gt" and threshold == len(counted) - 1)
        if not every:
            raise RuleError(
                f"{source}: a temporal_ordered correlation fires when all of its {len(counted)} rules matched in "
                f"order; condition {op}: {condition.count:g} is not supported"
            )
        op, threshold = "gte", float(len(counted))
    field = condition.fieldref
    if isinstance(field, list):
        if len(field) != 1:
            raise RuleError(f"{source}: a value_count correlation counts exactly one field")
        field = field[0]
    if kind == "value_count" and not field:
        raise RuleError(f"{source}: a value_count correlation needs condition.field")
    spec = Correlation(
        type=kind,
        rules=counted,
        group_by=tuple(correlation.group_by or ()),
        timespan=timedelta(seconds=correlation.timespan.seconds),
        op=op,
        threshold=threshold,
        field=field if kind == "value_count" else None,
    )
    placeholders = frozenset().union(*(rule.placeholders for rule in counted))
    return Rule(
        id=str(correlation.id) if correlation.id else first.id,
        title=correlation.title or first.title,
        level=_level(correlation, first.level),
        description=" ".join((correlation.description or first.description or "").split()),
        origin=origin,
        source=source,
        prevention=first.prevention,
        tags=tuple(str(t) for t in correlation.tags or ()) or first.tags,
        status=first.status,
        falsepositives=first.falsepositives,
        name=correlation.name,
        correlation=spec,
        placeholders=placeholders,
    )


def _placeholders(rule: SigmaRule) -> Iterator[str]:
    for condition in rule.detection.parsed_condition:
        yield from _tree_placeholders(condition.parse())


def _tree_placeholders(node: Any) -> Iterator[str]:
    if isinstance(node, ConditionItem):
        for arg in node.args:
            yield from _tree_placeholders(arg)
    elif isinstance(node, (ConditionFieldEqualsValueExpression, ConditionValueExpression)):
        value = node.value
        if isinstance(value, SigmaString) and not isinstance(value, SigmaRegularExpression):
            yield from PLACEHOLDER.findall(plain_text(value))


def plain_text(value: SigmaString) -> str:
    """The literal characters of a Sigma string (wildcards dropped): where placeholders are sought."""
    return "".join(part for part in value.s if isinstance(part, str))
