"""Live alerts: the batch detections run incrementally over a sliding window of recent events.

:class:`LiveDetector` keeps the last ``horizon`` of events (at most ``max_events``, oldest dropped
first), reruns :func:`~authviz.analytics.run_detections` on that buffer at every :meth:`feed`, and
turns findings into :class:`Alert` objects. De-duplication: an incident is identified by
(detection, key) and stays the same incident while new findings start no later than
``incident_gap`` after its last evidence; it alerts once when first seen, then again (``update=True``)
only when its severity rises or its evidence has at least doubled since the last alert, so an
ongoing attack produces O(log n) alerts, not one per batch.

Cost: each ``feed`` is O(buffer) (vectorised); with the default ``max_events=50_000`` a feed takes
tens to a few hundred milliseconds, and the buffer holds only the columns detections read (no
``raw`` JSON), about 200 bytes per event. Not thread-safe: call it from one thread (the live
client's pump), batching events rather than feeding them one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from authviz.analytics.detections import DETECTION_COLUMNS, SEVERITIES, run_detections
from authviz.auth0 import schema


@dataclass(frozen=True)
class Alert:
    """One alert about an incident. ``message`` is what a feed or ``authviz tail`` prints."""

    detection: str
    severity: str
    key: str
    start: datetime
    end: datetime
    count: int
    evidence_ids: tuple[str, ...]
    summary: str
    update: bool = False
    #: the rule's id (a Sigma ``id`` for rules; the detection name for built-ins without one)
    rule_id: str = ""
    #: the rule's title, for people
    title: str = ""
    #: what to do about it (the rule's prevention / response text)
    what_to_do: str = ""

    @property
    def message(self) -> str:
        return f"{'updated ' if self.update else ''}{self.severity} alert: {self.summary}"

    def to_dict(self) -> dict[str, Any]:
        return {"detection": self.detection, "severity": self.severity, "key": self.key,
                "start": pd.Timestamp(self.start).isoformat(), "end": pd.Timestamp(self.end).isoformat(),
                "count": self.count, "evidence_ids": list(self.evidence_ids), "summary": self.summary,
                "update": self.update, "message": self.message, "rule_id": self.rule_id or self.detection,
                "title": self.title, "what_to_do": self.what_to_do}


@dataclass
class _Incident:
    severity: str
    end: pd.Timestamp
    alerted_count: int
    evidence: set[str] = field(default_factory=set)


def _as_frame(events: pd.DataFrame | Iterable[Any]) -> pd.DataFrame:
    if isinstance(events, pd.DataFrame):
        return schema.conform(events)
    rows = []
    for event in events:
        if hasattr(event, "to_dict"):
            event = event.to_dict(include_raw=False)
        if not isinstance(event, Mapping):
            raise TypeError(f"LiveDetector.feed takes schema rows (mappings, AuthEvent or a DataFrame), not {type(event).__name__}")
        rows.append({k: v for k, v in event.items() if k != "raw"})
    return schema.conform(pd.DataFrame(rows)) if rows else schema.empty_frame()


class LiveDetector:
    """Incremental detections. ``thresholds`` are passed to :func:`run_detections` per detection
    (``{"brute_force": {"min_failures": 3}}``); ``only`` limits the detections run."""

    def __init__(self, *, horizon: timedelta = timedelta(hours=24), max_events: int = 50_000,
                 incident_gap: timedelta = timedelta(hours=1), thresholds: Mapping[str, Mapping[str, Any]] | None = None,
                 only: Iterable[str] | None = None) -> None:
        if max_events < 1:
            raise ValueError("max_events must be >= 1")
        self.horizon = pd.Timedelta(horizon)
        self.max_events = int(max_events)
        self.incident_gap = pd.Timedelta(incident_gap)
        self.thresholds = {k: dict(v) for k, v in (thresholds or {}).items()}
        self.only = list(only) if only is not None else None
        run_detections(schema.empty_frame(), only=self.only, **self.thresholds)  # validates names early
        self._buffer = schema.empty_frame()[list(DETECTION_COLUMNS)]  # no raw JSON kept: bounded memory
        self._incidents: dict[tuple[str, str], _Incident] = {}

    @property
    def buffered(self) -> int:
        """Events currently in the sliding window."""
        return len(self._buffer)

    def feed(self, events: pd.DataFrame | Iterable[Any]) -> list[Alert]:
        """Add events (any order; duplicates by ``event_id`` are ignored) and return new alerts."""
        new = _as_frame(events)[list(DETECTION_COLUMNS)]
        if new.empty:
            return []
        buffer = pd.concat([self._buffer, new], ignore_index=True) if len(self._buffer) else new.reset_index(drop=True)
        repeated = buffer["event_id"].notna().to_numpy(dtype=bool) & buffer.duplicated("event_id", keep="first").to_numpy(dtype=bool)
        buffer = buffer.loc[~repeated]  # events without an id are never taken for repeats
        buffer = buffer.sort_values("timestamp", kind="stable")
        latest = buffer["timestamp"].max()
        if pd.notna(latest):
            buffer = buffer.loc[buffer["timestamp"] >= latest - self.horizon]
        self._buffer = buffer.iloc[-self.max_events:].reset_index(drop=True)
        findings = run_detections(self._buffer, only=self.only, **self.thresholds)
        alerts = [a for a in (self._consider(row) for row in findings.itertuples(index=False)) if a is not None]
        if pd.notna(latest):
            stale = latest - self.horizon - self.incident_gap
            self._incidents = {k: v for k, v in self._incidents.items() if v.end >= stale}
        return alerts

    def _consider(self, row: Any) -> Alert | None:
        ident = (row.detection, row.key)
        known = self._incidents.get(ident)
        if known is not None and row.start > known.end + self.incident_gap:
            known = None  # a new incident for the same key
        ids = {i for i in row.evidence_ids if isinstance(i, str)}
        if known is None:
            self._incidents[ident] = _Incident(row.severity, row.end, int(row.count), ids)
            return self._alert(row, int(row.count), update=False)
        known.evidence |= ids
        known.end = max(known.end, row.end)
        # evidence seen so far: the union of ids (events slide out of the buffer), or this finding's count
        count = max(len(known.evidence), int(row.count))
        rises = SEVERITIES.index(row.severity) > SEVERITIES.index(known.severity)
        grew = count >= 2 * known.alerted_count
        if not (rises or grew):
            return None
        known.severity = row.severity if rises else known.severity
        known.alerted_count = count
        return self._alert(row, count, update=True, severity=known.severity)

    @staticmethod
    def _alert(row: Any, count: int, *, update: bool, severity: str | None = None) -> Alert:
        return Alert(detection=row.detection, severity=severity or row.severity, key=row.key,
                     start=row.start.to_pydatetime(), end=row.end.to_pydatetime(), count=count,
                     evidence_ids=tuple(row.evidence_ids), summary=row.summary, update=update)
