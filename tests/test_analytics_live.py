"""LiveDetector: same rules incrementally, one alert per incident, then updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics_helpers import ev, frame, records_to_frame
from authviz.analytics import Alert, LiveDetector
from authviz.simulator import TrafficGenerator


def test_credential_stuffing_alerts_once_then_updates_on_success():
    live = LiveDetector()
    attack = [ev("fu", i * 0.5, user=f"v{i}@example.com", ip="203.0.113.7") for i in range(14)]
    assert live.feed(frame(attack[:9])) == []
    alerts = live.feed(frame(attack[9:10]))
    assert [a.summary for a in alerts] == ["credential stuffing from 203.0.113.7: 10 users, 0 successes"]
    assert alerts[0].update is False and alerts[0].severity == "info"
    assert live.feed(frame(attack[10:14])) == []  # same incident, not doubled yet
    alerts = live.feed(frame([ev("s", 8, user="v3@example.com", ip="203.0.113.7")]))
    assert len(alerts) == 1 and alerts[0].update and alerts[0].severity == "high"
    assert alerts[0].summary == "credential stuffing from 203.0.113.7: 14 users, 1 success"
    assert alerts[0].message.startswith("updated high alert: credential stuffing from 203.0.113.7")
    assert live.feed(frame(attack)) == []  # replayed events (backfill) are duplicates


def test_ongoing_attack_updates_only_when_evidence_doubles():
    live = LiveDetector()
    counts = []
    for i in range(24):
        for alert in live.feed(frame([ev("fp", i * 0.5, user="bob@example.com")])):
            counts.append((alert.update, alert.count))
    assert counts == [(False, 5), (True, 10), (True, 20)]


def test_new_incident_after_the_gap_alerts_again_and_old_events_slide_out():
    live = LiveDetector(horizon=timedelta(hours=2), incident_gap=timedelta(hours=1))
    first = live.feed(frame([ev("gd_send_pn", i, user="carol@example.com") for i in range(5)]))
    assert len(first) == 1
    assert live.buffered == 5
    later = live.feed(frame([ev("gd_send_pn", 300 + i, user="carol@example.com") for i in range(5)]))
    assert len(later) == 1 and later[0].update is False
    assert live.buffered == 5  # the first burst is older than the horizon


def test_feed_accepts_dicts_and_validates():
    live = LiveDetector(thresholds={"brute_force": {"min_failures": 2}}, only=["brute_force"])
    alerts = live.feed([ev("fp", 0), ev("fp", 1)])
    assert len(alerts) == 1 and isinstance(alerts[0], Alert)
    assert alerts[0].to_dict()["message"] == alerts[0].message
    assert live.feed([]) == []
    with pytest.raises(TypeError):
        live.feed([42])
    with pytest.raises(ValueError, match="unknown detections"):
        LiveDetector(only=["nope"])
    with pytest.raises(ValueError):
        LiveDetector(max_events=0)


def test_streamed_traffic_with_attacks_alerts_once_per_attack():
    gen = TrafficGenerator(seed=8, start=datetime(2026, 11, 1, tzinfo=UTC), events_per_day=3000)
    records = list(gen.generate(duration=timedelta(hours=6)))
    injected = {}
    for name, minutes in (("credential-stuffing", 60), ("brute-force", 150), ("mfa-push-fatigue", 200)):
        attack_records, truth = gen.attack(name, gen.start + timedelta(minutes=minutes))
        records += attack_records
        injected[(truth.detection, truth.key)] = truth
    records.sort(key=lambda r: r["data"]["date"])
    events = records_to_frame(records)
    live = LiveDetector()
    first_alerts = []
    for lo in range(0, len(events), 50):
        first_alerts += [a for a in live.feed(events.iloc[lo:lo + 50]) if not a.update]
    assert sorted((a.detection, a.key) for a in first_alerts) == sorted(injected)


def test_feed_accepts_parsed_auth_events():
    from authviz.auth0 import parse_records

    gen = TrafficGenerator(seed=9, start=datetime(2026, 11, 1, tzinfo=UTC))
    records, truth = gen.attack("mfa-push-fatigue", at=datetime(2026, 11, 1, 3, tzinfo=UTC))
    events = parse_records(records).events
    live = LiveDetector()
    alerts = live.feed(events[:4]) + live.feed(events[4:])
    assert [(a.detection, a.key, a.update) for a in alerts] == [("mfa_push_fatigue", truth.key, False)]


def test_events_without_ids_are_kept():
    live = LiveDetector()
    events = [dict(ev("fp", i), event_id=None) for i in range(5)]
    alerts = live.feed(events)
    assert live.buffered == 5 and len(alerts) == 1 and alerts[0].count == 5
