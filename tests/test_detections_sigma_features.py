"""General Sigma features beyond the catalog: ``temporal_ordered`` correlations and IPv6 ``cidr``.

Each rule fires on its events and not on its near misses in DuckDB; the live side (the per-event
matcher and :class:`~authviz.alerts.LiveDetector`) finds the same events. The Spark export is
compared in ``test_detections_spark.py``.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from authviz.alerts import LiveDetector
from authviz.auth0 import read_logs
from authviz.detections import DetectionEngine, load_rule_text, matches, rule_tree
from authviz.detections.compile import DUCKDB, event_query, ipv6_hex
from detection_cases import FEATURE_RULES, feature_cases

CASES = feature_cases()


def rules_of(rule_id):
    loaded = load_rule_text(FEATURE_RULES[rule_id], f"{rule_id}.yml")
    assert not loaded.problems, loaded.problems
    return loaded.rules


def run(rules, records):
    lf = read_logs(records)
    assert not lf.rejects
    with DetectionEngine() as engine:
        engine.add_frame(lf.frame)
        engine.define_events()
        report = engine.run(rules)
        assert not report.failed, report.failed
        return engine.findings()


def ids(records):
    return {r["log_id"] for r in records}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_feature_rule_fires_on_its_events(rule_id):
    firing, _ = CASES[rule_id]
    found = run(rules_of(rule_id), firing)
    assert set(found["rule_id"]) == {rule_id}
    assert set().union(*map(set, found["event_ids"])) == ids(firing)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_feature_rule_ignores_near_misses(rule_id):
    _, misses = CASES[rule_id]
    found = run(rules_of(rule_id), misses)
    assert found.empty, found.to_dict("records")


# ---- temporal_ordered ------------------------------------------------------------------------


def test_temporal_ordered_loads_as_all_rules_in_order():
    (rule,) = rules_of("f1a0c001-0000-4000-8000-000000000002")
    spec = rule.correlation
    assert spec.type == "temporal_ordered" and spec.op == "gte" and spec.threshold == 3
    assert [r.name for r in spec.rules] == ["step_a", "step_b", "step_c"]  # the correlation's order
    assert "in order" in spec.describe()


def test_order_is_what_separates_it_from_temporal():
    # the same events in the wrong order: temporal (any order) fires, temporal_ordered does not
    text = FEATURE_RULES["f1a0c001-0000-4000-8000-000000000001"]
    unordered = load_rule_text(text.replace("temporal_ordered", "temporal"), "unordered.yml").rules
    _, misses = CASES["f1a0c001-0000-4000-8000-000000000001"]
    wrong_order = [r for r in misses if r["data"]["user_id"] == "auth0|b"]
    assert len(run(unordered, wrong_order)) == 1
    assert run(rules_of("f1a0c001-0000-4000-8000-000000000001"), wrong_order).empty


def test_a_temporal_ordered_condition_other_than_all_rules_is_one_sentence():
    text = FEATURE_RULES["f1a0c001-0000-4000-8000-000000000002"].replace("{gte: 3}", "{gte: 2}")
    loaded = load_rule_text(text, "partial.yml")
    assert not loaded.rules
    (problem,) = loaded.problems
    assert str(problem).startswith("partial.yml: a temporal_ordered correlation fires when all of its 3 rules")
    assert "\n" not in str(problem)


@pytest.mark.parametrize("rule_id", ["f1a0c001-0000-4000-8000-000000000001", "f1a0c001-0000-4000-8000-000000000002"])
def test_live_detector_alerts_on_the_same_events_as_the_batch(rule_id):
    firing, misses = CASES[rule_id]
    rules = rules_of(rule_id)
    frame = read_logs(firing + misses).frame.sort_values("timestamp")
    batch = run(rules, firing + misses)
    live = LiveDetector(rules, lateness=timedelta(0))
    alerts = [a for _, row in frame.iterrows() for a in live.feed(row.to_frame().T)]
    assert {a.rule_id for a in alerts} == {rule_id}
    assert set().union(*(set(a.evidence_ids) for a in alerts)) == set().union(*map(set, batch["event_ids"]))


# ---- IPv6 cidr -----------------------------------------------------------------------------------


def test_ipv6_cidr_compiles_to_a_range_of_full_form_addresses():
    (rule,) = rules_of("f1a0c001-0000-4000-8000-000000000003")
    sql = event_query(rule, None, DUCKDB)
    assert "'20010db8000000000000000000000000' AND '20010db8ffffffffffffffffffffffff'" in sql
    assert "'fd000001000200030000000000000000' AND 'fd000001000200030000000000000001'" in sql


def test_python_matcher_agrees_with_duckdb_on_the_cidr_cases():
    (rule,) = rules_of("f1a0c001-0000-4000-8000-000000000003")
    firing, misses = CASES[rule.id]
    frame = read_logs(firing + misses).frame
    tree = rule_tree(rule)
    with DetectionEngine() as engine:
        engine.add_frame(frame)
        engine.define_events()
        by_sql = {row[0] for row in engine.con.execute(event_query(rule, None, DUCKDB)).fetchall()}
    by_python = {e["event_id"] for e in frame.to_dict("records") if matches(tree, e)}
    assert by_sql == by_python == ids(firing)


TRICKY = [
    "::",
    "::1",
    "1::",
    "2001:DB8::1",
    "1:2:3:4:5:6:7::",
    "::2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8:9",
    "::1:2:3:4:5:6:7:8",
    ":::",
    "1:::2",
    "1::2::3",
    "12345::",
    ":1::",
    "1::2:",
    "g::1",
    "",
    "192.0.2.1",
    "::ffff:192.0.2.1",  # a dotted IPv4 tail: not expanded (documented)
    "fe80::1%eth0",
]


def test_sql_expansion_is_the_python_expansion_on_tricky_text():
    con = duckdb.connect()
    for text in TRICKY:
        (got,) = con.execute(f"SELECT {DUCKDB.ipv6(DUCKDB.literal(text))}").fetchone()
        assert got == ipv6_hex(text), text


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_every_ipv6_address_expands_as_ipaddress_does_in_both_spellings(number):
    address = ipaddress.IPv6Address(number)
    full = address.exploded.replace(":", "")
    assert ipv6_hex(str(address)) == full  # compressed
    assert ipv6_hex(address.exploded.upper()) == full


def test_sql_expansion_agrees_on_random_addresses():
    import random

    rng = random.Random(13)
    con = duckdb.connect()
    texts = []
    for _ in range(300):
        number = rng.getrandbits(128)
        # runs of zero groups, so that :: appears in many places
        mask = rng.getrandbits(8)
        for group in range(8):
            if mask >> group & 1:
                number &= ~(0xFFFF << (16 * group))
        texts.append(str(ipaddress.IPv6Address(number)))
    rows = con.execute(f"SELECT t, {DUCKDB.ipv6('t')} FROM (SELECT unnest(?) AS t)", [texts]).fetchall()
    assert all(got == ipaddress.IPv6Address(t).exploded.replace(":", "") for t, got in rows)
