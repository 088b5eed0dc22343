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
        candidates = findings.index[(findings["detection"] == attack.detection) & (findings["key"] == attack.key)
                                    & (findings["start"] <= end) & (findings["end"] >= start)] if len(findings) else []
        hit = next((i for i in candidates if i not in used), None)
        if hit is not None:
            used.add(hit)
            row = findings.loc[hit]
            rows.append({"kind": attack.kind, "detection": attack.detection, "key": attack.key, "start": start,
                         "found": True, "expected_severity": attack.severity, "severity": row["severity"],
                         "evidence_complete": set(attack.log_ids) <= set(row["evidence_ids"]), "summary": row["summary"]})
        else:
            rows.append({"kind": attack.kind, "detection": attack.detection, "key": attack.key, "start": start,
                         "found": False, "expected_severity": attack.severity, "severity": None,
                         "evidence_complete": False, "summary": None})
    table = pd.DataFrame(rows, columns=["kind", "detection", "key", "start", "found", "expected_severity", "severity",
                                        "evidence_complete", "summary"])
    unexpected = findings.loc[[i for i in findings.index if i not in used]] if len(findings) else findings
    return table, unexpected
