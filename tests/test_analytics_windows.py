"""The vectorised window primitives agree with naive per-event definitions (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from authviz.analytics import windows as win


@st.composite
def grouped_events(draw):
    n = draw(st.integers(1, 60))
    codes = np.sort(np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=np.int64))
    t = np.array(draw(st.lists(st.integers(0, 5_000), min_size=n, max_size=n)), dtype=np.int64)
    for c in np.unique(codes):
        m = codes == c
        t[m] = np.sort(t[m])
    t = t * 1_000_000 + 1_700_000_000 * 10**9  # ms steps, realistic epoch ns
    window = draw(st.integers(0, 800)) * 1_000_000
    threshold = draw(st.integers(1, 6))
    values = np.array(draw(st.lists(st.integers(-1, 5), min_size=n, max_size=n)), dtype=np.int64)
    return codes, t, window, threshold, values


@settings(max_examples=150, deadline=None)
@given(grouped_events())
def test_rolling_count_distinct_and_incidents_match_naive(case):
    codes, t, window, threshold, values = case
    n = len(t)
    count, start = win.rolling_count(codes, t, window)
    distinct = win.rolling_distinct(codes, t, values, window)
    naive_in = [(codes == codes[i]) & (t >= t[i] - window) & (t <= t[i]) for i in range(n)]
    assert count.tolist() == [int(m.sum()) for m in naive_in]
    assert distinct.tolist() == [len(set(values[m & (values >= 0)])) for m in naive_in]
    trigger = count >= threshold
    incident = win.incidents(codes, t, start, trigger, window)
    covered = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(trigger):
        covered |= naive_in[i]
    assert ((incident >= 0) == covered).all()
    for k in np.unique(incident[incident >= 0]):
        members = np.flatnonzero(incident == k)
        assert len(set(codes[members])) == 1
        assert (np.diff(members) == 1).all() and (np.diff(t[members]) <= window).all()


def test_haversine_known_distances():
    paris, london, sydney = (48.8566, 2.3522), (51.5074, -0.1278), (-33.8688, 151.2093)
    km = win.haversine_km(
        np.array([paris[0], paris[0]]),
        np.array([paris[1], paris[1]]),
        np.array([london[0], sydney[0]]),
        np.array([london[1], sydney[1]]),
    )
    assert abs(km[0] - 343.5) < 1.5 and abs(km[1] - 16_960) < 30
