"""One background thread that runs small timed tasks in order (auth requests, retries, keep-alive).

Keeping slow work (HTTP auth requests) and timers here means the websocket thread never blocks on
anything but its socket. Tasks run one at a time; a task that raises is counted and dropped.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["TaskRunner"]

log = logging.getLogger(__name__)


class TaskRunner:
    """A heap of ``(due, seq, fn)`` served by one daemon thread until :meth:`stop`."""

    def __init__(self, name: str = "authviz-live-tasks") -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the task thread after ``delay`` seconds (ignored once stopped)."""
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._seq), fn))
            self._cond.notify()

    def call_soon(self, fn: Callable[[], None]) -> None:
        self.call_later(0.0, fn)

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop and join the thread (pending tasks are discarded); True when it ended."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:
                self.failures += 1
                log.exception("live client task failed")
