"""``SessionEvents``: log-outs, password changes and blocked users as they happen.

Fed the same auth events as the feed (or the ``session-event`` messages of a user's private
channel); keeps only the session categories. One ``HTML`` widget, bounded to ``max_rows`` rows.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

import ipywidgets as W

from authviz.widgets.html import esc, style_block, time_html
from authviz.widgets.records import CATEGORY_LABELS, CATEGORY_TONES, FeedRecord, to_record

SESSION_CATEGORIES: tuple[str, ...] = ("logout", "password_change", "password_reset", "blocked")


class SessionEvents(W.VBox):
    """A newest-first table of session events with a count per kind."""

    topics = frozenset({"auth", "session"})

    def __repr__(self) -> str:
        # what a saved notebook shows where the widget will be (widget state is never saved)
        return "(the live table of log-outs, password changes and blocks appears here when the cell runs)"

    def __init__(
        self,
        *,
        categories: tuple[str, ...] = SESSION_CATEGORIES,
        max_rows: int = 100,
        min_interval: float = 0.5,
        title: str = "Session events",
    ) -> None:
        unknown = [c for c in categories if c not in CATEGORY_LABELS]
        if unknown:
            raise ValueError(f"unknown categories: {unknown}; choose from {list(CATEGORY_LABELS)}")
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        self.categories = tuple(categories)
        self.max_rows = max_rows
        self.min_interval = min_interval
        self._lock = threading.RLock()
        self.rows: deque[FeedRecord] = deque(maxlen=max_rows)
        self.counts: Counter[str] = Counter()
        self.users: Counter[str] = Counter()
        self._dirty = True
        self._last = float("-inf")
        self.view = W.HTML(value=self._render())
        super().__init__([W.HTML(f"<b>{esc(title)}</b>"), self.view])

    def consume(self, items: Iterable[Any]) -> None:
        with self._lock:
            for item in items:
                record = to_record(item)
                if record.category not in self.categories:
                    continue
                self.rows.appendleft(record)
                self.counts[record.category] += 1
                self.users[record.who] += 1
                self._dirty = True

    def refresh(self, now: float) -> bool:
        with self._lock:
            if not self._dirty or now - self._last < self.min_interval:
                return False
            html = self._render()
            with self.view.hold_sync():
                self.view.value = html
            self._dirty = False
            if now != float("inf"):
                self._last = now
            return True

    def _render(self) -> str:
        totals = " · ".join(f"{esc(CATEGORY_LABELS[c])} <b>{self.counts[c]:,}</b>" for c in self.categories)
        rows = []
        for r in self.rows:
            tone = CATEGORY_TONES.get(r.category, "info")
            rows.append(
                f'<li class="av-row av-{tone} av-cat-{r.category}"><span class="av-label">'
                f'{esc(CATEGORY_LABELS[r.category])}:</span> <span class="av-who">{esc(r.who or "unknown user")}'
                f"</span>{time_html(r.time, simulated=r.simulated)}"
                + (f'<span class="av-country">From {esc(r.country_name)}</span>' if r.country_name else "")
                + (f'<span class="av-detail">{esc(r.description)}</span>' if r.description else "")
                + "</li>"
            )
        body = "".join(rows) or '<li class="av-empty">No log-outs, password changes or blocks yet.</li>'
        return (
            f'<div class="authviz authviz-session">{style_block()}<div class="av-totals">{totals}</div>'
            f'<ul class="av-rows">{body}</ul></div>'
        )
