"""Rules Sigma cannot express, as SQL with the same metadata (filled in below)."""

from __future__ import annotations

from authviz.detections.model import Rule


def sql_rules() -> list[Rule]:
    return []
