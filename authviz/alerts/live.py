"""Live evaluation of detection rules: the same rules as ``authviz detect``, one batch at a time.

:class:`LiveDetector` takes the rule model of :mod:`authviz.detections` (Sigma event rules, Sigma
correlations, SQL rules) and evaluates it incrementally, in Python, on the caller's thread:

- Each event is tested against the rules that could match it: every rule's condition is compiled
  once (:func:`authviz.detections.match.compile_condition`, the same semantics as the SQL the batch
  engine runs) and indexed by the ``type`` or ``category`` it requires, so an event costs a few
  dictionary look-ups and the conditions of its candidate rules, whatever the number of rules.
- Correlations keep their per-group windows in
  :class:`~authviz.alerts.correlate.CorrelationState` (O(log n) per event, no work that grows
  with the window), so a correlation fires on the event that makes it hold.
- A correlation's escalation (``rule.escalation``: brute force followed by a successful login of
  the attacked user) is evaluated like its counted rules; the recent escalating events of each
  group are kept (bounded) so one that comes during the attack counts when the attack is found.
- Impossible travel (the built-in SQL rule) runs incrementally
  (:class:`~authviz.alerts.travel.TravelState`). Other SQL rules (what Sigma cannot say) run over
  a bounded DuckDB table of recent events (schema columns, no raw record), at most every
  ``sql_interval`` seconds (of wall or event time, whichever passes first): their alerts may come
  up to that much later than the event that completes them.
- Findings become :class:`~authviz.alerts.model.Alert` objects per incident: an incident is a
  (rule, group) whose evidence keeps coming within ``incident_gap``. It alerts once when it
  starts, then again (``update=True``) only when its evidence has at least doubled since the last
  alert, its severity rose, or more escalating events came (an ongoing attack gives O(log n)
  alerts), and the alert reads differently from the last one: an identical line is never raised
  twice.

Time is event time throughout (the events' ``timestamp``), so replaying a day of history takes
seconds and gives the alerts it would have given live.

Bounded memory: correlation windows (``max_groups`` per correlation), incidents (``max_groups``),
evidence ids per incident (``max_evidence``), remembered event ids for de-duplication
(``max_seen``), escalating events (``max_groups`` groups per rule), travel state (``max_groups``
users), and for other SQL rules the recent events (``horizon``, at most ``max_events``). Events
whose window has closed (older than the newest event minus ``lateness`` and the window) are
counted in :attr:`LiveDetector.late` and not evaluated by correlations.

Not thread-safe: feed it from one thread (``authviz tail``'s loop, a notebook's pump).
"""

from __future__ import annotations

from collections import OrderedDict
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pandas as pd
import pyarrow as pa

from authviz.alerts.correlate import CorrelationState, Crossing
from authviz.alerts.model import Alert
from authviz.alerts.travel import TravelState
from authviz.auth0.model import unwrap
from authviz.auth0.parse import dumps_text
from authviz.auth0.schema import COLUMNS
from authviz.detections import (
    Rule,
    RuleError,
    TenantSettings,
    load_rules,
    packaged_rules,
    parse_field,
    rule_tree,
)
from authviz.detections.compile import Field, Node
from authviz.detections.match import EventView, Predicate, compile_condition, required_values
from authviz.detections.sqlrules import IMPOSSIBLE_TRAVEL_SQL

__all__ = ["LiveDetector", "HUNTING_RULES", "LIVE_FORM_OF", "VOLUME_RULES", "live_rules", "SEVERITY_OF_LEVEL"]

#: Sigma level -> alert severity (the words the feeds and the dashboard colour).
SEVERITY_OF_LEVEL = {"informational": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}
_SEVERITY_ORDER = ("info", "low", "medium", "high", "critical")

#: Catalog rules that are hunting queries rather than alerts, and why: they select ordinary
#: activity (every successful login, every sign-up) with a placeholder threshold of 1, leaving the
#: real thresholds to a per-tenant Splunk query. ``authviz detect`` runs them; live alerts do not
#: by default (pass them in ``rules=`` to alert on them anyway).
HUNTING_RULES: dict[str, str] = {
    "0c71d42b-d918-4698-a849-d5d5ee5b208b": "selects every successful login; the catalog joins it with a TLS "
    "fingerprint feed authviz does not have",
    "3a9be414-716e-11f0-8153-723487b9527c": "counts every sign-up per IP with a threshold of 1 (the real thresholds "
    "are per-tenant values in the catalog's Splunk query)",
    "6a19be71-ade9-4bdd-9d24-6f93800d8328": "fires on every token exchange (at least 1 user agent per user and "
    "client over 30 days)",
    "6ef35d2c-ae8f-4b42-91b8-67915c7e41ff": "fires on every new account (at most 1 event type per user over 30 days)",
    "e604e40e-9db6-449d-854d-2b5323644fd7": "fires on two failed logins from one IP in an hour, ordinary at any "
    "tenant with traffic",
    # selections whose aggregation is in the catalog's Splunk query: live alerts use that
    # aggregation, written as a correlation in authviz/alerts/rules/ (LIVE_FORM_OF says which)
    "e675f02e-716c-11f0-8602-723487b9527c": "selects every MFA push notification; the built-in MFA push fatigue "
    "rule counts them per user",
    "74a1ddea-7172-11f0-ace0-723487b9527c": "selects every MFA text message; live alerts count them per user "
    "(sms_bombing)",
    "25b35d32-716b-11f0-a54e-723487b9527c": "selects every SMS enrollment; live alerts count users per phone "
    "number (shared_phone_enrollment)",
    "bad8fcc0-716e-11f0-b852-723487b9527c": "selects every Guardian enrollment; live alerts count users per device "
    "(shared_guardian_enrollment)",
    "a7b2e75c-7171-11f0-aa28-723487b9527c": "selects the same reused-refresh-token events as the built-in refresh "
    "token reuse rule, which alerts on each of them (high)",
}

#: catalog rule id -> the live rule (its ``name``) that alerts on what the catalog rule's query aggregates
LIVE_FORM_OF: dict[str, str] = {
    "e675f02e-716c-11f0-8602-723487b9527c": "mfa_push_fatigue",
    "74a1ddea-7172-11f0-ace0-723487b9527c": "sms_bombing",
    "25b35d32-716b-11f0-a54e-723487b9527c": "shared_phone_enrollment",
    "bad8fcc0-716e-11f0-b852-723487b9527c": "shared_guardian_enrollment",
    "a7b2e75c-7171-11f0-aa28-723487b9527c": "refresh_token_reuse",
}


#: Built-in rules that count a whole tenant's ordinary activity against a fixed threshold, and why
#: live alerts leave them to ``authviz detect``: at a tenant with live traffic (the demo's three
#: events a second) the threshold is ordinary within minutes. The live rules in
#: ``authviz/alerts/rules/`` catch the same attacks by their source instead.
VOLUME_RULES: dict[str, str] = {
    "signup_fraud": "twenty sign-ups an hour on the whole tenant: a tenant with 3 events a second has ~370 an "
    "hour; live alerts use 'Sign-up fraud from one IP' instead",
}

#: Rules shipped for live alerting (loaded with the packaged ones by :func:`live_rules`).
LIVE_RULES_DIR = Path(__file__).parent / "rules"


def live_rules(settings: TenantSettings | None = None) -> list[Rule]:
    """The rules live alerts use by default: every packaged rule (built-in and Auth0 catalog) that
    ``settings`` can run, except :data:`HUNTING_RULES` and :data:`VOLUME_RULES`, plus the rules in
    :data:`LIVE_RULES_DIR`."""
    rules = packaged_rules()
    rules.extend(load_rules([LIVE_RULES_DIR], origin="builtin"))
    return [
        rule
        for rule in rules.runnable(settings)
        if rule.id not in HUNTING_RULES and (rule.name or "") not in VOLUME_RULES
    ]


_STRING_COLUMNS = [
    name for name, dtype in COLUMNS.items() if name not in ("timestamp", "latitude", "longitude", "is_mobile")
]
#: what an event rule's incident is keyed by: the first of these that is set
_KEY_COLUMNS = ("user_name", "email", "user_id", "ip", "tenant")


def _event_key(view: EventView) -> str:
    for name in _KEY_COLUMNS:
        value = view.column(name)
        if value not in (None, ""):
            return value if isinstance(value, str) else str(value)
    return "(all)"


def _scalar_field(name: str) -> Field:
    """A group-by or counted field; an array field (``{}``) cannot be one."""
    field = parse_field(name)
    if field.is_list:
        raise RuleError("a correlation cannot group by or count an array field ({})")
    return field


def _time_ns(value: Any) -> int | None:
    """An event's time in ns since the epoch, at microsecond precision (the batch engine's
    TIMESTAMPTZ); naive times are UTC; ``None`` when missing."""
    if value is None:
        return None
    if isinstance(value, datetime) and not isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if stamp is pd.NaT:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(UTC)
    return stamp.value // 1000 * 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _batch_table(events: Sequence[Any]) -> pa.Table:
    """The events (``AuthEvent`` objects or schema mappings) as an Arrow table with the schema
    columns, ``raw`` as JSON text. Column by column: no Python object per cell beyond the value."""
    if all(not isinstance(e, Mapping) for e in events):
        column = lambda name: [getattr(e, name, None) for e in events]  # noqa: E731
    else:
        column = lambda name: [e.get(name) if isinstance(e, Mapping) else getattr(e, name, None) for e in events]  # noqa: E731
    arrays = {}
    for name in COLUMNS:
        values = column(name)
        if name == "timestamp":
            # microseconds, as the batch engine's TIMESTAMPTZ (its SQL rules use epoch_ms on it)
            if not all(isinstance(v, datetime) and v.tzinfo is not None for v in values):
                values = [None if v is None or v is pd.NaT else pd.Timestamp(v) for v in values]
                values = [v if v is None or v.tzinfo is not None else v.tz_localize(UTC) for v in values]
            arrays[name] = pa.array(values, type=pa.timestamp("us", tz="UTC"))
        elif name in ("latitude", "longitude"):
            arrays[name] = pa.array([None if v is None or v != v else float(v) for v in values], type=pa.float64())
        elif name == "is_mobile":
            arrays[name] = pa.array([None if v is None or v is pd.NA else bool(v) for v in values], type=pa.bool_())
        elif name == "raw":
            # the record as received (rules read JSON paths from it by shape, as the batch engine
            # does) and ``data``, the Auth0 record alone (authviz.detections.engine._DATA_FROM_RAW)
            sources = column("source")
            arrays["raw"] = pa.array(
                [v if v is None or isinstance(v, str) else _json_text(v) for v in values], type=pa.string()
            )
            arrays["data"] = pa.array(
                [_data_text(v, str(src) if src is not None else None) for v, src in zip(values, sources)],
                type=pa.string(),
            )
        else:
            arrays[name] = pa.array(
                [v if v is None or isinstance(v, str) else (None if v is pd.NA else str(v)) for v in values],
                type=pa.string(),
            )
    return pa.table(arrays)


def _data_text(raw: Any, source: str | None) -> str | None:
    """``data`` for one event: ``raw.data`` for Log Streaming, ``raw.detail.data`` for EventBridge,
    the record itself otherwise (the batch engine's rule, on the parsed object: no JSON re-parse)."""
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
    plain = unwrap(raw) if not isinstance(raw, dict) else raw
    if source == "log_stream":
        plain = plain.get("data") if isinstance(plain, Mapping) else None
    elif source == "eventbridge":
        detail = plain.get("detail") if isinstance(plain, Mapping) else None
        plain = detail.get("data") if isinstance(detail, Mapping) else None
    return None if plain is None else _json_text(plain)


def _json_text(value: Any) -> str:
    try:
        plain = value if isinstance(value, dict) else unwrap(value)  # unwrap copies anything but a view
        return orjson.dumps(plain, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # integers beyond 64 bits, unusual objects: the slow, general path
        return dumps_text(value)


def _rows(events: pd.DataFrame | Iterable[Any]) -> list[Any]:
    if isinstance(events, pd.DataFrame):
        return events.to_dict("records")
    out = list(events)
    for event in out:
        if not hasattr(event, "timestamp") and not isinstance(event, Mapping):
            raise TypeError(
                f"LiveDetector.feed takes Auth0 events (AuthEvent, schema rows or a DataFrame), "
                f"not {type(event).__name__}"
            )
    return out


#: how a counted field reads in a summary ("14 users")
_FIELD_WORDS = {
    "user_key": "users",
    "user_or_ip": "users or IPs",
    "ip": "IPs",
    "data.ip": "IPs",
    "user_agent": "user agents",
    "data.user_agent": "user agents",
    "country_code": "countries",
    "user_id": "users",
    "data.user_id": "users",
    "user_name": "users",
    "data.user_name": "users",
}

#: event ids remembered per incident to count evidence exactly
_MAX_IDS = 10_000
#: escalating events remembered per group (the most recent)
_MAX_ESCALATING = 100


def _duration(ns: int) -> str:
    seconds = int(ns // 1_000_000_000)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def _ts(ns: int) -> datetime:
    return pd.Timestamp(ns, tz=UTC).to_pydatetime()


@dataclass
class _Incident:
    start_ns: int
    end_ns: int
    count: int
    alerted_count: int
    evidence: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    severity: str = "info"
    last_message: str = ""
    #: end of the attack's own evidence (escalating events come at most ``within`` after it)
    attack_end_ns: int = 0
    #: escalating events counted (ids, for exactness) and how many had been alerted on
    escalated: set[str] = field(default_factory=set)
    alerted_escalations: int = 0
    #: the correlation's measure at its last crossing (distinct values, rules matched)
    last_measure: int = 0


#: the "counted rule" index of an escalating rule's condition in a plan
_ESCALATE = -1


@dataclass
class _Plan:
    """How one rule is evaluated: its conditions, group-by and counted fields, state."""

    rule: Rule
    group_fields: list[Field] = field(default_factory=list)
    value_field: Field | None = None
    state: CorrelationState | None = None
    #: escalations: group -> recent escalating events [(t_ns, event_id)] (least recently seen first)
    escalating: OrderedDict[tuple, list[tuple[int, str]]] | None = None

    def group_of(self, view: EventView) -> tuple:
        return tuple([view.text(f) for f in self.group_fields])


@dataclass(frozen=True, slots=True)
class _Condition:
    """One compiled condition: counted rule ``k`` of ``plan`` (:data:`_ESCALATE`: its escalation)."""

    order: int
    plan: _Plan
    k: int
    test: Predicate


class LiveDetector:
    """Incremental evaluation of ``rules`` (default: :func:`live_rules`) on a live stream.

    ``settings`` fills rule placeholders (rules still needing configuration are listed in
    :attr:`needs_configuration` and not run); ``only`` keeps the rules with these ids or names;
    ``incident_gap``: evidence further apart than this starts a new incident. See the module
    docstring for the memory bounds.
    """

    def __init__(
        self,
        rules: Iterable[Rule] | None = None,
        *,
        settings: TenantSettings | None = None,
        only: Iterable[str] | None = None,
        incident_gap: timedelta = timedelta(hours=1),
        lateness: timedelta = timedelta(minutes=5),
        horizon: timedelta = timedelta(hours=24),
        max_events: int = 50_000,
        max_groups: int = 100_000,
        max_evidence: int = 100,
        max_seen: int = 200_000,
        threads: int = 1,
        sql_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_events < 1 or max_groups < 1 or max_evidence < 1:
            raise ValueError("max_events, max_groups and max_evidence must be >= 1")
        chosen = list(rules) if rules is not None else live_rules(settings)
        if only is not None:
            wanted = set(only)
            known = {r.id for r in chosen} | {r.name for r in chosen if r.name}
            unknown = sorted(wanted - known)
            if unknown:
                raise ValueError(f"unknown rules {unknown}; known: {', '.join(sorted(known))}")
            chosen = [r for r in chosen if r.id in wanted or r.name in wanted]
        self.settings = settings
        self.incident_gap_ns = int(pd.Timedelta(incident_gap).value)
        self.lateness_ns = int(pd.Timedelta(lateness).value)
        self.horizon_ns = int(pd.Timedelta(horizon).value)
        self.max_events = int(max_events)
        self.max_groups = int(max_groups)
        self.max_evidence = int(max_evidence)
        self.max_seen = int(max_seen)
        #: rules left out because placeholders are unset: (rule, missing names)
        self.needs_configuration: list[tuple[Rule, tuple[str, ...]]] = []
        #: rules that could not be compiled or run: (rule, one sentence)
        self.failed: list[tuple[Rule, str]] = []
        self._threads = int(threads)
        self._con: duckdb.DuckDBPyConnection | None = None  # only for SQL rules without a live form
        self._incidents: OrderedDict[tuple[str, tuple], _Incident] = OrderedDict()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._plans: list[_Plan] = []
        self._sql_rules: list[Rule] = []
        self._recent_ready = False
        #: SQL rules (whole-history queries) run at most every ``sql_interval`` seconds of ``clock``
        self.sql_interval = float(sql_interval)
        self._clock = clock
        self._sql_last = float("-inf")
        self._sql_watermark_ns = -(2**62)
        self._sql_pending: set[str] = set()
        #: impossible travel, incrementally (None: not among the rules)
        self._travel_rule: Rule | None = None
        self._travel = TravelState(max_users=self.max_groups, lateness_ns=self.lateness_ns)
        self._conditions: list[_Condition] = []
        #: conditions by the lower-cased type / category they require (None: a missing one)
        self._by_type: dict[str | None, list[_Condition]] = {}
        self._by_category: dict[str | None, list[_Condition]] = {}
        self._unindexed: list[_Condition] = []
        self._candidates: dict[tuple[str | None, str | None], tuple[_Condition, ...]] = {}
        self.watermark_ns: int | None = None
        #: events fed, duplicates ignored, batches evaluated
        self.fed = 0
        self.duplicates = 0
        self.batches = 0
        self._prepare(chosen)

    # ------------------------------------------------------------------ compiling
    def _prepare(self, rules: list[Rule]) -> None:
        for rule in rules:
            missing = rule.missing(self.settings)
            if missing:
                self.needs_configuration.append((rule, missing))
                continue
            if rule.kind == "sql":
                if rule.sql == IMPOSSIBLE_TRAVEL_SQL and self._travel_rule is None:
                    self._travel_rule = rule
                else:
                    self._sql_rules.append(rule)
                continue
            try:
                plan, tests = self._plan(rule)
            except (RuleError, ValueError) as error:
                first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                self.failed.append((rule, f"rule {rule.id} ({rule.source}) cannot run live: {first}"))
                continue  # compiles here or fails here, alone: one bad rule never stops the others
            self._plans.append(plan)
            for k, tree, test in tests:
                condition = _Condition(len(self._conditions), plan, k, test)
                self._conditions.append(condition)
                types = required_values(tree, "type")
                categories = required_values(tree, "category") if types is None else None
                if types is not None:
                    for value in types:
                        self._by_type.setdefault(value, []).append(condition)
                elif categories is not None:
                    for value in categories:
                        self._by_category.setdefault(value, []).append(condition)
                else:
                    self._unindexed.append(condition)
        if self._sql_rules:
            self._connect()

    def _plan(self, rule: Rule) -> tuple[_Plan, list[tuple[int, Node, Predicate]]]:
        """How ``rule`` is evaluated, and its conditions ``(k, tree, compiled)``; raises
        :class:`RuleError` when it cannot be."""
        if rule.correlation is None:
            tree = rule_tree(rule, self.settings)
            return _Plan(rule), [(0, tree, compile_condition(tree))]
        spec = rule.correlation
        plan = _Plan(rule)
        tests = []
        for k, counted in enumerate(spec.rules):
            tree = rule_tree(counted, self.settings)
            tests.append((k, tree, compile_condition(tree)))
        for name in spec.group_by:
            plan.group_fields.append(_scalar_field(name))
        if spec.field:
            plan.value_field = _scalar_field(spec.field)
        plan.state = CorrelationState(spec, max_groups=self.max_groups, lateness_ns=self.lateness_ns)
        if rule.escalation is not None:
            tree = rule_tree(rule.escalation.rule, self.settings)
            tests.append((_ESCALATE, tree, compile_condition(tree)))
            plan.escalating = OrderedDict()
        return plan, tests

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = duckdb.connect(":memory:")
            # batches are small and evaluated on the caller's thread: one DuckDB thread is fastest
            self._con.execute(f"SET threads = {self._threads}")
        return self._con

    def _candidates_for(self, view: EventView) -> tuple[_Condition, ...]:
        """The conditions ``view`` may satisfy, in rule order (a cache per (type, category))."""
        type_, category = view.column("type"), view.column("category")
        key = (
            type_ if type_ is None or isinstance(type_, str) else str(type_),
            category if category is None or isinstance(category, str) else str(category),
        )
        found = self._candidates.get(key)
        if found is None:
            found = list(self._unindexed)
            found += self._by_type.get(key[0].lower() if key[0] is not None else None, ())
            found += self._by_category.get(key[1].lower() if key[1] is not None else None, ())
            found = tuple(sorted(found, key=lambda c: c.order))
            if len(self._candidates) < 10_000:  # bounded: types and categories are few, but input is input
                self._candidates[key] = found
        return found

    @property
    def rules(self) -> list[Rule]:
        """The rules being evaluated."""
        travel = [self._travel_rule] if self._travel_rule is not None else []
        return [p.rule for p in self._plans] + travel + list(self._sql_rules)

    # ------------------------------------------------------------------ feeding
    def feed(self, events: pd.DataFrame | Iterable[Any]) -> list[Alert]:
        """Evaluate new events (any order; repeats of an ``event_id`` ignored); the alerts they raise."""
        rows = self._fresh(_rows(events))
        if not rows:
            return []
        self.fed += len(rows)
        self.batches += 1
        timed = []
        for row in rows:
            t = _time_ns(row.get("timestamp") if type(row) is dict or isinstance(row, Mapping) else row.timestamp)
            if t is not None:
                timed.append((t, row))
        timed.sort(key=lambda item: item[0])  # stable: arrival order within one instant
        alerts: list[Alert] = []
        for t, row in timed:
            alerts += self._evaluate(t, row)
        if timed:
            latest = timed[-1][0]
            self.watermark_ns = latest if self.watermark_ns is None else max(self.watermark_ns, latest)
            for plan in self._plans:
                if plan.state is not None:
                    for crossing in plan.state.advance(self.watermark_ns):
                        alert = self._on_crossing(plan, crossing)
                        if alert is not None:
                            alerts.append(alert)
            if self._sql_rules:
                alerts += self._feed_sql_rules(rows)
            self._expire()
        return alerts

    def _feed_sql_rules(self, rows: list[Any]) -> list[Alert]:
        table = _batch_table(rows)
        self._keep_recent(table)
        self._sql_pending.update(table.column("event_id").to_pylist())
        # every sql_interval of wall time or of event time, whichever comes first: a replay
        # faster than real time still sees them fire within sql_interval of event time, and
        # waiting events never fall out of the horizon unevaluated
        if (
            self._clock() - self._sql_last >= self.sql_interval
            or self.watermark_ns - self._sql_watermark_ns >= self.sql_interval * 1e9
        ):
            alerts = self._run_sql_rules(self._sql_pending)
            self._sql_pending = set()
            self._sql_last = self._clock()
            self._sql_watermark_ns = self.watermark_ns
            return alerts
        return []

    def flush(self) -> list[Alert]:
        """Run what waits for its interval now (the SQL rules over the events since their last run);
        call it when a stream ends or pauses."""
        if not self._sql_rules or not self._sql_pending or self.watermark_ns is None:
            return []
        alerts = self._run_sql_rules(self._sql_pending)
        self._sql_pending = set()
        self._sql_last = self._clock()
        return alerts

    def _fresh(self, rows: list[Any]) -> list[Any]:
        out = []
        for row in rows:
            event_id = row.get("event_id") if type(row) is dict else getattr(row, "event_id", None)
            if event_id is None and isinstance(row, Mapping):
                event_id = row.get("event_id")
            if event_id:
                if event_id in self._seen:
                    self.duplicates += 1
                    continue
                self._seen[event_id] = None
                if len(self._seen) > self.max_seen:
                    self._seen.popitem(last=False)
            out.append(row)
        return out

    def _evaluate(self, t: int, row: Any) -> list[Alert]:
        """One event against every rule it may match, in rule order."""
        view = EventView(row)
        event_id = view.column("event_id")
        alerts = []
        groups: dict[int, tuple] = {}  # per plan: its group-by values for this event
        for condition in self._candidates_for(view):
            if condition.test(view) is not True:
                continue
            plan = condition.plan
            if plan.state is None:
                alert = self._on_event(plan.rule, (_event_key(view),), t, event_id)
            else:
                group = groups.get(id(plan))
                if group is None:
                    group = groups[id(plan)] = plan.group_of(view)
                if any(v is None for v in group):
                    continue  # not counted, as in the batch engine
                if condition.k == _ESCALATE:
                    alert = self._on_escalating(plan, group, t, event_id)
                else:
                    if plan.state.type in ("temporal", "temporal_ordered"):
                        value = condition.k
                    else:
                        value = view.text(plan.value_field) if plan.value_field is not None else None
                    crossing = plan.state.add(group, t, event_id, value)
                    alert = self._on_crossing(plan, crossing) if crossing is not None else None
            if alert is not None:
                alerts.append(alert)
        if self._travel_rule is not None:
            alerts += self._on_login(view, t, event_id)
        return alerts

    def _on_login(self, view: EventView, t: int, event_id: str | None) -> list[Alert]:
        """Impossible travel: the hops a successful login with a place makes."""
        if view.column("category") != "login_success":
            return []
        latitude, longitude = view.column("latitude"), view.column("longitude")
        user = view.column("user_key")
        if latitude is None or longitude is None or user is None:
            return []
        alerts = []
        for hop in self._travel.add(str(user), t, str(event_id), latitude, longitude):
            rule = self._travel_rule
            known, ident = self._incident(rule, (hop.user,), hop.first_ns, self.incident_gap_ns)
            if known is None:
                known = self._new_incident(ident, hop.first_ns, hop.last_ns)
            known.start_ns = min(known.start_ns, hop.first_ns)
            known.end_ns = max(known.end_ns, hop.last_ns)
            self._take(known, hop.event_ids)
            alert = self._maybe_alert(rule, (hop.user,), known, f"{known.count} events")
            if alert is not None:
                alerts.append(alert)
        return alerts

    # ------------------------------------------------------------------ incidents
    def _incident(self, rule: Rule, group: tuple, t_ns: int, gap_ns: int) -> tuple[_Incident | None, tuple[str, tuple]]:
        ident = (rule.id, group)
        known = self._incidents.get(ident)
        if known is not None and t_ns > known.end_ns + gap_ns:
            known = None  # a new incident for the same group
        elif known is not None:
            self._incidents.move_to_end(ident)  # least recently touched first: what _expire drops
        return known, ident

    def _new_incident(self, ident: tuple[str, tuple], first_ns: int, last_ns: int) -> _Incident:
        incident = _Incident(first_ns, last_ns, 0, 0)
        self._incidents[ident] = incident
        self._incidents.move_to_end(ident)
        while len(self._incidents) > self.max_groups:
            self._incidents.popitem(last=False)
        return incident

    def _take(self, incident: _Incident, event_ids: Iterable[str]) -> None:
        """Count the incident's new evidence (ids remembered up to _MAX_IDS; beyond, each id counts)."""
        for event_id in event_ids:
            if event_id in incident.ids:
                continue
            incident.count += 1
            if len(incident.ids) < _MAX_IDS:
                incident.ids.add(event_id)
            if len(incident.evidence) < self.max_evidence:
                incident.evidence.append(event_id)

    def _on_event(self, rule: Rule, group: tuple, t_ns: int, event_id: str | None) -> Alert | None:
        known, ident = self._incident(rule, group, t_ns, self.incident_gap_ns)
        if known is None:
            known = self._new_incident(ident, t_ns, t_ns)
        known.start_ns = min(known.start_ns, t_ns)
        known.end_ns = max(known.end_ns, t_ns)
        if event_id is None:
            known.count += 1
        else:
            self._take(known, (event_id,))
        return self._maybe_alert(rule, group, known, f"{known.count} matching events" if known.count > 1 else "")

    def _on_crossing(self, plan: _Plan, crossing: Crossing) -> Alert | None:
        rule = plan.rule
        # the batch engine merges triggering windows while consecutive events are at most a timespan apart
        gap = max(plan.state.span_ns, 0)
        known, ident = self._incident(rule, crossing.group, crossing.first_ns, gap)
        if known is None:
            known = self._new_incident(ident, crossing.first_ns, crossing.last_ns)
        known.start_ns = min(known.start_ns, crossing.first_ns)
        known.end_ns = max(known.end_ns, crossing.last_ns)
        known.attack_end_ns = max(known.attack_end_ns, crossing.last_ns)
        self._take(known, crossing.event_ids)
        if plan.escalating is not None:
            # escalating events that came during the attack (before it was found) count now
            within = int(rule.escalation.within.total_seconds() * 1e9)
            for t, event_id in plan.escalating.get(crossing.group, ()):
                if known.start_ns < t <= known.attack_end_ns + within:
                    self._escalate(known, t, event_id)
        return self._maybe_alert(rule, crossing.group, known, self._measure(plan, crossing.measure, known))

    def _on_escalating(self, plan: _Plan, group: tuple, t: int, event_id: str | None) -> Alert | None:
        """An event of the rule's escalation: remembered for an attack found later, and counted
        now if an attack on ``group`` is under way (from its start to ``within`` after its end)."""
        if event_id is None:
            return None
        known = self._incidents.get((plan.rule.id, group))
        if known is None and not plan.state.counting(group):
            return None  # no attack on this group under way or to come: nothing to remember
        memory = plan.escalating
        recent = memory.get(group)
        if recent is None:
            recent = memory[group] = []
            while len(memory) > self.max_groups:
                memory.popitem(last=False)
        else:
            memory.move_to_end(group)
        # an attack found later starts at most a timespan (and the lateness) before its last event
        horizon = t - plan.state.span_ns - self.lateness_ns
        recent[:] = [item for item in recent if item[0] >= horizon][-(_MAX_ESCALATING - 1) :]
        recent.append((t, event_id))
        within = int(plan.rule.escalation.within.total_seconds() * 1e9)
        if known is None or known.alerted_count == 0 or not known.start_ns < t <= known.attack_end_ns + within:
            return None
        self._escalate(known, t, event_id)
        return self._maybe_alert(plan.rule, group, known, self._measure(plan, None, known))

    def _escalate(self, incident: _Incident, t: int, event_id: str) -> None:
        if event_id in incident.escalated or len(incident.escalated) >= _MAX_IDS:
            return
        incident.escalated.add(event_id)
        incident.end_ns = max(incident.end_ns, t)
        self._take(incident, (event_id,))

    def _measure(self, plan: _Plan, measure: int | None, incident: _Incident) -> str:
        """What a correlation's alert says it counted: "<n> events", with the counted measure and
        the escalating events."""
        spec = plan.rule.correlation
        if spec.type == "value_count":
            if measure is not None:
                incident.last_measure = measure
            words = _FIELD_WORDS.get(spec.field or "", "distinct " + str(spec.field))
            text = f"{incident.last_measure} {words}, {incident.count} events"
        elif spec.type in ("temporal", "temporal_ordered"):
            if measure is not None:
                incident.last_measure = measure
            in_order = " in order" if spec.type == "temporal_ordered" else ""
            text = f"{incident.last_measure} of {len(spec.rules)} rules{in_order}, {incident.count} events"
        else:
            text = f"{incident.count} events"
        if incident.escalated:
            n = len(incident.escalated)
            says = plan.rule.escalation.says
            text += f", then {n} {says}{'' if n == 1 else 's'}"
        return text

    def _maybe_alert(self, rule: Rule, group: tuple, incident: _Incident, measure: str) -> Alert | None:
        severity = SEVERITY_OF_LEVEL.get(rule.level, "medium")
        if incident.escalated and rule.escalation is not None:
            escalated = SEVERITY_OF_LEVEL.get(rule.escalation.level, "medium")
            if _SEVERITY_ORDER.index(escalated) > _SEVERITY_ORDER.index(severity):
                severity = escalated
        update = incident.alerted_count > 0
        rises = _SEVERITY_ORDER.index(severity) > _SEVERITY_ORDER.index(incident.severity) if update else False
        news = len(incident.escalated) > incident.alerted_escalations  # another success after the attack
        if update and not rises and not news and incident.count < 2 * incident.alerted_count:
            return None
        key = ", ".join(str(v) for v in group if v not in (None, "")) or "(all)"
        span = incident.end_ns - incident.start_ns
        summary = f"{rule.title} ({key})"
        if measure:
            summary += f": {measure}" + (f" in {_duration(span)}" if span > 0 else "")
        alert = Alert(
            detection=rule.name or rule.id,
            severity=severity,
            key=key,
            start=_ts(incident.start_ns),
            end=_ts(incident.end_ns),
            count=incident.count,
            evidence_ids=tuple(incident.evidence),
            summary=summary,
            update=update,
            rule_id=rule.id,
            title=rule.title,
            what_to_do=rule.what_to_do,
        )
        if alert.message == incident.last_message:
            return None  # nothing a person would read differently
        incident.alerted_count = incident.count
        incident.alerted_escalations = len(incident.escalated)
        incident.severity = severity
        incident.last_message = alert.message
        return alert

    def _expire(self) -> None:
        """Forget incidents over for good, least recently touched first: O(expired), not O(incidents)
        (one touched later but ending earlier waits for its turn; ``max_groups`` bounds them all)."""
        if self.watermark_ns is None:
            return
        stale = self.watermark_ns - self.incident_gap_ns - self.lateness_ns
        while self._incidents:
            ident, incident = next(iter(self._incidents.items()))
            if incident.end_ns >= stale:
                break
            del self._incidents[ident]

    # ------------------------------------------------------------------ SQL rules
    def _keep_recent(self, table: pa.Table) -> None:
        con = self._connect()
        con.register("_arrow", table)
        try:
            if not self._recent_ready:
                # schema columns only (no raw record, no data): bounded memory; SQL rules read columns
                con.execute("CREATE TABLE recent AS SELECT * EXCLUDE (raw, data) FROM _arrow LIMIT 0")
                con.execute("CREATE OR REPLACE VIEW events AS SELECT * FROM recent")
                self._recent_ready = True
            con.execute("INSERT INTO recent SELECT * EXCLUDE (raw, data) FROM _arrow")
        finally:
            con.unregister("_arrow")

    def _run_sql_rules(self, fresh: set[str]) -> list[Alert]:
        if not self._recent_ready:
            return []
        newest = self.watermark_ns
        self._con.execute(f"DELETE FROM recent WHERE epoch_ns(timestamp) < {newest - self.horizon_ns}")
        excess = self._con.execute("SELECT count(*) FROM recent").fetchone()[0] - self.max_events
        if excess > 0:
            self._con.execute(
                f"DELETE FROM recent WHERE event_id IN (SELECT event_id FROM recent ORDER BY timestamp LIMIT {excess})"
            )
        alerts = []
        for rule in list(self._sql_rules):
            try:
                query = rule.sql.format(events="recent")
                found = self._con.execute(
                    f'SELECT "group", count, epoch_ns(first), epoch_ns(last), event_ids FROM ({query})'
                ).fetchall()
            except duckdb.Error as error:
                self.failed.append(
                    (rule, f"rule {rule.id} ({rule.source}) cannot run live: {str(error).splitlines()[0]}")
                )
                self._sql_rules.remove(rule)
                continue
            for group, _count, first, last, ids in found:
                ids = list(ids or [])
                if not fresh.intersection(ids):
                    continue  # nothing new in this finding
                values = orjson.loads(group) if isinstance(group, str) else dict(group or {})
                known, ident = self._incident(rule, tuple(values.values()), int(first), self.incident_gap_ns)
                if known is None:
                    known = self._new_incident(ident, int(first), int(last))
                known.start_ns = min(known.start_ns, int(first))
                known.end_ns = max(known.end_ns, int(last))
                self._take(known, ids)
                alert = self._maybe_alert(rule, tuple(values.values()), known, f"{known.count} events")
                if alert is not None:
                    alerts.append(alert)
        return alerts

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
