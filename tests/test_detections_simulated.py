"""The packaged catalog rules find the simulator's catalog attacks (its ground truth, issue #13)."""

from __future__ import annotations

import pytest

from authviz.auth0 import read_logs
from authviz.detections import DetectionEngine, packaged_rules
from authviz.simulator import month_of_traffic


@pytest.fixture(scope="module")
def found_and_attacks():
    month = month_of_traffic(seed=7, days=30, events_per_day=2000, catalog=True)
    rules = packaged_rules()
    with DetectionEngine() as engine:
        engine.add_frame(read_logs(month.records).frame)
        engine.define_events()
        report = engine.run(rules.rules)
        assert not report.failed
        found = engine.findings()
    return found, month.attacks, {rule.id for rule in rules}


def test_every_catalog_attack_is_found_by_the_rules_written_for_it(found_and_attacks):
    found, attacks, packaged = found_and_attacks
    checked = 0
    for attack in attacks:
        for rule_id in attack.rule_ids:
            assert rule_id in packaged, (attack.kind, rule_id)  # every rule an attack is built to is shipped
            ids = set().union(*map(set, found.loc[found["rule_id"] == rule_id, "event_ids"]))
            assert ids & set(attack.log_ids), (attack.kind, rule_id)
            checked += 1
    assert checked == sum(len(a.rule_ids) for a in attacks)
