"""A month of simulated traffic: the detections find exactly the injected attacks, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics_helpers import records_to_frame
from authviz.analytics import new_vs_returning, run_detections, score_detections, time_series, top_countries
from authviz.simulator import BUILTIN_SCENARIOS, month_of_traffic


def _match(findings, attacks):
    """Pair each finding with the injected attack of the same detection and key it covers."""
    unmatched, pairs = [], []
    remaining = list(attacks)
    for row in findings.itertuples():
        hit = next(
            (
                a
                for a in remaining
                if a.detection == row.detection and a.key == row.key and row.start <= a.end and a.start <= row.end
            ),
            None,
        )
        if hit is None:
            unmatched.append(row.summary)
        else:
            remaining.remove(hit)
            pairs.append((row, hit))
    return pairs, unmatched, remaining


@pytest.mark.parametrize("seed,days,per_day", [(1, 30, 2000), (2024, 12, 3000)])
def test_month_finds_exactly_the_injected_attacks(seed, days, per_day):
    month = month_of_traffic(seed=seed, start=datetime(2026, 10, 1, tzinfo=UTC), days=days, events_per_day=per_day)
    frame = records_to_frame(month.records)
    assert len(frame) == len(month.records)
    findings = run_detections(frame)
    pairs, extra, missed = _match(findings, month.attacks)
    assert extra == [] and missed == []
    assert len(findings) == len(month.attacks) == len(BUILTIN_SCENARIOS) + 2
    for row, attack in pairs:
        assert set(attack.log_ids) <= set(row.evidence_ids), attack.kind
        assert row.severity == attack.severity, (attack.kind, row.summary)
    table, unexpected = score_detections(findings, month.attacks)
    assert table["found"].all() and table["evidence_complete"].all() and unexpected.empty
    assert (table["severity"] == table["expected_severity"]).all()


def test_score_detections_reports_misses_and_extras():
    month = month_of_traffic(seed=5, days=4, events_per_day=300, users=100)
    findings = run_detections(records_to_frame(month.records))
    table, unexpected = score_detections(findings.iloc[1:], month.attacks)
    assert (~table["found"]).sum() == 1 and unexpected.empty
    table, unexpected = score_detections(findings, month.attacks[1:])
    assert table["found"].all() and len(unexpected) == 1


def test_month_trends_look_like_a_month():
    month = month_of_traffic(seed=3, days=30, events_per_day=600, users=300)
    frame = records_to_frame(month.records)
    daily = time_series(frame, "1D")
    assert len(daily) == 30 and (daily["logins"] > 5 * daily["signups"]).all()
    assert daily["logins"].sum() > 12 * daily["signups"].sum()
    assert daily["failure_rate"].between(0.03, 0.25).all()
    assert top_countries(frame, 3)["country_name"].iloc[0] == "United States"
    users = new_vs_returning(frame, "1D")
    assert users["new"].iloc[0] > 0 and users["returning"].iloc[0] == 0
    assert users["returning"].iloc[-1] > users["new"].iloc[-1]
