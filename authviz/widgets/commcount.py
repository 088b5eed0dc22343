"""Count the comm messages widgets would send to the browser, in-process (tests, benchmarks).

``with counting_comms() as counter:`` makes every widget created inside the block use a comm that
records each message (``comm_open``, ``comm_msg``, ``comm_close``) instead of discarding it, which
is what ipywidgets does outside a kernel. The counts are the messages a kernel would put on iopub.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import comm
from comm.base_comm import BaseComm


class CommCounter:
    """Thread-safe tally of comm messages by type, with their JSON size."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_type: Counter[str] = Counter()
        self.bytes = 0

    def record(self, msg_type: str, data: Any) -> None:
        size = len(repr(data)) if data is not None else 0
        with self._lock:
            self.by_type[msg_type] += 1
            self.bytes += size

    @property
    def messages(self) -> int:
        """Updates sent (``comm_msg``); opening and closing are counted separately."""
        return self.by_type["comm_msg"]

    def reset(self) -> None:
        with self._lock:
            self.by_type.clear()
            self.bytes = 0


def _make_comm_class(counter: CommCounter) -> type[BaseComm]:
    class CountingComm(BaseComm):
        def publish_msg(
            self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any
        ) -> None:
            counter.record(msg_type, data)

    return CountingComm


@contextmanager
def counting_comms() -> Iterator[CommCounter]:
    """Within the block, widgets created get counting comms; restores ``comm.create_comm`` after."""
    counter = CommCounter()
    cls = _make_comm_class(counter)
    previous = comm.create_comm
    comm.create_comm = lambda *args, **kwargs: cls(*args, **kwargs)
    try:
        yield counter
    finally:
        comm.create_comm = previous
