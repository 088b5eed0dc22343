"""The hand-over point between producer threads (websocket, simulator) and the one pump.

Producers only append; the pump drains. No widget code and no printing ever runs on a producer's
thread.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class EventBuffer:
    """A thread-safe, bounded FIFO of ``(topic, item)`` pairs.

    ``max_pending`` bounds memory: when it is full the OLDEST item is dropped and counted in
    :attr:`dropped` (a live view prefers what is happening now). At 5,000 events/s and a 4 Hz pump a
    tick drains ~1,250 items, so the default leaves 80 s of slack before anything is dropped.
    """

    def __init__(self, max_pending: int = 100_000) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self.max_pending = max_pending
        self._items: deque[tuple[str, Any]] = deque()
        self._lock = threading.Lock()
        self.submitted = 0
        self.dropped = 0

    def put(self, item: Any, topic: str = "auth") -> None:
        """Append one item (never blocks for long, never raises on overflow)."""
        with self._lock:
            if len(self._items) >= self.max_pending:
                self._items.popleft()
                self.dropped += 1
            self._items.append((topic, item))
            self.submitted += 1

    def put_many(self, items: Any, topic: str = "auth") -> None:
        """Append several items under one lock acquisition."""
        with self._lock:
            for item in items:
                if len(self._items) >= self.max_pending:
                    self._items.popleft()
                    self.dropped += 1
                self._items.append((topic, item))
                self.submitted += 1

    def drain(self) -> list[tuple[str, Any]]:
        """Remove and return everything pending, oldest first."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
        return items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
