"""The hand-over between a producer thread (websocket, replay, simulator) and one consumer: the
package's one buffer concept, used by every :class:`~authviz.live.EventStream` and by the notebook
pump (:class:`authviz.widgets.Pump`), which drains it on each tick.

A bounded FIFO with an explicit overflow policy:

* ``drop_oldest`` (default): a full buffer discards its oldest item to make room; the stream stays
  current, the consumer sees a gap (counted in ``dropped``).
* ``drop_newest``: a full buffer refuses the new item (counted in ``dropped``).
* ``block``: the producer waits until there is room (or the buffer closes). This stalls the
  websocket reader, so the server, not this process, ends up buffering: use it only when losing
  events is worse than falling behind.

Memory is bounded by ``maxsize`` items (plus ``max_control`` control items). Control items
(presence changes, errors, state) travel in a separate lane so a flood of data never pushes them out.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Generic, Literal, TypeVar

__all__ = ["OVERFLOW_POLICIES", "EventBuffer", "Overflow"]

T = TypeVar("T")
Overflow = Literal["drop_oldest", "drop_newest", "block"]
OVERFLOW_POLICIES: tuple[str, ...] = ("drop_oldest", "drop_newest", "block")


class EventBuffer(Generic[T]):
    """Bounded buffer for one producer and one consumer (more of either are safe, just slower).

    Hand-over without a lock on the fast path: ``deque.append``/``popleft`` are atomic, and the
    producer takes the condition's lock only to wake a consumer that announced it is sleeping.
    No lost wake-up: the producer appends *then* reads ``_sleeping``; the consumer sets
    ``_sleeping`` under the lock *then* re-checks the deque before waiting.
    """

    def __init__(self, maxsize: int = 10_000, overflow: Overflow = "drop_oldest", max_control: int = 1_000) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        if overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}, not {overflow!r}")
        self.maxsize = maxsize
        self.overflow = overflow
        self._items: deque[T] = deque()
        self._control: deque[Any] = deque(maxlen=max_control)
        self._cond = threading.Condition(threading.Lock())
        self._sleeping = False
        self._producer_waiting = False
        self._closed = False
        #: items accepted into the buffer
        self.accepted = 0
        #: items lost to the overflow policy
        self.dropped = 0
        #: highest backlog seen
        self.high_water = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: T) -> bool:
        """Hand ``item`` over; False when it (or, for drop_oldest, an older one) was dropped."""
        if self._closed:
            return False
        items = self._items
        kept = True
        if len(items) >= self.maxsize:
            if self.overflow == "drop_oldest":
                try:
                    items.popleft()
                    self.dropped += 1
                    kept = False
                except IndexError:  # the consumer emptied it meanwhile
                    pass
            elif self.overflow == "drop_newest":
                self.dropped += 1
                return False
            else:  # block: wait for room (or close)
                with self._cond:
                    self._producer_waiting = True
                    while len(items) >= self.maxsize and not self._closed:
                        self._cond.wait(0.05)
                    self._producer_waiting = False
                if self._closed:
                    return False
        items.append(item)
        self._added(1)
        return kept

    def put_many(self, items: list[T]) -> None:
        """:meth:`put` for several items, in order, waking the consumer at most once.

        When they all fit they go in with one ``extend``; otherwise each goes through
        :meth:`put`, so the overflow policy treats them exactly as one by one.
        """
        queued = self._items
        if self._closed:
            return
        if len(queued) + len(items) > self.maxsize:
            for item in items:
                self.put(item)
            return
        queued.extend(items)
        self._added(len(items))

    def _added(self, count: int) -> None:
        """Account for ``count`` items just queued and wake a sleeping consumer."""
        self.accepted += count
        size = len(self._items)
        if size > self.high_water:
            self.high_water = size
        if self._sleeping:
            with self._cond:
                # One wake-up per sleep: later puts of the same burst see False and skip this.
                self._sleeping = False
                self._cond.notify_all()

    def drain(self) -> list[T]:
        """Take every data item waiting now, oldest first, without waiting (control items stay).

        For a consumer that polls (the notebook pump's tick) instead of sleeping in :meth:`get`.
        """
        items = self._items
        out: list[T] = []
        take = out.append
        try:
            for _ in range(len(items)):
                take(items.popleft())
        except IndexError:  # drop_oldest: the producer made room meanwhile
            pass
        if out and self._producer_waiting:
            with self._cond:
                self._cond.notify_all()
        return out

    def put_control(self, item: Any) -> None:
        """Hand over a control item (never dropped unless ``max_control`` are pending)."""
        with self._cond:
            if not self._closed:
                self._control.append(item)
                self._cond.notify_all()

    def get(self, timeout: float | None = None) -> tuple[str, Any] | None:
        """Next ``("control", item)`` (first) or ``("data", item)``; None on timeout or when closed
        and drained. Control items always come out before waiting data."""
        deadline = None
        items, control = self._items, self._control
        while True:
            if control:
                try:
                    return "control", control.popleft()
                except IndexError:
                    pass
            try:
                item = items.popleft()
            except IndexError:
                pass
            else:
                if self._producer_waiting:
                    with self._cond:
                        self._cond.notify_all()
                return "data", item
            with self._cond:
                if items or control:
                    continue
                if self._closed:
                    return None
                if timeout is not None:
                    if deadline is None:
                        deadline = time.monotonic() + timeout
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                self._sleeping = True
                try:
                    if items or control:
                        continue
                    self._cond.wait(None if timeout is None else remaining)
                finally:
                    self._sleeping = False

    def close(self, discard: bool = False) -> None:
        """Wake every waiter; items already buffered can still be taken unless ``discard``."""
        with self._cond:
            self._closed = True
            if discard:
                self._items.clear()
                self._control.clear()
            self._cond.notify_all()
