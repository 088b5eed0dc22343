"""Escalation: an attack followed by a successful login of what it attacked is worse.

Brute force on a user, then a successful login of that user: medium (it was informational);
credential stuffing from an IP, then a successful login from that IP: high. The rules declare it
(``escalation:`` beside their correlation), the live detector raises it as an update with the new
severity, and delivery lets it through at once rather than holding it for the throttle interval.
"""

from __future__ import annotations

import pytest

from analytics_helpers import ev, frame
from authviz.alerts import Gate, LiveDetector
from authviz.alerts.live import live_rules
from authviz.detections import detect, load_rule_text, packaged_rules

pytestmark = pytest.mark.timeout(120)


def brute_force(user: str = "alice@example.com", start: float = 0.0) -> list[dict]:
    return [ev("fp", start + i, user=user, ip="198.51.100.9") for i in range(5)]


def test_the_packaged_rules_declare_their_escalation():
    rules = {r.name: r for r in packaged_rules()}
    bf, cs = rules["brute_force"].escalation, rules["credential_stuffing"].escalation
    assert bf is not None and bf.level == "medium" and bf.within.total_seconds() == 3600
    assert cs is not None and cs.level == "high"
    # the escalating event rule is part of its correlation, never a rule of its own
    assert not [r for r in packaged_rules() if r.name in (bf.rule.name, cs.rule.name)]


def test_brute_force_then_a_successful_login_escalates_to_medium():
    live = LiveDetector(only=["brute_force"])
    first = live.feed(frame(brute_force()))
    assert [(a.severity, a.update, a.count) for a in first] == [("info", False, 5)]
    success = ev("s", 10, user="alice@example.com", ip="203.0.113.50")
    (alert,) = live.feed(frame([success]))
    assert (alert.severity, alert.update, alert.count) == ("medium", True, 6)
    assert success["event_id"] in alert.evidence_ids
    assert "then 1 successful login" in alert.summary and alert.message.startswith("updated medium alert")
    assert alert.to_dict()["severity"] == "medium"
    # a second success is news (the count says so) but not a new escalation
    (more,) = live.feed(frame([ev("s", 11, user="alice@example.com")]))
    assert more.severity == "medium" and "then 2 successful logins" in more.summary


def test_credential_stuffing_then_a_success_from_that_ip_escalates_to_high():
    live = LiveDetector(only=["credential_stuffing"])
    attack = [ev("fu", i * 0.5, user=f"v{i}@example.com", ip="203.0.113.7") for i in range(10)]
    assert [a.severity for a in live.feed(frame(attack))] == ["info"]
    (alert,) = live.feed(frame([ev("s", 20, user="v3@example.com", ip="203.0.113.7")]))
    assert (alert.severity, alert.update) == ("high", True)


def test_a_success_during_the_failures_escalates_the_first_alert():
    live = LiveDetector(only=["brute_force"])
    events = brute_force()
    events.insert(2, ev("s", 1.5, user="alice@example.com"))
    alerts = live.feed(frame(events))
    assert [(a.severity, a.update, a.count) for a in alerts] == [("medium", False, 6)]


@pytest.mark.parametrize(
    "success",
    [
        ev("s", 10, user="bob@example.com"),  # another user
        ev("s", 4 + 61, user="alice@example.com"),  # more than an hour after the last failure
        ev("fp", 10, user="alice@example.com"),  # not a success
    ],
)
def test_what_does_not_escalate(success):
    live = LiveDetector(only=["brute_force"])
    live.feed(frame(brute_force()))
    assert [a.severity for a in live.feed(frame([success]))] in ([], ["info"])


def test_successful_logins_alone_raise_nothing():
    live = LiveDetector()
    assert live.feed(frame([ev("s", i * 0.1, user=f"u{i % 3}@example.com") for i in range(50)])) == []


def test_a_user_rule_can_declare_an_escalation():
    text = (
        "title: pushes\nid: 11111111-2222-3333-4444-555555555555\nname: push\nlogsource: {product: auth0}\n"
        "detection: {sel: {type: gd_send_pn}, condition: sel}\nlevel: low\n---\n"
        "title: accepted\nid: 11111111-2222-3333-4444-555555555556\nname: push_accepted\n"
        "logsource: {product: auth0}\ndetection: {sel: {type: s}, condition: sel}\nlevel: low\n---\n"
        "title: Push fatigue\nname: fatigue\ncorrelation:\n  type: event_count\n  rules: [push]\n"
        "  group-by: [user_key]\n  timespan: 10m\n  condition: {gte: 3}\n"
        "escalation: {rule: push_accepted, within: 5m, level: critical, says: accepted push}\nlevel: low\n"
    )
    loaded = load_rule_text(text, "fatigue.yml")
    assert not loaded.problems and [r.name for r in loaded.rules] == ["fatigue"]
    live = LiveDetector(loaded.rules)
    assert [a.severity for a in live.feed(frame([ev("gd_send_pn", i) for i in range(3)]))] == ["low"]
    (alert,) = live.feed(frame([ev("s", 4)]))
    assert alert.severity == "critical" and "then 1 accepted push" in alert.summary


@pytest.mark.parametrize(
    ("escalation", "problem"),
    [
        ("{rule: nowhere, within: 1h, level: high}", "not in the file"),
        ("{rule: push_accepted, within: 1h, level: severe}", "level"),
        ("{rule: push_accepted, within: soon, level: high}", "within"),
    ],
)
def test_a_bad_escalation_is_one_sentence_naming_the_file(escalation, problem):
    text = (
        "title: pushes\nname: push\nlogsource: {product: auth0}\ndetection: {sel: {type: gd_send_pn}, condition: sel}\n"
        "---\ntitle: accepted\nname: push_accepted\nlogsource: {product: auth0}\n"
        "detection: {sel: {type: s}, condition: sel}\n---\n"
        "title: Push fatigue\nname: fatigue\ncorrelation:\n  type: event_count\n  rules: [push]\n"
        f"  group-by: [user_key]\n  timespan: 10m\n  condition: {{gte: 3}}\nescalation: {escalation}\n"
    )
    loaded = load_rule_text(text, "fatigue.yml")
    assert not loaded.rules and len(loaded.problems) == 1
    assert "fatigue.yml" in str(loaded.problems[0]) and problem in str(loaded.problems[0])


def test_the_batch_engine_does_not_report_the_escalating_rule_on_its_own():
    events = frame([ev("s", i, user=f"u{i}@example.com") for i in range(20)])
    found = detect(events, live_rules())
    assert found.empty


def test_delivery_lets_an_escalation_through_at_once():
    live = LiveDetector(only=["brute_force"])
    (first,) = live.feed(frame(brute_force()))
    (worse,) = live.feed(frame([ev("s", 10)]))
    gate = Gate(interval=60.0)
    assert gate.offer(first, now=0.0) is first
    assert gate.offer(worse, now=1.0) is worse  # a higher severity is not held for the interval
    (same_level,) = live.feed(frame([ev("s", 11)]))
    assert gate.offer(same_level, now=2.0) is None and gate.held == 1  # ordinary updates still are
