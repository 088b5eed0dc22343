"""Compare findings with known ground truth (the simulator's injected attacks).

An injected attack is *found* by the first finding of the same detection and key whose time span
overlaps the attack's; each finding explains at most one attack. Findings that explain none are
*unexpected* (false positives, or real activity the ground truth does not know about).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd


def score_detections(findings: pd.DataFrame, attacks: Iterable[Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per attack: kind, detection, key, start, found, expected_severity, severity,
    evidence_complete, summary; the findings that match no attack).

    ``attacks`` are objects with ``kind``, ``detection``, ``key``, ``start``, ``end``,
    ``log_ids`` and ``severity`` (e.g. :class:`authviz.simulator.InjectedAttack`)."""
    used: set[int] = set()
    rows = []
    for attack in attacks:
        start, end = pd.Timestamp(attack.start), pd.Timestamp(attack.end)
        candidates = (
            findings.index[
                (findings["detection"] == attack.detection)
                & (findings["key"] == attack.key)
                & (findings["start"] <= end)
                & (findings["end"] >= start)
            ]
            if len(findings)
            else []
        )
        hit = next((i for i in candidates if i not in used), None)
        if hit is not None:
            used.add(hit)
            row = findings.loc[hit]
            rows.append(
                {
                    "kind": attack.kind,
                    "detection": attack.detection,
                    "key": attack.key,
                    "start": start,
                    "found": True,
                    "expected_severity": attack.severity,
                    "severity": row["severity"],
                    "evidence_complete": set(attack.log_ids) <= set(row["evidence_ids"]),
                    "summary": row["summary"],
                }
            )
        else:
            rows.append(
                {
                    "kind": attack.kind,
                    "detection": attack.detection,
                    "key": attack.key,
                    "start": start,
                    "found": False,
                    "expected_severity": attack.severity,
                    "severity": None,
                    "evidence_complete": False,
                    "summary": None,
                }
            )
    table = pd.DataFrame(
        rows,
        columns=[
            "kind",
            "detection",
            "key",
            "start",
            "found",
            "expected_severity",
            "severity",
            "evidence_complete",
            "summary",
        ],
    )
    unexpected = findings.loc[[i for i in findings.index if i not in used]] if len(findings) else findings
    return table, unexpected


def score_rule_findings(
    findings: pd.DataFrame, attacks: Iterable[Any], rule_names: dict[str, str | None]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the findings of detection rules (``authviz detect``: ``rule_id``, ``group``, ``first``,
    ``last``, ``event_ids``) against injected attacks, as :func:`score_detections` does for
    ``run_detections``.

    ``rule_names`` maps a rule id to its name (the built-in rules are named after the detections,
    e.g. ``brute_force``). An attack with a ``detection`` is found by a finding of the rule of that
    name whose group holds the attack's key and whose span overlaps the attack; a catalog attack
    (``detection`` empty) by a finding of one of its ``rule_ids`` that overlaps it and lists one of
    its records; when several do, the finding of the rule listed first in ``rule_ids`` (the rule
    written for that attack) is credited. Returns (one row per attack: kind, rule, key, start,
    found, evidence_complete, rule_id, title; the findings that explain no attack).
    """
    used: set[int] = set()
    rows = []
    for attack in attacks:
        start, end = pd.Timestamp(attack.start), pd.Timestamp(attack.end)
        ids = set(attack.log_ids)
        preference = list(dict.fromkeys(getattr(attack, "rule_ids", ())))
        hit, rank = None, len(preference)
        for i, finding in findings.iterrows():
            if i in used or not (pd.Timestamp(finding["first"]) <= end and pd.Timestamp(finding["last"]) >= start):
                continue
            group = finding["group"] if isinstance(finding["group"], dict) else {}
            if attack.detection:
                if rule_names.get(finding["rule_id"]) == attack.detection and attack.key in map(str, group.values()):
                    hit = i
                    break
            elif finding["rule_id"] in preference and ids & set(finding["event_ids"]):
                if preference.index(finding["rule_id"]) < rank:
                    hit, rank = i, preference.index(finding["rule_id"])
                    if rank == 0:
                        break
        if hit is not None:
            used.add(hit)
            row = findings.loc[hit]
            rows.append(
                {
                    "kind": attack.kind,
                    "rule": attack.detection or rule_names.get(row["rule_id"]) or row["title"],
                    "key": attack.key,
                    "start": start,
                    "found": True,
                    "evidence_complete": ids <= set(row["event_ids"]),
                    "rule_id": row["rule_id"],
                    "title": row["title"],
                }
            )
        else:
            rows.append(
                {
                    "kind": attack.kind,
                    "rule": attack.detection,
                    "key": attack.key,
                    "start": start,
                    "found": False,
                    "evidence_complete": False,
                    "rule_id": None,
                    "title": None,
                }
            )
    table = pd.DataFrame(
        rows, columns=["kind", "rule", "key", "start", "found", "evidence_complete", "rule_id", "title"]
    )
    unexpected = findings.loc[[i for i in findings.index if i not in used]] if len(findings) else findings
    return table, unexpected
