"""Auth0's Sigma catalog, packaged: every rule loads, compiles, fires on its events and not on near misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from authviz.auth0 import read_logs
from authviz.detections import DetectionEngine, TenantSettings, packaged_rules
from authviz.detections.compile import DUCKDB, SPARK, correlation_query, event_query
from detection_cases import SETTINGS, cases, ev

CATALOG = packaged_rules(["catalog"])
CASES = cases()
CATALOG_DIR = Path(__file__).resolve().parent.parent / "authviz" / "detections" / "rules" / "catalog"


def run(rule, records, settings=SETTINGS):
    lf = read_logs(records)
    assert not lf.rejects
    with DetectionEngine() as engine:
        engine.add_frame(lf.frame)
        engine.define_events()
        report = engine.run([rule], settings)
        assert not report.failed, report.failed
        return engine.findings()


def ids(records):
    return {r["log_id"] for r in records}


def test_every_catalog_file_loads_with_provenance_and_licence():
    files = sorted(CATALOG_DIR.glob("*.yml"))
    assert len(files) == 30
    assert not CATALOG.problems
    assert {rule.source.split("/")[-1] for rule in CATALOG} == {f.name for f in files}
    assert "Apache License" in (CATALOG_DIR / "LICENSE").read_text()
    assert "15f263fbaf11b47a3363739cb89e3ea71a3b9c57" in (CATALOG_DIR / "PROVENANCE.md").read_text()
    assert all(rule.origin == "catalog" and rule.title and rule.level for rule in CATALOG)


def test_catalog_files_are_copied_unchanged():
    fixtures = Path(__file__).resolve().parent / "fixtures" / "sigma"
    copies = {
        p.name: p
        for folder in ("auth0-customer-detections", "auth0-customer-detections-more")
        for p in (fixtures / folder).glob("*.yml")
    }
    for packaged in CATALOG_DIR.glob("*.yml"):
        assert packaged.read_bytes() == copies[packaged.name].read_bytes(), packaged.name


def test_every_catalog_rule_has_cases():
    assert {rule.id for rule in CATALOG} == set(CASES)


@pytest.mark.parametrize("rule", CATALOG.rules, ids=lambda r: Path(r.source).stem)
def test_catalog_rule_compiles_for_duckdb_and_spark(rule):
    query = correlation_query if rule.correlation else event_query
    for dialect in (DUCKDB, SPARK):
        sql = query(rule, SETTINGS, dialect)
        assert "{" not in sql.replace("'{}'", "") or "|re" in sql or "\\{" in sql


@pytest.mark.parametrize("rule", CATALOG.rules, ids=lambda r: Path(r.source).stem)
def test_catalog_rule_fires_on_its_events(rule):
    firing, _ = CASES[rule.id]
    found = run(rule, firing)
    assert len(found) >= 1
    assert set(found["rule_id"]) == {rule.id}
    assert set().union(*map(set, found["event_ids"])) == ids(firing)


@pytest.mark.parametrize("rule", CATALOG.rules, ids=lambda r: Path(r.source).stem)
def test_catalog_rule_ignores_near_misses(rule):
    _, misses = CASES[rule.id]
    found = run(rule, misses)
    assert found.empty, found.to_dict("records")


def test_correlation_finding_carries_group_count_and_window():
    rule = CATALOG.by_id("e604e40e-9db6-449d-854d-2b5323644fd7")
    firing, _ = CASES[rule.id]
    (finding,) = run(rule, firing).to_dict("records")
    assert finding["group"] == {"data.ip": "203.0.113.9"}
    assert finding["count"] == 2
    assert finding["first"] < finding["last"]
    assert finding["title"] == rule.title and finding["level"] == "medium"


def test_rules_with_unset_placeholders_need_configuration_and_never_run():
    partial = TenantSettings({"your-tenant-domain": ("acme.eu.auth0.com",)})
    waiting = {rule.id: missing for rule, missing in CATALOG.needing_configuration(partial)}
    assert waiting == {
        "93c38bb9-da49-4ca5-8d8b-4d3d997b66e8": ("global_client_id",),
        "b275f0fa-3f2d-493f-a741-67e861ef77ed": ("trusted-client_id-1", "trusted-client_id-2"),
        "90a9a856-716d-11f0-bb81-723487b9527c": ("api_explorer_client_id",),
        "466073e8-7171-11f0-858f-723487b9527c": ("your-tenant-url",),
    }
    # an event carrying the literal placeholder text is not a match: the rule is not run at all
    literal = [ev("s", hostname="{your-tenant-url}")]
    lf = read_logs(literal)
    with DetectionEngine() as engine:
        engine.add_frame(lf.frame)
        engine.define_events()
        report = engine.run(CATALOG.rules, None)
        assert {r.id for r, _ in report.needs_configuration} >= {"466073e8-7171-11f0-858f-723487b9527c"}
        assert "466073e8-7171-11f0-858f-723487b9527c" not in set(engine.findings()["rule_id"])


def test_all_catalog_rules_run_together_and_find_each_case():
    records = [record for firing, _ in CASES.values() for record in firing]
    lf = read_logs(records)
    with DetectionEngine() as engine:
        engine.add_frame(lf.frame)
        engine.define_events()
        report = engine.run(CATALOG.rules, SETTINGS)
        assert not report.failed and not report.needs_configuration
        found = engine.findings()
    for rule in CATALOG:
        mine = found[found["rule_id"] == rule.id]
        assert ids(CASES[rule.id][0]) <= set().union(*map(set, mine["event_ids"])), rule.title


def test_python_matcher_agrees_with_duckdb_on_every_catalog_case():
    """The live side's per-event matcher selects exactly the events DuckDB's SQL selects."""
    from authviz.detections import matches, rule_tree

    records = [r for firing, misses in CASES.values() for r in firing + misses]
    frame = read_logs(records).frame
    events = frame.to_dict("records")
    with DetectionEngine() as engine:
        engine.add_frame(frame)
        engine.define_events()
        for rule in CATALOG:
            counted = rule.correlation.rules if rule.correlation else (rule,)
            for base in counted:
                sql = event_query(base, SETTINGS, DUCKDB)
                by_sql = {row[0] for row in engine.con.execute(sql).fetchall()}
                tree = rule_tree(base, SETTINGS)
                by_python = {e["event_id"] for e in events if matches(tree, e)}
                assert by_python == by_sql, base.title


def test_a_reused_refresh_token_raises_one_live_alert_not_two():
    # the catalog's refresh-token rule selects the built-in rule's events: live alerts leave it out
    from authviz.alerts import LiveDetector

    firing, _ = CASES["a7b2e75c-7171-11f0-aa28-723487b9527c"]
    alerts = LiveDetector().feed(read_logs(firing).frame)
    assert {a.detection for a in alerts} == {"refresh_token_reuse"}
    assert "a7b2e75c-7171-11f0-aa28-723487b9527c" not in {a.rule_id for a in alerts}
    assert {i for a in alerts for i in a.evidence_ids} == ids(firing)
