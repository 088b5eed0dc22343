"""Detections as code: Sigma rules (and a few SQL rules) compiled to DuckDB and Spark SQL.

The rule model (stable; the live engine builds on it)::

    from authviz.detections import load_rules, packaged_rules, load_settings
    rules = packaged_rules()                       # RuleSet: builtin + Auth0 catalog rules
    rules.extend(load_rules(["my-rules/"]))        # a bad file is a problem, the rest load
    for problem in rules.problems: print(problem)  # one sentence naming the file
    rule = rules.rules[0]
    rule.id, rule.title, rule.level, rule.description, rule.prevention, rule.what_to_do
    rule.kind            # "sigma" | "correlation" | "sql"
    rule.detection       # pySigma SigmaRule (parsed detection) for a Sigma event rule
    rule.correlation     # Correlation(type, rules, group_by, timespan, op, threshold, field)
    rule.escalation      # Escalation(rule, within, level, says) or None: what makes a finding worse
    rule.placeholders    # {"your-tenant-url", ...}; rule.missing(settings) -> unset ones
    settings_template(rules.rules)                 # YAML to fill in: the unset placeholders, explained
    rule_tree(rule, settings)                      # engine-neutral condition (And/Or/Not/Test)
    matches(rule_tree(rule, settings), event)      # one event (AuthEvent or schema mapping), in Python
    compile_condition(rule_tree(rule, settings))   # the same, compiled once: test(EventView(event))

Running them on history::

    findings = detect(frame_or_parquet_path, rules.runnable(settings), settings=settings)
    # columns: rule_id, title, level, group, count, first, last, event_ids

:class:`DetectionEngine` keeps events and findings in DuckDB (tables or a Parquet archive read in
place, with a memory limit); :func:`spark_sql` exports the same rules as Spark SQL.
"""

from authviz.detections.compile import (
    DUCKDB,
    SPARK,
    And,
    Const,
    Field,
    Not,
    Or,
    Test,
    findings_query,
    parse_field,
    rule_tree,
    spark_sql,
)
from authviz.detections.engine import FINDING_COLUMNS, DetectionEngine, RunReport, detect
from authviz.detections.match import EventView, compile_condition, matches
from authviz.detections.load import (
    PLACEHOLDER,
    RuleError,
    load_rule_file,
    load_rule_text,
    load_rules,
    load_settings,
    packaged_rules,
    settings_template,
)
from authviz.detections.model import LEVELS, Correlation, Escalation, Rule, RuleProblem, RuleSet, TenantSettings

__all__ = [
    "DUCKDB",
    "FINDING_COLUMNS",
    "LEVELS",
    "PLACEHOLDER",
    "SPARK",
    "And",
    "Const",
    "Correlation",
    "Escalation",
    "DetectionEngine",
    "Field",
    "Not",
    "Or",
    "Rule",
    "RuleError",
    "RuleProblem",
    "RuleSet",
    "RunReport",
    "TenantSettings",
    "Test",
    "detect",
    "findings_query",
    "load_rule_file",
    "load_rule_text",
    "load_rules",
    "load_settings",
    "matches",
    "compile_condition",
    "EventView",
    "packaged_rules",
    "parse_field",
    "rule_tree",
    "settings_template",
    "spark_sql",
]
