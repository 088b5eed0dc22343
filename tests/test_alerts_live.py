"""LiveDetector: the detection rules evaluated incrementally, one alert per incident, then updates
only with news; the same incidents as the batch engine over the same events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics_helpers import ev, frame, records_to_frame
from authviz.alerts import Alert, LiveDetector
from authviz.alerts.live import live_rules
from authviz.detections import detect, load_rule_text
from authviz.simulator import TrafficGenerator

pytestmark = pytest.mark.timeout(300)


def test_credential_stuffing_alerts_once_then_only_when_it_doubles():
    live = LiveDetector(only=["credential_stuffing"])
    attack = [ev("fu", i * 0.5, user=f"v{i}@example.com", ip="203.0.113.7") for i in range(45)]
    assert live.feed(frame(attack[:9])) == []
    alerts = live.feed(frame(attack[9:10]))
    assert len(alerts) == 1 and not alerts[0].update
    first = alerts[0]
    assert isinstance(first, Alert) and first.detection == "credential_stuffing" and first.key == "203.0.113.7"
    assert first.count == 10 and first.rule_id and first.title == "Credential stuffing from one IP"
    assert first.what_to_do.startswith("Block the IP")
    assert "203.0.113.7" in first.message and first.to_dict()["rule_id"] == first.rule_id
    # one event at a time: updates only at 20 and 40 events, each reading differently
    updates = [a for e in attack[10:] for a in live.feed(frame([e]))]
    assert [(a.update, a.count) for a in updates] == [(True, 20), (True, 40)]
    assert len({a.message for a in [first, *updates]}) == 3


def test_a_new_incident_after_the_gap_alerts_again():
    live = LiveDetector(only=["brute_force"])
    burst = lambda start: [ev("fp", start + i) for i in range(5)]  # noqa: E731
    assert len(live.feed(frame(burst(0)))) == 1
    assert live.feed(frame(burst(30)[:3])) == []  # the same incident (within the hour), 8 < 2 x 5: no news
    again = live.feed(frame(burst(300)))  # five hours later: a new incident
    assert [(a.update, a.count) for a in again] == [(False, 5)]


def test_input_shapes_duplicates_and_validation():
    from authviz.auth0 import parse_records

    gen = TrafficGenerator(seed=9, start=datetime(2026, 11, 1, tzinfo=UTC))
    records, truth = gen.attack("mfa-push-fatigue", at=datetime(2026, 11, 1, 3, tzinfo=UTC))
    events = parse_records(records).events
    live = LiveDetector()
    alerts = live.feed(events[:4]) + live.feed(events[4:]) + live.feed(events)  # the repeat is ignored
    assert [(a.detection, a.key, a.update) for a in alerts] == [("mfa_push_fatigue", truth.key, False)]
    assert live.duplicates == len(events)
    dicts = [ev("fp", i) for i in range(5)]
    assert [a.detection for a in LiveDetector(only=["brute_force"]).feed(dicts)] == ["brute_force"]
    with pytest.raises(ValueError, match="unknown rules"):
        LiveDetector(only=["nope"])
    with pytest.raises(TypeError, match="Auth0 events"):
        LiveDetector(only=["brute_force"]).feed([42])


def test_a_rule_that_cannot_run_is_reported_and_the_others_run():
    text = (
        "title: Grouped by a list\nid: 11111111-2222-3333-4444-555555555555\nname: by_list_events\n"
        "logsource: {product: auth0}\ndetection:\n  sel:\n    type: fp\n  condition: sel\nlevel: high\n"
        "---\ntitle: Grouped by a list\nname: by_list\ncorrelation:\n  type: event_count\n"
        "  rules: [by_list_events]\n  group-by:\n    - data.details.x{}\n  timespan: 1h\n  condition: {gte: 2}\n"
    )
    loaded = load_rule_text(text, "by_list.yml")
    assert loaded.rules and not loaded.problems
    rules = [*loaded.rules, *[r for r in live_rules() if r.name == "brute_force"]]
    live = LiveDetector(rules)
    assert [r.name for r in live.rules] == ["brute_force"]
    assert len(live.failed) == 1 and "by_list.yml" in live.failed[0][1] and "cannot run live" in live.failed[0][1]
    assert len(live.feed(frame([ev("fp", i) for i in range(5)]))) == 1


def test_memory_is_bounded_by_max_groups():
    live = LiveDetector(only=["brute_force"], max_groups=50)
    live.feed(frame([ev("fp", i * 0.01, user=f"u{i}@example.com") for i in range(2000)]))
    state = next(p.state for p in live._plans if p.state is not None)
    assert len(state) <= 50 and state.evicted >= 1950


def test_live_finds_the_same_incidents_as_the_batch_engine():
    """A week of simulated traffic with every attack, fed in chunks: every (rule, group) the batch
    engine finds with the live rule set is alerted live, and nothing else."""
    gen = TrafficGenerator(seed=4, start=datetime(2026, 11, 1, tzinfo=UTC))
    week = gen.month(days=7)
    events = records_to_frame(week.records)
    rules = live_rules()
    batch = detect(events, rules)
    expected = {(row.rule_id, tuple(str(v) for v in row.group.values()) or ("(all)",)) for row in batch.itertuples()}
    live = LiveDetector(rules)
    alerted = set()
    for lo in range(0, len(events), 500):
        for alert in live.feed(events.iloc[lo : lo + 500]):
            alerted.add((alert.rule_id, tuple(alert.key.split(", "))))
    for alert in live.flush():  # SQL rules run at most once a second: the rest at the end of the stream
        alerted.add((alert.rule_id, tuple(alert.key.split(", "))))
    assert expected, "the week should contain findings"
    assert alerted == expected


def test_every_live_rule_compiles_for_the_live_engine():
    live = LiveDetector()
    assert live.failed == [] and live.needs_configuration == []
    assert len(live.rules) == len(live_rules()) >= 20


def test_live_agrees_with_the_batch_engine_on_a_fast_stream_with_every_scenario():
    """The benchmark's kind of stream (simulated traffic at 2,000 events/s, every scenario injected),
    parsed AuthEvents fed in 250-event batches: the same (rule, group) findings as the batch engine
    over the same events, and every alert's evidence is evidence the batch engine found for that
    rule and group (or, for an escalation, an escalating event of that group)."""
    from authviz.auth0 import parse_records
    from authviz.bridge.simulate import SimulateOptions, simulated_records
    from authviz.simulator import SCENARIOS

    options = SimulateOptions(
        target="-", token="-", rate=2000, seed=11, duration=15, scenarios=tuple(SCENARIOS), scenario_delay=3
    )
    records = list(simulated_records(options, datetime(2026, 12, 3, 14, tzinfo=UTC)))
    events = parse_records(records).events
    rules = live_rules()
    batch = detect(records_to_frame(records), rules)
    expected = {(row.rule_id, tuple(str(v) for v in row.group.values()) or ("(all)",)) for row in batch.itertuples()}
    evidence = {}
    for row in batch.itertuples():
        key = (row.rule_id, tuple(str(v) for v in row.group.values()) or ("(all)",))
        evidence.setdefault(key, set()).update(row.event_ids)
    live = LiveDetector(rules)
    alerted, alerts = set(), []
    for lo in range(0, len(events), 250):
        alerts += live.feed(events[lo : lo + 250])
    alerts += live.flush()
    by_id = {e.event_id: e for e in events}
    ungrouped = {r.id for r in rules if r.kind == "sigma"}  # the batch engine lists their events, ungrouped
    for alert in alerts:
        key = (alert.rule_id, ("(all)",) if alert.rule_id in ungrouped else tuple(alert.key.split(", ")))
        alerted.add(key)
        extra = set(alert.evidence_ids) - evidence.get(key, set())
        assert all(by_id[i].category == "login_success" for i in extra), (alert.message, extra)
    assert len(expected) >= 10, "every scenario should give findings"
    assert alerted == expected


def test_incidents_over_for_good_are_forgotten_while_a_long_one_goes_on():
    live = LiveDetector(only=["brute_force"])
    # found first (five failures in four minutes), then going on for ten hours, a failure every 10 min
    long_attack = [ev("fp", i, user="target@example.com") for i in range(5)]
    long_attack += [ev("fp", 10 + i * 10, user="target@example.com") for i in range(60)]
    short = [ev("fp", 5 + i * 0.1, user=f"u{k}@example.com") for k in range(20) for i in range(5)]
    alerts = live.feed(frame(long_attack[:5])) + live.feed(frame(short))
    assert len(alerts) == 21
    for event in long_attack[5:]:
        live.feed(frame([event]))
    # the twenty short incidents ended nine hours ago: forgotten; the long one is still open
    assert [ident[1] for ident in live._incidents] == [("target@example.com",)]


def test_the_python_matcher_reads_parsed_events_as_duckdb_reads_their_rows():
    """Live feeds AuthEvents (a read-only ``raw``, typed columns): on every catalog and built-in
    case the compiled conditions select, on AuthEvents, exactly the events DuckDB's SQL selects."""
    from authviz.auth0 import parse_records, read_logs
    from authviz.detections import DetectionEngine, packaged_rules, rule_tree
    from authviz.detections.compile import DUCKDB, event_query
    from authviz.detections.match import EventView, compile_condition
    from detection_cases import SETTINGS, cases

    records = [r for firing, misses in cases().values() for r in firing + misses]
    events = parse_records(records).events
    assert len(events) == len(records)
    checked = 0
    with DetectionEngine() as engine:
        engine.add_frame(read_logs(records).frame)
        engine.define_events()
        for rule in packaged_rules().runnable(SETTINGS):
            if rule.kind == "sql":
                continue
            counted = [*(rule.correlation.rules if rule.correlation else (rule,))]
            if rule.escalation is not None:
                counted.append(rule.escalation.rule)
            for base in counted:
                by_sql = {row[0] for row in engine.con.execute(event_query(base, SETTINGS, DUCKDB)).fetchall()}
                test = compile_condition(rule_tree(base, SETTINGS))
                assert {e.event_id for e in events if test(EventView(e)) is True} == by_sql, base.title
                checked += len(by_sql)
    assert checked > 50


def test_rules_on_a_missing_type_are_indexed_and_still_match():
    text = (
        "title: No type\nid: 11111111-2222-3333-4444-555555555557\nname: untyped\nlogsource: {product: auth0}\n"
        "detection:\n  missing:\n    type: null\n  sapi:\n    type: sapi\n  condition: missing or sapi\nlevel: high\n"
    )
    (rule,) = load_rule_text(text, "untyped.yml").rules
    live = LiveDetector([rule])
    assert live._unindexed == [] and set(live._by_type) == {None, "sapi"}
    untyped = ev("fp", 0, type=None, user="a@example.com")
    alerts = live.feed(frame([untyped, ev("fp", 1, user="b@example.com"), ev("sapi", 2, user="c@example.com")]))
    assert sorted(a.key for a in alerts) == ["a@example.com", "c@example.com"]
    assert detect(frame([untyped]), [rule])["event_ids"].iloc[0] == [untyped["event_id"]]


def test_a_sql_rule_without_a_live_form_runs_over_recent_events_in_duckdb():
    from authviz.detections import Rule

    rule = Rule(
        id="11111111-2222-3333-4444-555555555558",
        title="Three failures from one IP",
        level="high",
        description="",
        origin="user",
        source="mine.py",
        name="three_from_ip",
        sql=(
            "SELECT json_object('ip', ip) AS \"group\", count(*) AS count, min(timestamp) AS first, "
            "max(timestamp) AS last, list(event_id ORDER BY event_id) AS event_ids FROM {events} "
            "WHERE type = 'fp' GROUP BY ip HAVING count(*) >= 3"
        ),
    )
    live = LiveDetector([rule], sql_interval=3600, clock=lambda: 0.0)
    assert live.rules == [rule]
    events = [ev("fp", i * 0.01, ip="203.0.113.9") for i in range(3)]
    assert live.feed(frame(events[:1])) == []  # the first batch runs it at once: nothing yet
    assert live.feed(frame(events[1:])) == []  # the next waits for its interval (an hour)...
    (alert,) = live.flush()  # ... or for the stream to pause
    assert (alert.rule_id, alert.key, alert.count, alert.severity) == (rule.id, "203.0.113.9", 3, "high")
    live.close()
