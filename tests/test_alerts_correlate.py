"""CorrelationState (sliding windows) against a direct count over every event kept: the same
crossings with the same measures, and all the evidence of the windows that crossed, given once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from authviz.alerts.correlate import CorrelationState, _holds

SPAN = 60


@dataclass
class Spec:
    type: str
    op: str
    threshold: float
    timespan: timedelta = timedelta(seconds=SPAN)
    rules: tuple = ("r",)


events = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 400), st.sampled_from(["a", "b", "c", "d", None])),
    min_size=1,
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(
    events=events,
    kind=st.sampled_from(["event_count", "value_count"]),
    op=st.sampled_from(["gte", "gt"]),
    threshold=st.integers(1, 4),
    jitter=st.booleans(),
)
def test_sliding_windows_count_like_a_direct_count(events, kind, op, threshold, jitter):
    # in time order, or a little out of it (lateness keeps every event: nothing is pruned)
    timed = sorted(events, key=lambda e: e[1] + ((e[0] * 7 + e[1]) % 11 if jitter else 0))
    state = CorrelationState(Spec(kind, op, threshold), lateness_ns=10**15)
    seen: dict[int, list[tuple[int, str, str | None]]] = {}
    expected_evidence: set[str] = set()
    given_ids: list[str] = []
    for n, (group, second, value) in enumerate(timed):
        t = second * 10**9
        event_id = f"e{n:04d}"
        crossing = state.add((group,), t, event_id, value)
        kept = seen.setdefault(group, [])
        kept.append((t, event_id, value))
        window = [e for e in kept if t - SPAN * 10**9 <= e[0] <= t]
        measure = len(window) if kind == "event_count" else len({v for _, _, v in window if v is not None})
        holds = _holds(op, len(window), threshold) and _holds(op, measure, threshold)
        assert (crossing is not None) == holds, (n, window)
        if crossing is not None:
            assert crossing.measure == measure
            assert crossing.first_ns == min(e[0] for e in window) and crossing.last_ns == max(e[0] for e in window)
            expected_evidence |= {e for _, e, _ in window}
            given_ids += crossing.event_ids
    assert len(given_ids) == len(set(given_ids)), "evidence is given once"
    assert set(given_ids) == expected_evidence


def test_a_group_with_one_event_is_a_bare_tuple_until_a_second_comes():
    state = CorrelationState(Spec("event_count", "gte", 2))
    assert state.add(("u",), 10**9, "a") is None
    assert type(state._groups[("u",)]) is tuple
    crossing = state.add(("u",), 2 * 10**9, "b")
    assert crossing is not None and crossing.event_ids == ("a", "b") and crossing.measure == 2
    # a threshold of one fires on the first event, and its evidence is not given twice
    one = CorrelationState(Spec("event_count", "gte", 1))
    assert one.add(("u",), 10**9, "a").event_ids == ("a",)
    assert one.add(("u",), 2 * 10**9, "b").event_ids == ("b",)
