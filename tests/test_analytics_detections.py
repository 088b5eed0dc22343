"""Every detection at and around its threshold, with hand-made event sequences."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from analytics_helpers import ev, frame
from authviz.analytics import FINDING_COLUMNS, run_detections
from authviz.analytics import detections as det
from authviz.analytics import windows as win

PARIS = (48.8566, 2.3522)


def _names(findings: pd.DataFrame) -> list[str]:
    return findings["detection"].tolist()


def _point_at(km: float, origin=PARIS) -> tuple[float, float]:
    """A point ``km`` due north of ``origin`` on the haversine sphere."""
    return origin[0] + math.degrees(km / 6371.0088), origin[1]


# ------------------------------------------------------------------ brute force
def test_brute_force_four_failures_is_quiet_five_is_a_finding():
    four = [ev("fp", i) for i in range(4)]
    assert det.brute_force(frame(four)).empty
    five = four + [ev("fu", 4)]
    found = det.brute_force(frame(five))
    assert list(found.columns) == list(FINDING_COLUMNS)
    row = found.iloc[0]
    assert (row.detection, row.severity, row.key, row["count"]) == ("brute_force", "info", "alice@example.com", 5)
    assert sorted(row.evidence_ids) == sorted(e["event_id"] for e in five)
    assert row.summary.startswith("brute force on alice@example.com: 5 failed logins")


def test_brute_force_window_edges_and_success_raises_severity():
    spread = [ev("fp", i * 15) for i in range(5)]  # 60 min from first to last: inside a closed 1 h window
    assert len(det.brute_force(frame(spread))) == 1
    too_slow = [ev("fp", i * 15.01) for i in range(5)]
    assert det.brute_force(frame(too_slow)).empty
    assert len(det.brute_force(frame(too_slow), window="2h")) == 1
    success = ev("s", 5)
    found = det.brute_force(frame([ev("fp", i) for i in range(5)] + [success]))
    assert found.iloc[0].severity == "medium" and success["event_id"] in found.iloc[0].evidence_ids
    assert found.iloc[0]["count"] == 6 and "then a successful login" in found.iloc[0].summary
    late = det.brute_force(frame([ev("fp", i) for i in range(5)] + [ev("s", 4 + 61)]))
    assert late.iloc[0].severity == "info"
    other_user = det.brute_force(frame([ev("fp", i) for i in range(5)] + [ev("s", 5, user="bob@example.com")]))
    assert other_user.iloc[0].severity == "info"


def test_brute_force_threshold_is_a_parameter_and_users_are_separate():
    events = [ev("fp", i, user=f"u{i % 2}@example.com") for i in range(8)]  # 4 each
    assert det.brute_force(frame(events)).empty
    assert len(det.brute_force(frame(events), min_failures=4)) == 2
    # failed silent auth is not a login failure
    assert det.brute_force(frame([ev("fsa", i) for i in range(10)])).empty


def test_two_bursts_far_apart_are_two_findings():
    events = [ev("fp", i) for i in range(5)] + [ev("fp", 300 + i) for i in range(6)]
    found = det.brute_force(frame(events))
    assert found["count"].tolist() == [5, 6]


# ------------------------------------------------------------------ credential stuffing
@pytest.mark.parametrize("users,expected", [(9, 0), (10, 1)])
def test_credential_stuffing_nine_vs_ten_users(users, expected):
    events = [ev("fu", i, user=f"victim{i}@example.com", ip="203.0.113.7") for i in range(users)]
    events += [ev("fp", i, user="victim0@example.com", ip="203.0.113.7") for i in range(5)]  # repeats: not distinct
    found = det.credential_stuffing(frame(events))
    assert len(found) == expected
    if expected:
        row = found.iloc[0]
        assert (row.key, row.severity) == ("203.0.113.7", "info")
        assert row.summary == "credential stuffing from 203.0.113.7: 10 users, 0 successes"


def test_credential_stuffing_success_is_high_and_distinct_users_need_the_window():
    events = [ev("fu", i, user=f"v{i}@example.com", ip="203.0.113.7") for i in range(14)]
    success = ev("s", 15, user="v3@example.com", ip="203.0.113.7")
    found = det.credential_stuffing(frame(events + [success, ev("s", 15, ip="192.0.2.99")]))
    row = found.iloc[0]
    assert row.severity == "high" and row.summary == "credential stuffing from 203.0.113.7: 14 users, 1 success"
    assert success["event_id"] in row.evidence_ids and row["count"] == 15
    # ten users, but never ten within one hour of each other
    slow = [ev("fu", i * 7, user=f"v{i}@example.com", ip="203.0.113.7") for i in range(10)]
    assert det.credential_stuffing(frame(slow)).empty
    assert len(det.credential_stuffing(frame(slow), window="63min")) == 1
    # ten users from ten different IPs is not stuffing
    spread = [ev("fu", i, user=f"v{i}@example.com", ip=f"203.0.113.{i}") for i in range(12)]
    assert det.credential_stuffing(frame(spread)).empty


def test_rolling_distinct_matches_a_brute_force_count():
    rng = np.random.default_rng(4)
    n = 400
    codes = np.sort(rng.integers(0, 5, n))
    t = np.empty(n, dtype=np.int64)
    for c in range(5):
        m = codes == c
        t[m] = np.sort(rng.integers(0, 10_000, m.sum()))
    values = rng.integers(-1, 12, n)
    got = win.rolling_distinct(codes, t, values, 700)
    for i in range(n):
        window = (codes == codes[i]) & (t >= t[i] - 700) & (t <= t[i]) & (values >= 0)
        assert got[i] == len(set(values[window])), i


# ------------------------------------------------------------------ impossible travel
@pytest.mark.parametrize("km,expected", [(499, 0), (501, 1)])
def test_impossible_travel_distance_threshold(km, expected):
    lat, lon = _point_at(km)
    events = [
        ev("s", 0, lat=PARIS[0], lon=PARIS[1], city="Paris", country="FR"),
        ev("s", 10, lat=lat, lon=lon, city="Elsewhere", country="XX"),
    ]  # 10 min: > 1,000 km/h
    assert len(det.impossible_travel(frame(events))) == expected


@pytest.mark.parametrize("minutes,expected", [(29.9, 1), (30.1, 0)])
def test_impossible_travel_speed_threshold(minutes, expected):
    lat, lon = _point_at(501)  # 501 km in 30 min would be 1,002 km/h
    events = [ev("s", 0, lat=PARIS[0], lon=PARIS[1]), ev("s", minutes, lat=lat, lon=lon)]
    found = det.impossible_travel(frame(events), min_speed_kmh=1000 * 501 / 500)
    assert len(found) == expected


def test_impossible_travel_chain_is_one_finding_and_other_users_do_not_mix():
    sydney = (-33.8688, 151.2093)
    events = [
        ev("s", 0, lat=PARIS[0], lon=PARIS[1], city="Paris", country="FR"),
        ev("s", 60, lat=sydney[0], lon=sydney[1], city="Sydney", country="AU"),
        ev("s", 120, lat=PARIS[0], lon=PARIS[1], city="Paris", country="FR"),
        ev("s", 61, user="bob@example.com", lat=PARIS[0], lon=PARIS[1]),
        ev("fp", 30, lat=0.0, lon=0.0),
    ]  # failures do not count
    found = det.impossible_travel(frame(events))
    assert len(found) == 1
    row = found.iloc[0]
    assert row.key == "alice@example.com" and row["count"] == 3 and row.severity == "medium"
    assert "Paris, FR → Sydney, AU" in row.summary and "km/h" in row.summary
    same_instant = det.impossible_travel(frame([ev("s", 0, lat=PARIS[0], lon=PARIS[1]), ev("s", 0, lat=0.0, lon=0.0)]))
    assert "same instant" in same_instant.iloc[0].summary
    no_geo = det.impossible_travel(frame([ev("s", 0), ev("s", 1, lat=0.0, lon=0.0)]))
    assert no_geo.empty


# ------------------------------------------------------------------ breached password, reuse
def test_breached_password_family_and_grouping():
    assert det.breached_password(frame([ev("fp", 0), ev("s", 1)])).empty
    found = det.breached_password(
        frame(
            [
                ev("pwd_leak", 0),
                ev("reset_pwd_leak", 10),
                ev("signup_pwd_leak", 0, user=None, ip="192.0.2.5"),
                ev("pwd_leak", 180),
            ]
        )
    )
    assert found["key"].tolist() == ["192.0.2.5", "alice@example.com", "alice@example.com"]
    assert found["count"].tolist() == [1, 2, 1] and set(found["severity"]) == {"medium"}


def test_refresh_token_reuse_needs_the_reuse_description():
    ordinary = ev("ferrt", 0, description="Unsuccessful Refresh Token exchange, invalid refresh token")
    assert det.refresh_token_reuse(frame([ordinary])).empty
    reuse = ev("ferrt", 1, description="Unsuccessful Refresh Token exchange, reused refresh token detected")
    found = det.refresh_token_reuse(frame([ordinary, reuse]))
    assert found["evidence_ids"].tolist() == [[reuse["event_id"]]] and found.iloc[0].severity == "high"
    assert det.refresh_token_reuse(frame([ev("fertft", 0, description="reused refresh token")])).empty


# ------------------------------------------------------------------ lockouts, sign-ups, MFA
@pytest.mark.parametrize("n,expected", [(4, 0), (5, 1)])
def test_lockout_spike_more_than_four_in_an_hour(n, expected):
    codes = ["limit_wc", "limit_mu", "limit_sul"]
    events = [ev(codes[i % 3], i * 14, ip=f"192.0.2.{i}") for i in range(n)]  # 56 min span for 5
    assert len(det.lockout_spike(frame(events))) == expected
    assert det.lockout_spike(frame([ev("limit_wc", i * 16) for i in range(5)])).empty  # 64 min span


@pytest.mark.parametrize("n,expected", [(19, 0), (20, 1)])
def test_signup_fraud_twenty_in_sixty_minutes(n, expected):
    kinds = ["ss", "fs", "signup_pwd_leak"]
    events = [ev(kinds[i % 3], i * 3, user=f"bot{i}@example.com") for i in range(n)]
    found = det.signup_fraud(frame(events))
    assert len(found) == expected
    if expected:
        assert found.iloc[0].key == "acme" and found.iloc[0]["count"] == 20
    spaced = [ev("ss", i * 3.2, user=f"bot{i}@example.com") for i in range(20)]  # 60.8 min
    assert det.signup_fraud(frame(spaced)).empty
    other_tenants = [ev("ss", i, user=f"b{i}@x", tenant=f"t{i % 2}") for i in range(30)]
    assert det.signup_fraud(frame(other_tenants)).empty


@pytest.mark.parametrize("n,expected", [(4, 0), (5, 1)])
def test_mfa_push_fatigue_five_in_thirty_minutes(n, expected):
    events = [ev("gd_send_pn", i * 7.5, user=None, user_id="auth0|abc") for i in range(n)]  # 30 min span for 5
    found = det.mfa_push_fatigue(frame(events))
    assert len(found) == expected
    if expected:
        assert found.iloc[0].key == "auth0|abc" and found.iloc[0].severity == "high"
    assert det.mfa_push_fatigue(frame([ev("gd_send_pn", i * 7.6) for i in range(5)])).empty


# ------------------------------------------------------------------ run_detections
def test_run_detections_concatenates_sorted_and_takes_thresholds():
    events = [ev("fp", 50 + i) for i in range(3)] + [ev("pwd_leak", 0)]
    found = run_detections(frame(events))
    assert _names(found) == ["breached_password"]
    found = run_detections(frame(events), brute_force={"min_failures": 3})
    assert _names(found) == ["breached_password", "brute_force"]
    assert _names(run_detections(frame(events), only=["brute_force"], brute_force={"min_failures": 3})) == [
        "brute_force"
    ]
    with pytest.raises(ValueError, match="unknown detections"):
        run_detections(frame(events), nope={})


def test_empty_and_missing_values_are_fine():
    empty = run_detections(frame([]))
    assert empty.empty and list(empty.columns) == list(FINDING_COLUMNS)
    weird = [ev("fp", i, user=None, ip=None) for i in range(6)] + [ev("fp", i, user="") for i in range(3)]
    weird += [ev("s", 1, lat=None, lon=None), ev("limit_wc", 1, tenant=None)]
    found = run_detections(frame(weird))
    assert found.empty


def test_summary_durations_read_naturally():
    assert det._duration(pd.Timedelta(seconds=45)) == "45 s"
    assert det._duration(pd.Timedelta(minutes=30)) == "30 min"
    assert det._duration(timedelta(hours=3)) == "3.0 h"


def test_user_key_falls_back_to_email_then_user_id():
    events = [
        ev("fp", 0, user=None, email="e@example.com"),
        ev("fp", 0, user="", user_id="auth0|1"),
        ev("fp", 0, user="n@example.com", user_id="auth0|2"),
        ev("fp", 0, user=None, ip=None),
    ]
    assert det.user_key(frame(events)).tolist() == ["e@example.com", "auth0|1", "n@example.com", None]
    pushes = [ev("gd_send_pn", i, user="", user_id="auth0|77") for i in range(5)]
    assert det.mfa_push_fatigue(frame(pushes))["key"].tolist() == ["auth0|77"]


def test_a_frame_not_yet_in_the_schema_is_conformed():
    raw = pd.DataFrame(
        {
            "event_id": [f"x{i}" for i in range(5)],
            "type": ["fp"] * 5,
            "category": ["login_failure"] * 5,
            "timestamp": [f"2026-11-02T09:0{i}:00Z" for i in range(5)],
            "user_name": ["bob@example.com"] * 5,
        }
    )
    found = run_detections(raw)
    assert _names(found) == ["brute_force"] and found.iloc[0]["count"] == 5


def test_a_catalog_attack_is_credited_to_the_rule_written_for_it():
    from types import SimpleNamespace

    from authviz.analytics import score_rule_findings

    t0 = pd.Timestamp("2026-11-01T05:00:00Z")
    attack = SimpleNamespace(
        kind="disposable-signups",
        detection="",
        key="acme",
        start=t0,
        end=t0 + pd.Timedelta(minutes=50),
        log_ids=("a", "b"),
        rule_ids=("disposable", "volume"),
    )
    findings = pd.DataFrame(
        [  # the generic volume rule's finding comes first in time order
            {"rule_id": "volume", "title": "V", "group": {}, "first": t0, "last": t0, "event_ids": ["a"]},
            {"rule_id": "disposable", "title": "D", "group": {}, "first": t0, "last": t0, "event_ids": ["a", "b"]},
        ]
    )
    table, unexpected = score_rule_findings(findings, [attack], {})
    assert table["rule_id"].tolist() == ["disposable"] and table["evidence_complete"].tolist() == [True]
    assert unexpected["rule_id"].tolist() == ["volume"]
