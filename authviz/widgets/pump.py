"""One pump per notebook: the single writer that moves buffered events into the widgets.

Invariants:

- Producers (websocket threads, the simulator) only call :meth:`Pump.submit`; they never touch a
  widget and never print.
- Exactly one pump writes to its widgets, and :meth:`Pump.tick` holds a lock for the whole apply +
  refresh, so a scheduled tick and a manual one (:meth:`Pump.wait_until`) never interleave.
- In a Jupyter kernel the pump runs as an asyncio task on the kernel's own event loop (the thread
  that executes cells and handles comm messages); elsewhere (scripts, benchmarks) on one daemon
  thread. Asyncio timers do not fire while a cell executes, so a cell that waits for events uses
  :meth:`Pump.wait_until`, which ticks on the calling thread.
- Comm traffic is bounded by the tick rate, not the event rate: each widget sends at most one
  update per tick and only when something changed (and the charts at most every ``min_interval``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from authviz.live.buffer import EventBuffer
from authviz.widgets.records import to_record

#: Topic of auth events (``AuthEvent``s or schema dicts); the pump turns each into a FeedRecord once.
AUTH_TOPIC = "auth"
#: The same events as submitted (for widgets that need them whole, e.g. the live detections).
RAW_AUTH_TOPIC = "auth:raw"


class LiveWidget(Protocol):
    """What the pump drives. ``consume`` changes model state only; ``refresh`` syncs the view."""

    topics: frozenset[str]

    def consume(self, items: list[Any]) -> None: ...

    def refresh(self, now: float) -> bool: ...


class Pump:
    """Applies buffered events to the registered widgets ``hz`` times a second.

    ``hz`` (default 4) bounds comm messages to roughly ``hz`` x (messages per widget refresh) per
    second whatever the event rate; ``max_pending`` bounds the hand-over buffer (oldest dropped and
    counted in :attr:`dropped` when full).
    """

    def __init__(self, hz: float = 4.0, *, max_pending: int = 100_000) -> None:
        if not 0.1 <= hz <= 30:
            raise ValueError(f"hz must be between 0.1 and 30 updates per second, got {hz}")
        self.hz = hz
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        #: the one hand-over queue of ``(topic, item)`` pairs: producers put, each tick drains
        self.buffer: EventBuffer[tuple[str, Any]] = EventBuffer(max_pending, "drop_oldest")
        self._widgets: list[LiveWidget] = []
        self._lock = threading.RLock()
        self._task: asyncio.Task | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.mode: str | None = None
        self.ticks = 0
        self.applied = 0
        self.errors = 0
        self.last_error: str | None = None

    # -- producers (any thread) -------------------------------------------------------------
    def submit(self, item: Any, topic: str = "auth") -> None:
        """Hand one item over from any thread; cheap, never blocks on widgets."""
        self.buffer.put((topic, item))

    def submit_many(self, items: Iterable[Any], topic: str = "auth") -> None:
        self.buffer.put_many([(topic, item) for item in items])

    @property
    def dropped(self) -> int:
        return self.buffer.dropped

    @property
    def submitted(self) -> int:
        return self.buffer.accepted  # drop_oldest accepts every item (an older one may go)

    # -- widgets ----------------------------------------------------------------------------
    def add(self, *widgets: LiveWidget) -> None:
        """Register widgets; each receives every item whose topic is in its ``topics``."""
        with self._lock:
            for widget in widgets:
                if widget not in self._widgets:
                    self._widgets.append(widget)

    def remove(self, widget: LiveWidget) -> None:
        with self._lock:
            if widget in self._widgets:
                self._widgets.remove(widget)

    @property
    def widgets(self) -> tuple[LiveWidget, ...]:
        return tuple(self._widgets)

    # -- the single writer ------------------------------------------------------------------
    def tick(self, *, force: bool = False) -> int:
        """Drain the buffer into the widgets and refresh those that changed; returns items applied.

        ``force`` refreshes every widget now regardless of its ``min_interval`` (used at the end of
        a notebook so the last view matches the totals).
        """
        with self._lock:
            items = self.buffer.drain()
            if items:
                by_topic: dict[str, list[Any]] = {}
                for topic, item in items:
                    by_topic.setdefault(topic, []).append(item)
                if AUTH_TOPIC in by_topic:  # normalise auth events once for every widget
                    by_topic[RAW_AUTH_TOPIC] = by_topic[AUTH_TOPIC]
                    by_topic[AUTH_TOPIC] = [to_record(item) for item in by_topic[AUTH_TOPIC]]
                for widget in self._widgets:
                    batch = [item for topic in widget.topics for item in by_topic.get(topic, ())]
                    if batch:
                        widget.consume(batch)
            now = float("inf") if force else time.monotonic()
            for widget in self._widgets:
                widget.refresh(now)
            self.ticks += 1
            self.applied += len(items)
            return len(items)

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception as exc:  # keep pumping; the error is visible in stats, never printed
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 30.0, poll: float = 0.05) -> bool:
        """Tick on the calling thread until ``predicate()`` is true or ``timeout`` s pass.

        Returns whether the predicate became true. Bounded in time; safe to call from a cell.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.tick()
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)

    # -- scheduling -------------------------------------------------------------------------
    def start(self, mode: str = "auto") -> Pump:
        """Start ticking: ``"asyncio"`` (the running loop of this thread, e.g. the kernel's),
        ``"thread"`` (one daemon thread) or ``"auto"`` (asyncio when a loop runs here)."""
        if self.running:
            return self
        if mode == "auto":
            try:
                asyncio.get_running_loop()
                mode = "asyncio"
            except RuntimeError:
                mode = "thread"
        self._stop.clear()
        if mode == "asyncio":
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run_async())
        elif mode == "thread":
            self._thread = threading.Thread(target=self._run_thread, name="authviz-pump", daemon=True)
            self._thread.start()
        else:
            raise ValueError(f"mode must be 'auto', 'asyncio' or 'thread', got {mode!r}")
        self.mode = mode
        return self

    @property
    def running(self) -> bool:
        return (self._task is not None and not self._task.done()) or (
            self._thread is not None and self._thread.is_alive()
        )

    async def _run_async(self) -> None:
        interval = 1.0 / self.hz
        while not self._stop.is_set():
            await asyncio.sleep(interval)
            self._safe_tick()

    def _run_thread(self) -> None:
        interval = 1.0 / self.hz
        while not self._stop.wait(interval):
            self._safe_tick()

    def stop(self, *, final_tick: bool = True) -> None:
        """Stop ticking (idempotent); by default apply what is pending and refresh every widget."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._thread is not None:
            if self._thread is not threading.current_thread():
                self._thread.join(timeout=5)
            self._thread = None
        if final_tick:
            self.tick(force=True)

    def stats(self) -> dict[str, Any]:
        """Counters: submitted, applied, dropped, pending, ticks, errors, last_error."""
        return {
            "submitted": self.submitted,
            "applied": self.applied,
            "dropped": self.dropped,
            "pending": len(self.buffer),
            "ticks": self.ticks,
            "errors": self.errors,
            "last_error": self.last_error,
        }
