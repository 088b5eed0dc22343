"""Vectorised sliding-window primitives over events grouped by a key (numpy, no per-event loop).

All functions take arrays already sorted by (``codes``, ``t``): ``codes`` are int64 group codes
(from :func:`pandas.factorize`), ``t`` int64 nanoseconds. Windows are closed: an event ``j``
is in the window of event ``i`` when ``t[i] - window <= t[j] <= t[i]`` and both share a code.
Times are compared at the finest unit (ns, µs, ms or s) for which ``code * span`` fits in int64,
which for a month of 10^7 keys is the millisecond: that rounding is the only approximation.
"""

from __future__ import annotations

import numpy as np

_UNITS = (1, 1_000, 1_000_000, 1_000_000_000)
_LIMIT = 2**62


def composite(codes: np.ndarray, t: np.ndarray, window: int) -> tuple[np.ndarray, int, int]:
    """Return (``codes * span + (t - t0) // unit``, ``span``, ``unit``), strictly grouping by code.

    ``span`` exceeds every offset plus ``window // unit``, so a window never reaches into the
    previous code's range.
    """
    if len(t) == 0:
        return np.zeros(0, dtype=np.int64), 1, 1
    t0 = int(t.min())
    width = int(t.max()) - t0
    n_codes = int(codes.max()) + 1
    for unit in _UNITS:
        span = width // unit + window // unit + 2
        if n_codes * span < _LIMIT:
            break
    else:  # pragma: no cover - would need > 10^8 keys over centuries
        raise OverflowError("too many keys over too long a time range for int64 windows")
    comp = codes.astype(np.int64) * span + (t - t0) // unit
    return comp, span, unit


def window_start(codes: np.ndarray, t: np.ndarray, window: int) -> np.ndarray:
    """Index of the first event of each event's window (same code, within ``window`` ns before)."""
    comp, _, unit = composite(codes, t, window)
    return np.searchsorted(comp, comp - window // unit, side="left")


def rolling_count(codes: np.ndarray, t: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(events in each event's window, window start indices). Events at the same instant are all
    in each other's windows, whatever their order."""
    comp, _, unit = composite(codes, t, window)
    start = np.searchsorted(comp, comp - window // unit, side="left")
    end = np.searchsorted(comp, comp, side="right")
    return end - start, start


def rolling_distinct(codes: np.ndarray, t: np.ndarray, values: np.ndarray, window: int) -> np.ndarray:
    """Distinct ``values`` (int codes, -1 = missing, not counted) in each event's window.

    Each (code, value) pair's events are merged into intervals ``[first, last + window]`` wherever
    consecutive events are at most ``window`` apart; the pair is in event i's window exactly when
    ``t[i]`` lies in one of its intervals, and intervals of one pair are disjoint, so the distinct
    count is (#intervals started by t[i]) - (#intervals ended before t[i]) within the code.
    """
    n = len(t)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    keep = values >= 0
    pc, pv, pt = codes[keep], values[keep], t[keep]
    order = np.lexsort((pt, pv, pc))
    pc, pv, pt = pc[order], pv[order], pt[order]
    new = np.ones(len(pt), dtype=bool)
    new[1:] = (pc[1:] != pc[:-1]) | (pv[1:] != pv[:-1]) | (pt[1:] - pt[:-1] > window)
    last = np.ones(len(pt), dtype=bool)
    last[:-1] = new[1:]
    starts_c, starts_t = pc[new], pt[new]
    ends_c, ends_t = pc[last], pt[last] + window
    # one composite for queries, interval starts and ends (ends may exceed t.max() by window)
    all_t = np.concatenate([t, starts_t, ends_t])
    all_c = np.concatenate([codes, starts_c, ends_c])
    comp, span, unit = composite(all_c, all_t, 0)
    q = comp[:n]
    s_comp = np.sort(comp[n : n + len(starts_t)])
    e_comp = np.sort(comp[n + len(starts_t) :])
    base = codes.astype(np.int64) * span
    started = np.searchsorted(s_comp, q, side="right") - np.searchsorted(s_comp, base, side="left")
    ended = np.searchsorted(e_comp, q, side="left") - np.searchsorted(e_comp, base, side="left")
    return started - ended


def incidents(codes: np.ndarray, t: np.ndarray, start: np.ndarray, trigger: np.ndarray, window: int) -> np.ndarray:
    """Incident number per event (-1 = not part of any), merging every triggering window.

    An event belongs to an incident when it lies in the window ``[start[i], i]`` of some event
    ``i`` with ``trigger[i]``; consecutive such events of one code form one incident unless they
    are more than ``window`` apart.
    """
    n = len(t)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.flatnonzero(trigger)
    delta = np.bincount(start[idx], minlength=n + 1) - np.bincount(idx + 1, minlength=n + 1)
    covered = np.cumsum(delta[:n]) > 0
    breaks = np.ones(n, dtype=bool)
    breaks[1:] = ~covered[:-1] | (codes[1:] != codes[:-1]) | (t[1:] - t[:-1] > window)
    number = np.cumsum(covered & breaks) - 1
    return np.where(covered, number, -1)


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km (mean Earth radius 6,371.0088 km), elementwise."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.minimum(1.0, np.sqrt(a)))
