"""The built-in detections as packaged rules find the same incidents as run_detections()."""

from __future__ import annotations

import pandas as pd
import pytest

from authviz.analytics import run_detections
from authviz.auth0 import read_logs
from authviz.detections import DetectionEngine, packaged_rules
from authviz.simulator import month_of_traffic

BUILTIN = packaged_rules(["builtin"])
NAMES = (
    "brute_force",
    "credential_stuffing",
    "impossible_travel",
    "breached_password",
    "lockout_spike",
    "signup_fraud",
    "mfa_push_fatigue",
    "refresh_token_reuse",
)


@pytest.fixture(scope="module")
def month():
    return month_of_traffic(seed=7, days=30, events_per_day=2000)


@pytest.fixture(scope="module")
def both(month):
    events = read_logs(month.records).frame
    expected = run_detections(events)
    with DetectionEngine() as engine:
        engine.add_frame(events)
        engine.define_events()
        report = engine.run(BUILTIN.rules)
        assert not report.failed and not report.needs_configuration
        found = engine.findings()
    successes = set(events.loc[events["category"] == "login_success", "event_id"])
    return events, expected, found, successes


def test_every_builtin_detection_is_a_packaged_rule_with_metadata():
    assert not BUILTIN.problems
    by_name = {rule.name: rule for rule in BUILTIN}
    assert set(by_name) == set(NAMES)
    for rule in BUILTIN:
        assert rule.origin == "builtin" and rule.id and rule.title and rule.description and rule.prevention
    assert by_name["impossible_travel"].kind == "sql"
    assert {by_name[n].kind for n in NAMES if n != "impossible_travel"} == {"correlation"}


@pytest.mark.parametrize("name", NAMES)
def test_rule_finds_the_same_incidents_as_run_detections(both, name):
    events, expected, found, successes = both
    rule = next(r for r in BUILTIN if r.name == name)
    want = expected[expected["detection"] == name]
    got = found[found["rule_id"] == rule.id]
    # run_detections adds a later successful login to brute force / credential stuffing evidence
    added = successes if name in ("brute_force", "credential_stuffing") else set()
    want_keys = sorted(
        (k, pd.Timestamp(s), tuple(sorted(set(ids) - added)))
        for k, s, ids in zip(want["key"], want["start"], want["evidence_ids"])
    )
    got_keys = sorted(
        (next(iter(g.values())), pd.Timestamp(f), tuple(sorted(ids)))
        for g, f, ids in zip(got["group"], got["first"], got["event_ids"])
    )
    assert got_keys == want_keys
    assert len(got) == len(want)


def test_the_month_has_every_kind_of_finding(both):
    _, expected, found, _ = both
    assert set(expected["detection"]) == set(NAMES)
    assert len(found) == len(expected)
