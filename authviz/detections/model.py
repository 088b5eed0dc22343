"""The rule model: what a loaded detection rule is, independent of any engine.

A :class:`Rule` is one thing that produces findings: a Sigma rule run on its own, a Sigma
correlation over the rules it names, or a SQL rule (for what Sigma cannot say, such as impossible
travel). Its metadata (``id``, ``title``, ``level``, ``description``, ``prevention``) is what a
person receiving an alert sees. Invariants:

- ``rule.detection`` is set for a Sigma event rule, ``rule.correlation`` for a correlation (its
  ``rules`` are the event rules it counts, each with a ``detection``), ``rule.sql`` for a SQL rule;
  exactly one of the three.
- ``rule.placeholders`` names every ``{placeholder}`` the rule's values use (its counted rules'
  included); a rule with one unset is never run with the literal text.
- ``rule.escalation`` (correlations only, optional) names an event rule whose matches in a
  finding's group, after its start and at most ``within`` after its end, make it worse
  (``escalation.level``): brute force followed by a successful login of the attacked user.
- Rules are immutable and hashable by identity; the live engine may keep state keyed by ``rule.id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

#: Sigma levels, least to most severe.
LEVELS: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")
#: Where a rule came from: shipped detections, Auth0's catalog, or files a person gave.
ORIGINS: tuple[str, ...] = ("builtin", "catalog", "user")
#: Correlation comparisons, as Sigma spells them.
OPERATORS: tuple[str, ...] = ("gt", "gte", "lt", "lte", "eq", "neq")


@dataclass(frozen=True, slots=True, eq=False)
class Correlation:
    """A Sigma correlation: ``type`` over the matches of ``rules``, per ``group_by``, per ``timespan``.

    - ``event_count``: how many matching events in the group and window;
    - ``value_count``: how many distinct values of ``field`` among them;
    - ``temporal``: how many of ``rules`` matched at least once (fires when all of them did, unless
      the condition says otherwise);
    - ``temporal_ordered``: all of ``rules`` matched, each strictly later than the one before it
      (in the order of ``rules``), within ``timespan``; ``op`` is ``gte`` and ``threshold`` the
      number of rules.
    Windows are fixed (tumbling) windows of ``timespan`` aligned on the Unix epoch, the same in every
    engine. The finding fires when ``<measure> <op> <threshold>``.
    """

    type: Literal["event_count", "value_count", "temporal", "temporal_ordered"]
    rules: tuple["Rule", ...]
    group_by: tuple[str, ...]
    timespan: timedelta
    op: str
    threshold: float
    field: str | None = None

    def describe(self) -> str:
        what = {
            "event_count": "events",
            "value_count": f"distinct {self.field}",
            "temporal": "of the rules",
            "temporal_ordered": "of the rules, in order,",
        }[self.type]
        by = ", ".join(self.group_by) or "everything"
        symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=", "neq": "!="}[self.op]
        return f"{what} {symbol} {self.threshold:g} per {by} in {_span(self.timespan)}"


@dataclass(frozen=True, slots=True, eq=False)
class Escalation:
    """What makes a correlation's finding worse: a match of ``rule`` (a Sigma event rule) in the
    finding's group (the same group-by values), after the finding's first event and at most
    ``within`` after its last. The finding then has ``level`` (when higher than the rule's) and
    says ``then <n> <says>``. Declared in the correlation's document::

        escalation: {rule: brute_force_success, within: 1h, level: medium, says: successful login}
    """

    rule: "Rule"
    within: timedelta
    level: str
    says: str


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """One loaded rule. ``detection`` is pySigma's :class:`sigma.rule.SigmaRule` (parsed detection)."""

    id: str
    title: str
    level: str
    description: str
    origin: str
    source: str
    prevention: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    status: str | None = None
    falsepositives: tuple[str, ...] = ()
    name: str | None = None
    detection: Any = None
    correlation: Correlation | None = None
    sql: str | None = None
    placeholders: frozenset[str] = field(default_factory=frozenset)
    escalation: Escalation | None = None

    @property
    def kind(self) -> str:
        """``"sigma"``, ``"correlation"`` or ``"sql"``."""
        if self.correlation is not None:
            return "correlation"
        return "sql" if self.sql is not None else "sigma"

    @property
    def what_to_do(self) -> str:
        """The prevention advice as one paragraph (empty when the rule gives none)."""
        return " ".join(self.prevention)

    def missing(self, settings: "TenantSettings | None") -> tuple[str, ...]:
        """The placeholders ``settings`` leaves unset, sorted (empty: the rule can run)."""
        known = settings.placeholders if settings is not None else {}
        return tuple(sorted(name for name in self.placeholders if name not in known))

    def __repr__(self) -> str:
        return f"Rule({self.id!r}, {self.title!r}, {self.kind})"


@dataclass(frozen=True, slots=True)
class TenantSettings:
    """Per-tenant values for rule placeholders: ``{your-tenant-url}`` -> ``["acme.auth0.com"]``.

    A placeholder may stand for several values (``{trusted-client_id-1}`` -> two client ids): the
    rule then matches any of them.
    """

    placeholders: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str | None = None


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """A rule file that could not be used, with one sentence saying why."""

    source: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(slots=True)
class RuleSet:
    """Rules loaded from files and packages, and the files that could not be used."""

    rules: list[Rule] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)

    def __iter__(self):
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def extend(self, other: "RuleSet") -> None:
        self.rules.extend(other.rules)
        self.problems.extend(other.problems)

    def runnable(self, settings: TenantSettings | None) -> list[Rule]:
        """The rules whose placeholders ``settings`` fills."""
        return [rule for rule in self.rules if not rule.missing(settings)]

    def needing_configuration(self, settings: TenantSettings | None) -> list[tuple[Rule, tuple[str, ...]]]:
        """``(rule, unset placeholders)`` for each rule that cannot run yet."""
        return [(rule, rule.missing(settings)) for rule in self.rules if rule.missing(settings)]

    def by_id(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
