"""Incremental Sigma correlations: per-group state over tumbling windows, no I/O, no clock.

The batch engine counts a correlation in fixed (tumbling) windows of ``timespan`` aligned on the
Unix epoch (see :class:`authviz.detections.model.Correlation`); this module keeps the same counts
one event at a time, so the live stream fires exactly where a batch run over the same events
would find something. Invariants:

- State exists only for (group, window) pairs that saw a matching event, and a window's state is
  dropped once the watermark (the newest event time seen, minus ``lateness``) has passed its end;
  at most ``max_groups`` windows are open per correlation (least recently touched dropped first,
  counted in :attr:`CorrelationState.evicted`). So memory is bounded whatever the traffic.
- ``value_count`` keeps at most ``max_values`` distinct values per window (enough to decide any
  threshold up to that many; the count saturates there and says so).
- Monotone conditions (``gt``, ``gte``) are decided as soon as they hold: an event that makes the
  count cross the threshold returns a :class:`Crossing` at once. Others (``lt``, ``lte``, ``eq``,
  ``neq``) can only be decided when the window is complete and are returned by :meth:`advance`.
- An event later than its window's close (older than the watermark allows) is counted as
  ``late`` and otherwise ignored: a closed window is never reopened.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CorrelationState", "Crossing", "WindowState"]

_MONOTONE = ("gt", "gte")


def _holds(op: str, measure: float, threshold: float) -> bool:
    return {"gt": measure > threshold, "gte": measure >= threshold, "lt": measure < threshold,
            "lte": measure <= threshold, "eq": measure == threshold, "neq": measure != threshold}[op]


@dataclass
class WindowState:
    """One group's counts in one window."""

    start_ns: int
    first_ns: int
    last_ns: int
    events: int = 0
    values: set[Hashable] = field(default_factory=set)
    rules_seen: set[str] = field(default_factory=set)
    evidence: list[str] = field(default_factory=list)
    fired: bool = False


@dataclass(frozen=True)
class Crossing:
    """A correlation that holds for ``group`` in the window starting at ``window_start_ns``."""

    group: tuple
    window_start_ns: int
    measure: int
    state: WindowState


class CorrelationState:
    """The live state of one correlation (duck-typed :class:`~authviz.detections.model.Correlation`:
    ``type``, ``timespan``, ``op``, ``threshold``, ``rules``).

    ``max_evidence`` event ids are kept per window for the alert (the count is exact beyond it).
    """

    def __init__(self, correlation: Any, *, max_groups: int = 100_000, max_values: int = 10_000,
                 max_evidence: int = 100, lateness_ns: int = 0) -> None:
        self.type = correlation.type
        self.op = correlation.op
        self.threshold = float(correlation.threshold)
        self.span_ns = int(correlation.timespan.total_seconds() * 1e9)
        if self.span_ns <= 0:
            raise ValueError("a correlation's timespan must be positive")
        self.needed_rules = len(getattr(correlation, "rules", ()) or ())
        self.max_groups = int(max_groups)
        self.max_values = int(max_values)
        self.max_evidence = int(max_evidence)
        self.lateness_ns = int(lateness_ns)
        self._windows: OrderedDict[tuple[tuple, int], WindowState] = OrderedDict()
        self.watermark_ns: int | None = None
        #: events too late for their window; windows dropped because ``max_groups`` were open
        self.late = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._windows)

    def measure(self, state: WindowState) -> int:
        if self.type == "event_count":
            return state.events
        if self.type == "value_count":
            return len(state.values)
        return len(state.rules_seen)  # temporal: how many of the rules matched

    def add(self, group: tuple, t_ns: int, event_id: str | None, *, value: Hashable | None = None,
            rule_id: str | None = None) -> Crossing | None:
        """Count one matching event; a :class:`Crossing` when a monotone condition now holds (or
        still holds and the measure grew: the caller decides whether that is news)."""
        start = t_ns - t_ns % self.span_ns
        if self.watermark_ns is not None and start + self.span_ns <= self.watermark_ns - self.lateness_ns:
            self.late += 1
            return None
        key = (group, start)
        state = self._windows.get(key)
        if state is None:
            state = WindowState(start, t_ns, t_ns)
            self._windows[key] = state
            while len(self._windows) > self.max_groups:
                self._windows.popitem(last=False)
                self.evicted += 1
        else:
            self._windows.move_to_end(key)
        before = self.measure(state)
        state.events += 1
        state.first_ns = min(state.first_ns, t_ns)
        state.last_ns = max(state.last_ns, t_ns)
        if self.type == "value_count" and value is not None and len(state.values) < self.max_values:
            state.values.add(value)
        if self.type == "temporal" and rule_id is not None:
            state.rules_seen.add(rule_id)
        if event_id is not None and len(state.evidence) < self.max_evidence:
            state.evidence.append(event_id)
        if self.watermark_ns is None or t_ns > self.watermark_ns:
            self.watermark_ns = t_ns
        after = self.measure(state)
        if self.op in _MONOTONE and after > before and _holds(self.op, after, self._threshold()):
            state.fired = True
            return Crossing(group, start, after, state)
        return None

    def _threshold(self) -> float:
        if self.type == "temporal" and self.threshold <= 0:
            return float(self.needed_rules)
        return self.threshold

    def advance(self, now_ns: int) -> list[Crossing]:
        """Close the windows that end before ``now_ns - lateness`` (event time); the non-monotone
        conditions that hold for them."""
        if self.watermark_ns is None or now_ns > self.watermark_ns:
            self.watermark_ns = now_ns
        limit = self.watermark_ns - self.lateness_ns
        out = []
        for key in [k for k, s in self._windows.items() if s.start_ns + self.span_ns <= limit]:
            state = self._windows.pop(key)
            if self.op not in _MONOTONE and _holds(self.op, self.measure(state), self._threshold()):
                out.append(Crossing(key[0], state.start_ns, self.measure(state), state))
        return out
