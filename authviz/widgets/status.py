"""``StatusLine``: one line saying whether a live widget is live, and a Stop control.

    ● live · 3.2 events/s · last event 2 s ago          [Stop]
    ◌ reconnecting · last event 40 s ago                 [Stop]
    ■ stopped · 1,204 events                              (button disabled)

:func:`status_text` is the pure part (state and numbers in, words out; tested without a kernel).
:class:`StatusLine` is driven by the pump like every live widget: it counts the auth events it is
given and redraws at most once a second, so the "N s ago" stays honest while nothing arrives.
The connection state comes from a callable (the session's), never from another thread's widget.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets as W

from authviz.widgets.html import esc

#: States a source can be in, and how each reads.
STATES = {
    "starting": ("◌", "starting", "#757575"),
    "live": ("●", "live", "#2e7d32"),
    "reconnecting": ("◌", "reconnecting", "#ef6c00"),
    "stopped": ("■", "stopped", "#757575"),
    "failed": ("✕", "failed", "#c62828"),
}

#: Seconds over which the event rate is averaged.
RATE_WINDOW = 10.0


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    return f"{seconds // 3600:.0f} h ago"


def status_text(state: str, *, total: int, rate: float | None, last_age: float | None, detail: str = "") -> str:
    """The words of the status line. ``rate`` in events/s (None: not shown), ``last_age`` in seconds
    since the last event (None: none yet)."""
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    parts = [STATES[state][1]]
    if state == "live" and rate is not None:
        parts.append(f"{rate:.1f} events/s")
    if state == "stopped":
        parts.append(f"{total:,} events")
    elif last_age is None:
        parts.append("no events yet")
    else:
        parts.append(f"last event {_ago(last_age)}")
    if detail:
        parts.append(detail)
    return " · ".join(parts)


class StatusLine(W.HBox):
    """A one-line status with a Stop button, fed auth events by the pump.

    ``state`` returns the source's state (see :data:`STATES`); ``on_stop`` is called once when the
    button is pressed (it should stop the source; the line then reads "stopped").
    """

    topics = frozenset({"auth"})

    def __init__(
        self,
        state: Callable[[], str],
        on_stop: Callable[[], None] | None = None,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = state
        self._on_stop = on_stop
        self.interval = interval
        self._clock = clock
        self._lock = threading.RLock()
        self._arrivals: deque[tuple[float, int]] = deque()
        self.total = 0
        self.last_event: float | None = None
        self._last_refresh = float("-inf")
        self._shown = ""
        self._shown = self._render(clock())
        self.text = W.HTML(value=self._shown)
        self.text.add_class("authviz-status")
        self.stop_button = W.Button(
            description="Stop", icon="stop", tooltip="Stop the live updates", layout=W.Layout(width="80px")
        )
        self.stop_button.on_click(self._stop_clicked)
        super().__init__([self.text, self.stop_button], layout=W.Layout(align_items="center"))

    def __repr__(self) -> str:
        return "(the live status line and its Stop button appear here when the cell runs)"

    # -- pump interface ---------------------------------------------------------------------
    def consume(self, items: Iterable[Any]) -> None:
        now = self._clock()
        n = sum(1 for _ in items)
        if not n:
            return
        with self._lock:
            self.total += n
            self.last_event = now
            self._arrivals.append((now, n))

    def rate(self, now: float) -> float:
        """Events per second over the last :data:`RATE_WINDOW` seconds."""
        with self._lock:
            while self._arrivals and self._arrivals[0][0] < now - RATE_WINDOW:
                self._arrivals.popleft()
            return sum(n for _, n in self._arrivals) / RATE_WINDOW

    def refresh(self, now: float) -> bool:
        clock_now = self._clock()
        if now != float("inf") and now - self._last_refresh < self.interval:
            return False
        html = self._render(clock_now)
        self._last_refresh = clock_now
        if self._state() in ("stopped", "failed"):
            self.stop_button.disabled = True
        if html == self._shown:
            return False
        self._shown = html
        with self.text.hold_sync():
            self.text.value = html
        return True

    def _render(self, now: float) -> str:
        state = self._state()
        symbol, _word, colour = STATES.get(state, STATES["failed"])
        last_age = None if self.last_event is None else now - self.last_event
        words = status_text(state, total=self.total, rate=self.rate(now), last_age=last_age)
        return (
            f'<span class="authviz av-status av-status-{esc(state)}" style="color:{colour}">'
            f"{symbol} {esc(words)}</span>"
        )

    def _stop_clicked(self, _button: Any = None) -> None:
        self.stop_button.disabled = True
        if self._on_stop is not None:
            self._on_stop()
        self.refresh(float("inf"))
