"""Impossible travel, incrementally (authviz.alerts.travel) against the batch SQL rule: the same
logins flagged, the same users alerted."""

from __future__ import annotations

import random

import pytest

from analytics_helpers import ev, frame
from authviz.alerts import LiveDetector
from authviz.alerts.travel import TravelState, hop_km
from authviz.detections import detect
from authviz.detections.sqlrules import sql_rules

pytestmark = pytest.mark.timeout(120)

#: places far apart and near each other (Paris and Versailles are 17 km apart)
PLACES = [(48.8566, 2.3522), (48.8049, 2.1204), (40.7128, -74.0060), (35.6762, 139.6503), (51.5074, -0.1278)]


def logins(seed: int, n: int = 400) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        lat, lon = rng.choice(PLACES)
        minute = rng.choice([rng.uniform(0, 600), float(rng.randrange(0, 600, 30))])  # some at the same instant
        kind = rng.choice(["s", "s", "s", "fp"])
        out.append(ev(kind, minute, user=f"u{rng.randrange(6)}@example.com", lat=lat, lon=lon))
    # a login without a place and one without a user: never part of a hop
    out.append(ev("s", 10, user="u1@example.com"))
    out.append(ev("s", 11, user=None, lat=35.0, lon=139.0, ip=None))
    return out


def sql_flagged(events: list[dict]) -> tuple[set[str], set[str]]:
    found = detect(frame(events), sql_rules())
    ids = set().union(*map(set, found["event_ids"])) if len(found) else set()
    users = {g["user_key"] for g in found["group"]} if len(found) else set()
    return ids, users


@pytest.mark.parametrize("seed", range(6))
def test_the_incremental_form_flags_the_logins_the_sql_flags(seed):
    events = logins(seed)
    expected_ids, expected_users = sql_flagged(events)
    assert expected_ids, "the sample should contain impossible travel"
    state = TravelState()
    ordered = sorted(
        (e for e in events if e["type"] == "s" and e["latitude"] is not None and e["user_name"]),
        key=lambda e: (e["timestamp"], e["event_id"]),
    )
    hops = [
        h
        for e in ordered
        for h in state.add(
            e["user_name"], int(e["timestamp"].timestamp() * 1e9), e["event_id"], e["latitude"], e["longitude"]
        )
    ]
    assert {i for h in hops for i in h.event_ids} == expected_ids
    # and the live detector, fed in batches, alerts on the same users
    live = LiveDetector(only=["impossible_travel"])
    alerted = {a.key for lo in range(0, len(events), 50) for a in live.feed(frame(events[lo : lo + 50]))}
    assert alerted == expected_users


def test_hop_arithmetic_matches_the_rule():
    assert hop_km(48.8566, 2.3522, 48.8566, 2.3522) == 0.0
    assert 5830 < hop_km(48.8566, 2.3522, 40.7128, -74.0060) < 5840  # Paris - New York
    state = TravelState()
    t0 = 1_700_000_000_000_000_000
    assert state.add("u", t0, "a", 48.8566, 2.3522) == []
    # 5,837 km in 6 h is 973 km/h: possible; in 5 h: 1,167 km/h, impossible
    assert state.add("u", t0 + 6 * 3600 * 10**9, "b", 40.7128, -74.0060) == []
    (hop,) = state.add("u", t0 + 11 * 3600 * 10**9, "c", 48.8566, 2.3522)
    assert hop.event_ids == ("b", "c") and hop.user == "u"
    assert state.add("u", t0 + 11 * 3600 * 10**9, "c", 48.8566, 2.3522) == []  # the same login again


def test_a_late_login_is_compared_with_both_neighbours():
    state = TravelState(lateness_ns=3600 * 10**9)
    t0 = 1_700_000_000_000_000_000
    state.add("u", t0, "a", 48.8566, 2.3522)
    state.add("u", t0 + 60 * 10**9, "c", 48.8049, 2.1204)  # Versailles, a minute later: fine
    hops = state.add("u", t0 + 30 * 10**9, "b", 35.6762, 139.6503)  # Tokyo in between, arriving late
    assert sorted(h.event_ids for h in hops) == [("a", "b"), ("b", "c")]


def test_memory_is_bounded():
    state = TravelState(max_users=10, max_per_user=4)
    t0 = 1_700_000_000_000_000_000
    for i in range(100):
        state.add(f"u{i % 20}", t0 + i * 10**9, f"e{i}", 48.0, 2.0)
    assert len(state) == 10 and state.evicted == 90
    assert all(len(kept) <= 4 for kept in state._users.values())
