"""The live client's ordering window and head checks (``authviz.live.backfill.Backfill``).

A bridge publishing to a cluster with several requests in flight lets events cross; a bridge whose
node died stores events the client never receives although its own connection never broke. The
history here is an in-memory stand-in with :class:`HistoryClient`'s two calls (``head``,
``fetch``); the cluster tests (``test_cluster.py``) run the same paths end to end on soketi.
"""

from __future__ import annotations

import threading
import time

import pytest

from authviz.live.backfill import Backfill
from authviz.live.errors import HistoryError
from authviz.live.events import LiveEvent
from authviz.live.history import HistoryPage
from authviz.live.reconnect import Backoff
from authviz.live.tasks import TaskRunner
from live_support import wait_for

pytestmark = pytest.mark.timeout(30)


class MemoryHistory:
    """``HistoryClient``'s contract over a list: events ``{"seq", "event_id"}`` in seq order."""

    url = "memory://history"

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.failing = False
        self.heads = 0
        self.fetches = 0
        self.limits: list[int | None] = []

    def store(self, *seqs: int) -> list[dict]:
        docs = [{"seq": seq, "event_id": f"e{seq}"} for seq in seqs]
        self.events.extend(docs)
        return docs

    def head(self) -> int:
        self.heads += 1
        if self.failing:
            raise HistoryError("The history is down.", status=503)
        return self.events[-1]["seq"] if self.events else 0

    def fetch(self, after: int, limit: int | None = None) -> HistoryPage:
        self.fetches += 1
        self.limits.append(limit)
        if self.failing:
            raise HistoryError("The history is down.", status=503)
        page = [e for e in self.events if e["seq"] > after][: limit or 500]
        more = len([e for e in self.events if e["seq"] > after]) > len(page)
        return HistoryPage(page, page[-1]["seq"] if page else after, more)


@pytest.fixture
def runner():
    tasks = TaskRunner("test-backfill")
    tasks.start()
    yield tasks
    tasks.stop()


def make(runner, history, **options):
    delivered: list[int] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def deliver(item: LiveEvent) -> None:
        with lock:
            delivered.append(item.data["seq"])

    backfill = Backfill(
        history,
        runner,
        deliver=deliver,
        report=errors.append,
        after=0,
        backoff=Backoff(initial=0.05, cap=0.1),
        **options,
    )
    backfill.subscribed()
    wait_for(lambda: backfill.last_seq is not None and not backfill._scheduled, 5)
    return backfill, delivered, errors


def live(backfill, doc):
    backfill.live(LiveEvent("private-auth0-events", "auth-event", doc, doc, time.time()))


def test_events_that_cross_on_the_way_are_delivered_in_seq_order(runner):
    history = MemoryHistory()
    backfill, delivered, _ = make(runner, history, reorder_delay=5.0, head_interval=None)
    docs = history.store(1, 2, 3, 4, 5)
    fetches = history.fetches
    for index in (1, 0, 3, 4, 2):  # seq 2, 1, 4, 5, 3
        live(backfill, docs[index])
    assert delivered == [1, 2, 3, 4, 5]
    assert backfill.reordered == 3 and history.fetches == fetches  # no history request needed


def test_a_gap_that_stays_open_is_read_from_the_history_once(runner):
    history = MemoryHistory()
    backfill, delivered, _ = make(runner, history, reorder_delay=0.2, head_interval=None)
    docs = history.store(1, 2, 3, 4)
    live(backfill, docs[0])
    live(backfill, docs[2])  # 2 never arrives live (too large to publish, or lost)
    live(backfill, docs[3])
    assert delivered == [1]
    assert wait_for(lambda: len(delivered) == 4, 5)
    assert delivered == [1, 2, 3, 4] and backfill.gap_fills == 1
    assert history.limits[-1] == 1  # only the gap is read, not everything up to the head
    live(backfill, docs[1])  # ... and if it does arrive after all, it is not delivered twice
    assert delivered == [1, 2, 3, 4] and backfill.duplicates >= 1


def test_events_stored_but_never_published_are_backfilled_without_a_reconnect(runner):
    """The issue's silent loss: the connection never broke, the publisher lost its node."""
    history = MemoryHistory()
    backfill, delivered, _ = make(runner, history, reorder_delay=5.0, head_interval=0.1)
    docs = history.store(*range(1, 11))
    for doc in docs[:4]:
        live(backfill, doc)
    assert delivered == [1, 2, 3, 4]
    time.sleep(0.05)  # the first head check can see 10 and the second reads up to it
    # 5..10 are stored, never arrive: the head check sees them twice and reads them
    assert wait_for(lambda: len(delivered) == 10, 5)
    assert delivered == list(range(1, 11)) and backfill.gap_fills >= 1
    for doc in docs[4:]:  # the bridge publishes them when its node is back: dropped as repeats
        live(backfill, doc)
    more = history.store(11)
    live(backfill, more[0])
    assert delivered == list(range(1, 12))


def test_a_stream_that_moves_but_lags_is_not_read_twice(runner):
    """The bridge is behind (not stalled): the events arrive live, the history is not read for them."""
    history = MemoryHistory()
    backfill, delivered, _ = make(runner, history, reorder_delay=5.0, head_interval=0.1)
    fetches = history.fetches
    docs = history.store(*range(1, 201))  # stored at once, published slowly
    for doc in docs:
        live(backfill, doc)
        time.sleep(0.005)
    assert delivered == list(range(1, 201))
    assert history.heads >= 5 and history.fetches == fetches and backfill.backfilled == 0


def test_a_quiet_stream_costs_one_head_request_per_interval(runner):
    history = MemoryHistory()
    backfill, delivered, _ = make(runner, history, head_interval=0.1)
    fetches = history.fetches
    time.sleep(0.55)
    assert 3 <= history.heads <= 7 and history.fetches == fetches and delivered == []


def test_the_window_is_bounded_and_a_failing_history_lets_events_through_in_order(runner):
    history = MemoryHistory()
    backfill, delivered, errors = make(runner, history, max_held=5, reorder_delay=0.2, head_interval=None)
    history.failing = True
    docs = history.store(*range(1, 11))
    live(backfill, docs[0])
    for doc in docs[2:8]:  # 3..8 wait behind the missing 2: more than max_held
        live(backfill, doc)
    assert delivered == [1, 3, 4, 5, 6, 7, 8]  # released in order when the window overflowed
    assert wait_for(lambda: errors, 5) and len(errors) == 1
    live(backfill, docs[9])  # 10: a gap (9) while the history fails: through after the delay
    assert wait_for(lambda: delivered[-1] == 10, 5)
    history.failing = False  # the history is back: the gaps arrive late, once
    assert wait_for(lambda: sorted(delivered) == list(range(1, 11)), 5)
    assert len(delivered) == len(set(delivered))
