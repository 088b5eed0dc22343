"""Correlations in SQL against a literal reading of their meaning, on random events.

The compiled SQL prunes groups and events before its window passes, and takes short cuts (a
threshold every event meets; distinct values counted only in groups holding an uncommon value).
The reference here does none of that: for each event it looks at the window ``[t - timespan, t]``
of its group, marks the events of every window that meets the condition, and cuts the marked
events of a group into incidents where two consecutive ones are more than a timespan apart or an
unmarked event lies between them (``authviz.detections.compile.correlation_query``'s docstring).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from authviz.auth0 import read_logs
from authviz.detections import DetectionEngine, load_rule_text

SPAN = timedelta(minutes=10)
START = datetime(2025, 3, 1, 10, tzinfo=timezone.utc)
TYPES = ("s", "f", "pla", "ss")

RULE = """title: base
name: base
id: bbbbbbbb-0000-4000-8000-000000000001
logsource: {{product: auth0}}
detection: {{sel: {{data.type: [s, f, pla, ss]}}, condition: sel}}
---
title: measured
id: bbbbbbbb-0000-4000-8000-0000000000ff
correlation:
    type: {kind}
    rules: [base]
    group-by: [data.ip]
    timespan: 10m
    condition: {{{op}: {threshold}{field}}}
level: high
"""


def _measure(kind: str, field: str | None, window: list[dict]) -> int:
    if kind == "event_count":
        return len(window)
    return len({e[field] for e in window if e[field] is not None})


def reference(events: list[dict], kind: str, field: str | None, op: str, threshold: int) -> set[tuple]:
    """{(ip, count, event ids in order)} of each incident, read literally."""
    meets = {"gte": lambda m: m >= threshold, "gt": lambda m: m > threshold}[op]
    found = set()
    for ip in {e["ip"] for e in events}:
        group = sorted((e for e in events if e["ip"] == ip), key=lambda e: (e["at"], e["id"]))
        marked = [False] * len(group)
        for i, event in enumerate(group):
            window = [j for j, other in enumerate(group) if event["at"] - SPAN <= other["at"] <= event["at"]]
            if meets(_measure(kind, field, [group[j] for j in window])):
                for j in window:
                    marked[j] = True
        incident: list[dict] = []
        for i, event in enumerate(group):
            if marked[i] and incident and event["at"] - incident[-1]["at"] <= SPAN and marked[i - 1]:
                incident.append(event)
                continue
            if incident:
                found.add((ip, len(incident), tuple(e["id"] for e in incident)))
            incident = [event] if marked[i] else []
        if incident:
            found.add((ip, len(incident), tuple(e["id"] for e in incident)))
    return found


event = st.fixed_dictionaries(
    {
        "minute": st.integers(0, 40),
        "type": st.sampled_from(TYPES) | st.just("s"),  # mostly one type, as in a tenant's stream
        "ip": st.sampled_from(["198.51.100.1", "198.51.100.2", "2001:db8::3"]),
        "user_name": st.sampled_from(["ann@x.example", "bob@x.example", "cy@x.example", None]),
    }
)
spec = st.tuples(
    st.sampled_from([("event_count", None), ("value_count", "type"), ("value_count", "user_name")]),
    st.sampled_from(["gte", "gt"]),
    st.integers(0, 3),
)


def _at(minute: int, type_: str = "s", ip: str = "198.51.100.1", user_name: str | None = None) -> dict:
    return {"minute": minute, "type": type_, "ip": ip, "user_name": user_name}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, min_size=1, max_size=25), spec)
# one value only, in a group of its own: a threshold of 1 distinct value is met
@example([_at(0)], (("value_count", "type"), "gte", 1))
@example([_at(0)], (("value_count", "type"), "gt", 0))
# the uncommon value sorts after the common one ("ss" > "s"), beside a group of common values only
@example(
    [_at(0), _at(3, "ss"), _at(5, ip="198.51.100.2"), _at(6, ip="198.51.100.2")], (("value_count", "type"), "gte", 2)
)
# a missing value still meets "at least 0 distinct values"; one event does not make two
@example([_at(0), _at(30, user_name="ann@x.example")], (("value_count", "user_name"), "gte", 0))
@example([_at(0), _at(30), _at(35)], (("event_count", None), "gte", 2))
@example([_at(0), _at(30), _at(35)], (("event_count", None), "gt", 0))
def test_correlation_sql_finds_the_incidents_of_the_literal_reading(drawn, measured):
    (kind, field), op, threshold = measured
    records, events = [], []
    for n, item in enumerate(drawn):
        at = START + timedelta(minutes=item["minute"])
        log_id = f"90000000000000000000{n:05d}"
        data = {"date": at.isoformat().replace("+00:00", "Z"), "type": item["type"], "log_id": log_id, "ip": item["ip"]}
        if item["user_name"] is not None:
            data["user_name"] = item["user_name"]
        records.append({"log_id": log_id, "data": data})
        events.append({"id": log_id, "at": at, "ip": item["ip"], "type": item["type"], "user_name": item["user_name"]})
    text = RULE.format(kind=kind, op=op, threshold=threshold, field=f", field: data.{field}" if field else "")
    loaded = load_rule_text(text, "measured.yml")
    assert not loaded.problems, [str(p) for p in loaded.problems]
    with DetectionEngine() as engine:
        engine.add_frame(read_logs(records).frame)
        engine.define_events()
        report = engine.run(loaded.rules)
        assert not report.failed, report.failed
        found = engine.findings()
    by_sql = {(row["group"]["data.ip"], row["count"], tuple(row["event_ids"])) for _, row in found.iterrows()}
    assert by_sql == reference(events, kind, field, op, threshold)
