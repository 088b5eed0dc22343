"""The alert: what the live evaluation says about an incident, for people and for receivers.

Stable fields (the dashboard, ``authviz tail`` and the webhook document use them): ``detection,
severity, key, start, end, count, evidence_ids, summary, update``, ``message``, ``to_dict()``,
and ``rule_id``, ``title``, ``what_to_do``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

__all__ = ["Alert"]


@dataclass(frozen=True)
class Alert:
    """One alert about an incident. ``message`` is what a feed or ``authviz tail`` prints.

    ``detection`` names the rule for programs (the rule's Sigma ``name`` when it has one, such
    as ``brute_force``, else its id); ``key`` is what the incident is grouped by (a user, an IP,
    the tenant); ``start``/``end`` are its first and last evidence (event time); ``count`` the
    evidence events; ``update`` is true when this alert tells more about an incident already
    alerted on.
    """

    detection: str
    severity: str
    key: str
    start: datetime
    end: datetime
    count: int
    evidence_ids: tuple[str, ...]
    summary: str
    update: bool = False
    #: the rule's id (a Sigma ``id``; the detection name for rules without one)
    rule_id: str = ""
    #: the rule's title, for people
    title: str = ""
    #: what to do about it (the rule's prevention / response text)
    what_to_do: str = ""

    @property
    def message(self) -> str:
        return f"{'updated ' if self.update else ''}{self.severity} alert: {self.summary}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "detection": self.detection,
            "severity": self.severity,
            "key": self.key,
            "start": pd.Timestamp(self.start).isoformat(),
            "end": pd.Timestamp(self.end).isoformat(),
            "count": self.count,
            "evidence_ids": list(self.evidence_ids),
            "summary": self.summary,
            "update": self.update,
            "message": self.message,
            "rule_id": self.rule_id or self.detection,
            "title": self.title,
            "what_to_do": self.what_to_do,
        }
