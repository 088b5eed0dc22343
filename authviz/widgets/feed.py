"""``LiveFeed``: the tutorial's live feed of sign-ups and log-ins, plus every other category.

Rendering is bounded: at most ``max_rows`` rows are kept per category and drawn, while totals count
everything ever consumed. The whole view is ONE ``HTML`` widget re-rendered per refresh, so a refresh
costs one comm message however many events arrived.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

import ipywidgets as W

from authviz.widgets.html import esc, style_block, time_html
from authviz.widgets.records import CATEGORY_LABELS, CATEGORY_TONES, FeedRecord, to_record

#: Filter choices: label -> categories shown (``None`` = all).
FAILURES = frozenset({"login_failure", "signup_failure", "logout_failure", "breached_password", "blocked"})
FILTERS: dict[str, frozenset[str] | None] = {
    "All events": None,
    "Sign-ups and log-ins": frozenset({"signup", "login_success"}),
    "Failures": FAILURES,
    **{label: frozenset({category}) for category, label in CATEGORY_LABELS.items()},
}


def row_html(record: FeedRecord) -> str:
    """One feed row: ``Sign Up: <who> <time> From <country>``; every value escaped."""
    tone = CATEGORY_TONES.get(record.category, "info")
    parts = [
        f'<li class="av-row av-{tone} av-cat-{record.category}">',
        f'<span class="av-label">{esc(CATEGORY_LABELS[record.category])}:</span> ',
        f'<span class="av-who">{esc(record.who or "unknown user")}</span>',
        time_html(record.time, simulated=record.simulated),
    ]
    if record.country_name:
        parts.append(f'<span class="av-country">From {esc(record.country_name)}</span>')
    if tone != "ok" and record.description:
        parts.append(f'<span class="av-detail">{esc(record.description)}</span>')
    parts.append("</li>")
    return "".join(parts)


class LiveFeed(W.VBox):
    """Newest-first feed of auth events with totals and a category filter.

    ``max_rows`` bounds what is kept per category and drawn (memory and message size stay flat);
    ``min_interval`` is the least time between two refreshes of the view, in seconds.
    """

    topics = frozenset({"auth"})

    def __repr__(self) -> str:
        # what a saved notebook shows where the widget will be (widget state is never saved)
        return "(the live feed appears here when the cell runs: newest events first, with totals and a filter)"

    def __init__(self, *, max_rows: int = 200, min_interval: float = 0.0, title: str = "Live feed") -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        self.max_rows = max_rows
        self.min_interval = min_interval
        self._lock = threading.RLock()
        self._seq = itertools.count()
        # category -> newest-first (seq, record); bounded per category so a filter still fills.
        # Row HTML is built only for the rows drawn, and cached by seq (bounded like the rows).
        self._rows: dict[str, deque[tuple[int, FeedRecord]]] = {c: deque(maxlen=max_rows) for c in CATEGORY_LABELS}
        self._html_cache: dict[int, str] = {}
        self.counts: Counter[str] = Counter()
        self.countries: Counter[str] = Counter()
        self.total = 0
        self._dirty = True
        self._last_refresh = float("-inf")
        self.filter = W.Dropdown(
            options=list(FILTERS), value="All events", description="Show", layout=W.Layout(width="320px")
        )
        self.filter.observe(self._on_filter, names="value")
        self.view = W.HTML(value=self._render())
        self.view.add_class("authviz-feed")
        super().__init__([W.HTML(f"<b>{esc(title)}</b>"), self.filter, self.view])

    # -- pump interface ---------------------------------------------------------------------
    def consume(self, items: Iterable[Any]) -> None:
        with self._lock:
            for item in items:
                record = to_record(item)
                self.total += 1
                self.counts[record.category] += 1
                if record.country_name:
                    self.countries[record.country_name] += 1
                self._rows[record.category].appendleft((next(self._seq), record))
            self._dirty = True

    def refresh(self, now: float) -> bool:
        with self._lock:
            if not self._dirty or now - self._last_refresh < self.min_interval:
                return False
            html = self._render()
            with self.view.hold_sync():
                self.view.value = html
            self._dirty = False
            self._last_refresh = now if now != float("inf") else self._last_refresh
            return True

    # -- rendering --------------------------------------------------------------------------
    def visible_rows(self) -> list[str]:
        """Row HTML currently selected by the filter, newest first, at most ``max_rows``."""
        selected = FILTERS[self.filter.value]
        with self._lock:
            cats = [c for c in CATEGORY_LABELS if selected is None or c in selected]
            merged = heapq.nlargest(self.max_rows, (row for c in cats for row in self._rows[c]), key=lambda row: row[0])
            cache = self._html_cache
            out = []
            for seq, record in merged:
                html = cache.get(seq)
                if html is None:
                    html = cache[seq] = row_html(record)
                out.append(html)
            if len(cache) > 4 * self.max_rows:  # keep only what is still drawable
                live = {seq for c in CATEGORY_LABELS for seq, _ in self._rows[c]}
                self._html_cache = {s: h for s, h in cache.items() if s in live}
        return out

    def _totals_html(self) -> str:
        parts = [f"<b>{self.total:,}</b> events"]
        for category, n in self.counts.most_common():
            parts.append(f"{esc(CATEGORY_LABELS[category])} <b>{n:,}</b>")
        return '<div class="av-totals">' + " · ".join(parts) + "</div>"

    def _render(self) -> str:
        rows = self.visible_rows()
        body = "".join(rows) if rows else '<li class="av-empty">Waiting for events…</li>'
        return f'<div class="authviz">{style_block()}{self._totals_html()}<ul class="av-rows">{body}</ul></div>'

    def _on_filter(self, change: dict) -> None:
        with self._lock:
            self._dirty = True
            self.refresh(float("inf"))
