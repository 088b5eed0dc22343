"""Incremental Sigma correlations: per-group state, no I/O, no clock.

Counts the way the batch engine does (:func:`authviz.detections.compile.correlation_query`), one
event at a time, so the live stream fires where a batch run over the same events finds something:

- ``gt``/``gte`` (a measure that only grows): **sliding** windows. An event triggers when the
  measure over its group's events in ``[t - timespan, t]`` satisfies the condition;
  :meth:`CorrelationState.add` returns a :class:`Crossing` for it at once, with the window's
  events as evidence.
- ``lt``/``lte``/``eq``/``neq`` ("at most N in the period"): **fixed** windows of ``timespan``
  aligned on the Unix epoch; decided when the window is complete, by :meth:`advance`.
- Events whose group-by values are missing are not counted (the caller skips them).

Invariants (bounded memory): a group keeps only events newer than the newest event seen minus
``timespan + lateness`` (at most ``max_per_group`` of them, oldest dropped first); at most
``max_groups`` groups are kept (least recently touched dropped first, counted in ``evicted``).
An event older than that horizon is counted in ``late`` and otherwise ignored.

Cost (sliding windows): an event that arrives in time order costs O(log n) in its group's n
events, whatever the window holds: the window's distinct values are counted incrementally (a
counter over the events since the newest event minus ``timespan``), and a :class:`Crossing`
carries only the evidence not given before (``event_ids``), not the whole window. An event older
than its group's newest is inserted in order and its window counted afresh (O(window)).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

__all__ = ["CorrelationState", "Crossing"]

_MONOTONE = ("gt", "gte")


def _holds(op: str, measure: float, threshold: float) -> bool:
    return {
        "gt": measure > threshold,
        "gte": measure >= threshold,
        "lt": measure < threshold,
        "lte": measure <= threshold,
        "eq": measure == threshold,
        "neq": measure != threshold,
    }[op]


def _ordered_prefix(events: list[tuple[int, str, Hashable]]) -> int:
    """How many of the rules 0, 1, 2, ... matched in that order, each strictly later than the one
    before, among ``events`` (sorted by time; ``value`` is the rule's index). Taking each rule's
    earliest match after the previous one is optimal, so one pass decides."""
    need, after = 0, None
    for t_ns, _, rule in events:
        if rule == need and (after is None or t_ns > after):
            need, after = need + 1, t_ns
    return need


class _Group:
    """One group's recent matching events, sorted by time: (t_ns, event_id, value).

    Sliding windows only: ``events[:start]`` are dead (older than the horizon; dropped in bulk);
    ``counts`` counts the non-null values of ``events[tail:]``, the events not older than the
    group's newest minus the timespan; ``events[:given]`` were given as evidence (or never can be);
    ``late`` holds evidence inserted before ``given`` and not given yet.

    Few objects per group (slots; ``counts`` a plain dict of atoms and ``late`` a tuple, which the
    garbage collector stops tracking): a stream keeps 100,000s of groups and every object the
    collector tracks lengthens its full collections.
    """

    __slots__ = ("events", "start", "tail", "given", "counts", "late")

    def __init__(self) -> None:
        self.events: list[tuple[int, str, Hashable]] = []
        self.start = 0
        self.tail = 0
        self.given = 0
        self.counts: dict[Hashable, int] = {}
        self.late: tuple[tuple[int, str], ...] = ()

    def count(self, value: Hashable, by: int) -> None:
        left = self.counts.get(value, 0) + by
        if left:
            self.counts[value] = left
        else:
            del self.counts[value]

    def drop_front(self, cut: int) -> None:
        """Forget ``events[:cut]`` (all dead), shifting the indices."""
        del self.events[:cut]
        self.start = max(0, self.start - cut)
        self.tail = max(0, self.tail - cut)
        self.given = max(0, self.given - cut)


@dataclass(frozen=True)
class Crossing:
    """The correlation holds for ``group``: ``measure`` over the window from ``first_ns`` to
    ``last_ns``; ``event_ids`` is the window's evidence not given by an earlier crossing."""

    group: tuple
    measure: int
    first_ns: int
    last_ns: int
    event_ids: tuple[str, ...]


class CorrelationState:
    """The live state of one correlation (duck-typed :class:`~authviz.detections.model.Correlation`:
    ``type``, ``timespan``, ``op``, ``threshold``, ``rules``)."""

    def __init__(
        self, correlation: Any, *, max_groups: int = 100_000, max_per_group: int = 10_000, lateness_ns: int = 0
    ) -> None:
        self.type = correlation.type
        self.op = correlation.op
        self.threshold = float(correlation.threshold)
        if self.type == "temporal" and self.op == "gte" and self.threshold <= 1:
            self.threshold = float(len(correlation.rules))  # Sigma's default: every rule matched
        self.span_ns = int(correlation.timespan.total_seconds() * 1e9)
        if self.span_ns <= 0:
            raise ValueError("a correlation's timespan must be positive")
        self.sliding = self.op in _MONOTONE
        self.max_groups = int(max_groups)
        self.max_per_group = int(max_per_group)
        self.lateness_ns = int(lateness_ns)
        #: group -> _Group, or for a sliding window's group with one event: (t_ns, event_id, value, given)
        self._groups: OrderedDict[Any, _Group | tuple] = OrderedDict()
        self.watermark_ns: int | None = None
        self._next_sweep_ns = -(2**62)
        #: events older than the horizon; groups dropped because ``max_groups`` were kept
        self.late = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._groups)

    def counting(self, group: tuple) -> bool:
        """True when ``group`` may be part of a crossing to come: it has recent events (sliding
        windows; fixed ones: always)."""
        return not self.sliding or group in self._groups

    def _measure(self, events: list[tuple[int, str, Hashable]]) -> int:
        if self.type == "event_count":
            return len(events)
        if self.type == "temporal_ordered":
            return _ordered_prefix(events)
        return len({value for _, _, value in events if value is not None})

    def add(self, group: tuple, t_ns: int, event_id: str, value: Hashable | None = None) -> Crossing | None:
        """Count one matching event (``value``: the counted field for ``value_count``, the counted
        rule for ``temporal``). A :class:`Crossing` when the event triggers (sliding windows)."""
        if self.watermark_ns is not None and t_ns < self.watermark_ns - self.span_ns - self.lateness_ns:
            self.late += 1
            return None
        if self.watermark_ns is None or t_ns > self.watermark_ns:
            self.watermark_ns = t_ns
        key = group if self.sliding else (group, t_ns - t_ns % self.span_ns)
        state = self._groups.get(key)
        if state is None and self.sliding:
            # a group's first event is kept as a bare tuple (t_ns, event_id, value, given), which the
            # garbage collector stops tracking, until a second one comes: most groups stay that way
            crossing = self._first(group, t_ns, event_id, value)
            self._groups[key] = (t_ns, event_id, value, crossing is not None)
            self._bound()
            return crossing
        if state is None:
            state = self._groups[key] = _Group()
            self._bound()
        else:
            self._groups.move_to_end(key)
            if type(state) is tuple:
                state = self._groups[key] = self._promote(state)
        if not self.sliding:
            events = state.events
            entry = (t_ns, event_id, value)
            if not events or entry >= events[-1]:
                events.append(entry)
            else:
                bisect.insort(events, entry)
            if len(events) > self.max_per_group:
                del events[: len(events) - self.max_per_group]
            return None
        return self._slide(state, group, t_ns, event_id, value)

    def _bound(self) -> None:
        while len(self._groups) > self.max_groups:
            self._groups.popitem(last=False)
            self.evicted += 1

    def _first(self, group: tuple, t_ns: int, event_id: str, value: Hashable | None) -> Crossing | None:
        """The crossing a group's first event makes on its own (a threshold of one)."""
        if not _holds(self.op, 1, self.threshold):
            return None
        if self.type == "temporal_ordered":
            measure = 1 if value == 0 else 0  # the first rule of the order
        else:
            measure = 1 if self.type == "event_count" or value is not None else 0
        if not _holds(self.op, measure, self.threshold):
            return None
        return Crossing(group, measure, t_ns, t_ns, (event_id,))

    def _promote(self, single: tuple) -> _Group:
        """A group's state when its second event comes (see :meth:`add`)."""
        t_ns, event_id, value, given = single
        state = _Group()
        state.events.append((t_ns, event_id, value))
        state.given = 1 if given else 0
        if self.type != "event_count" and value is not None:
            state.counts[value] = 1
        return state

    def _slide(self, state: _Group, group: tuple, t_ns: int, event_id: str, value: Hashable | None) -> Crossing | None:
        events = state.events
        entry = (t_ns, event_id, value)
        newest = not events or entry >= events[-1]
        counted = self.type != "event_count"
        if newest:
            events.append(entry)
            if counted and value is not None:
                state.count(value, 1)
            # the counter's window follows the newest event
            floor = t_ns - self.span_ns
            while state.tail < len(events) and events[state.tail][0] < floor:
                old = events[state.tail][2]
                if counted and old is not None and state.tail >= state.start:
                    state.count(old, -1)
                state.tail += 1
        else:
            position = bisect.bisect_left(events, entry, state.start)  # never before the dead
            events.insert(position, entry)
            if position < state.tail:
                state.tail += 1  # older than the counter's window: not counted
            elif counted and value is not None:
                state.count(value, 1)
            if position < state.given:
                state.given += 1
                state.late += ((t_ns, event_id),)
        # forget what is older than the horizon (in bulk: the list is compacted when half dead)
        horizon = self.watermark_ns - self.span_ns - self.lateness_ns
        while state.start < len(events) and events[state.start][0] < horizon:
            old = events[state.start][2]
            if counted and old is not None and state.start >= state.tail:
                state.count(old, -1)
            state.start += 1
        if len(events) - state.start > self.max_per_group:
            excess = len(events) - state.start - self.max_per_group
            for index in range(state.start, state.start + excess):
                old = events[index][2]
                if counted and old is not None and index >= state.tail:
                    state.count(old, -1)
            state.start += excess
            state.tail = max(state.tail, state.start)
        if state.start > 64 and state.start * 2 > len(events):
            state.drop_front(state.start)
        lo = bisect.bisect_left(events, (t_ns - self.span_ns,), state.start)
        hi = bisect.bisect_right(events, (t_ns, "\U0010ffff"), lo)
        if not _holds(self.op, hi - lo, self.threshold):
            return None  # distinct values never outnumber events: no need to count them
        if not counted:
            measure = hi - lo
        elif newest and self.type != "temporal_ordered":
            measure = len(state.counts)
        else:  # out of order, or an order to check: the window itself (O(window))
            measure = self._measure(events[lo:hi])
        if not _holds(self.op, measure, self.threshold):
            return None
        fresh = [e for _, e, _ in events[max(lo, state.given) : hi]]
        if state.late:
            fresh += [e for t, e in state.late if events[lo][0] <= t <= t_ns]
            state.late = tuple((t, e) for t, e in state.late if t > t_ns)
        state.given = max(state.given, hi)
        return Crossing(group, measure, events[lo][0], events[hi - 1][0], tuple(fresh))

    def advance(self, now_ns: int) -> list[Crossing]:
        """Close the fixed windows that ended before ``now_ns - lateness`` and drop sliding state
        older than the horizon; the fixed-window conditions that hold."""
        if self.watermark_ns is None or now_ns > self.watermark_ns:
            self.watermark_ns = now_ns
        out = []
        # a sweep looks at every group: at most every quarter timespan of event time for sliding
        # windows (memory stays within 1.25 timespans), every second for fixed ones
        if self.watermark_ns < self._next_sweep_ns:
            return out
        self._next_sweep_ns = self.watermark_ns + (self.span_ns // 4 if self.sliding else 1_000_000_000)
        if self.sliding:
            horizon = self.watermark_ns - self.span_ns - self.lateness_ns
            stale = [
                k
                for k, g in self._groups.items()
                if (g[0] < horizon if type(g) is tuple else len(g.events) <= g.start or g.events[-1][0] < horizon)
            ]
            for key in stale:
                del self._groups[key]
            return out
        limit = self.watermark_ns - self.lateness_ns
        for key in [k for k in self._groups if k[1] + self.span_ns <= limit]:
            events = self._groups.pop(key).events
            measure = self._measure(events)
            if events and _holds(self.op, measure, self.threshold):
                out.append(Crossing(key[0], measure, events[0][0], events[-1][0], tuple(e for _, e, _ in events)))
        return out
