"""The shared scan (one projection of the events for every Sigma rule, JSON parsed once and only
where a rule's column guard admits the event) finds exactly what each rule finds scanning alone."""

from __future__ import annotations

import pandas as pd
import pytest

from authviz.auth0 import read_logs
from authviz.detections import DetectionEngine, packaged_rules
from authviz.detections.compile import DUCKDB, And, Const, Field, Not, Or, guard, rule_reads
from authviz.detections.compile import Test as Check
from authviz.simulator import month_of_traffic
from tests.detection_cases import SETTINGS, cases


def findings(frame: pd.DataFrame, rules, settings, shared_scan: bool) -> pd.DataFrame:
    with DetectionEngine() as engine:
        engine.add_frame(frame)
        engine.define_events()
        report = engine.run(rules, settings, shared_scan=shared_scan)
        assert not report.failed, report.failed
        found = engine.findings()
    found["group"] = found["group"].map(lambda g: sorted(g.items()))
    return found.sort_values(["rule_id", "first", "count"]).reset_index(drop=True)


@pytest.mark.parametrize("source", ["catalog cases", "simulated month"])
def test_shared_scan_finds_what_each_rule_finds_alone(source):
    if source == "catalog cases":
        # every firing event and every near miss of every catalog rule, together
        records = [record for firing, misses in cases().values() for record in (*firing, *misses)]
    else:
        records = month_of_traffic(seed=11, days=10, events_per_day=1500, catalog=True).records
    frame = read_logs(records).frame
    rules = packaged_rules().rules
    alone = findings(frame, rules, SETTINGS, shared_scan=False)
    shared = findings(frame, rules, SETTINGS, shared_scan=True)
    assert len(alone) > 0
    pd.testing.assert_frame_equal(shared, alone)


def test_a_guard_reads_only_columns_and_the_record_text():
    typed = Check(Field("type"), "text", ("sapi",))
    missing = Check(Field(None, ("details", "enabled")), "null")  # true on a missing key: no guard
    assert guard(And((typed, missing))) == And((typed,))
    # `or` with an unguarded branch, `not`, a keyword: no condition is implied
    assert guard(Or((typed, missing))) is None
    assert guard(Not(typed)) is None
    assert guard(Check(None, "text", ("x",))) is None
    assert guard(Const(False)) == Const(False)
    # a JSON string that must be present: its text in the record's text, or an escape
    sql = DUCKDB.render(guard(Check(Field(None, ("hostname",)), "text", ("Acme.example",))))
    assert sql == """(("raw" ILIKE '%Acme.example%' ESCAPE '\\') OR contains("raw", '\\'))"""
    assert "json" not in DUCKDB.render(guard(And((typed, Check(Field(None, ("hostname",)), "text", ("a.example",))))))


def test_rule_reads_names_every_json_path_and_column():
    rules = [rule for rule in packaged_rules(["catalog"]).rules if not rule.missing(SETTINGS)]
    reads = rule_reads(rules, SETTINGS)
    assert ("hostname",) in reads.paths
    assert ("details", "response", "body", "shields", None) in reads.paths
    assert {"event_id", "timestamp", "type", "description"} <= reads.columns
