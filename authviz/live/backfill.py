"""Gap-free delivery of the normalised event channel across reconnects (backfill from the history).

Every event the bridge publishes on ``private-auth0-events`` is first stored with a ``seq`` (strictly
increasing) and published in ``seq`` order. :class:`Backfill` sits between the websocket thread and
the subscriptions of that channel and keeps three promises:

* **nothing missed**: after every successful (re)subscription it reads the history after the last
  ``seq`` it delivered, page by page while ``more``, and delivers those events;
* **nothing twice**: an event whose ``event_id`` was delivered recently (the last ``max_recent``
  ids) is dropped, so one seen both live and in the history arrives once;
* **in order**: live events arrive in ``seq`` order from one publisher, but a bridge that
  publishes with several requests in flight (to a cluster) may have them cross. An event whose
  ``seq`` is not the next one waits in a reorder window (a heap, at most ``max_held`` events)
  until the gap closes; a gap still open after ``reorder_delay`` seconds is read from the history
  (an event that was stored but never arrived: too large to publish, or lost). While a backfill
  runs, live events wait in the same window and are delivered after the history;
* **missed without a broken connection**: every ``head_interval`` seconds the history's head is
  read; when nothing arrived since the previous check and events stored by then are still
  missing (the bridge could not publish them, or its node died after accepting them), they are
  backfilled, so a client whose own connection never broke still sees every event (late, once,
  in order). A stream that moves but lags is left to arrive live. Holes in a moving stream are
  the reorder window's to fill.

Threads: :meth:`live` and :meth:`subscribed` run on the websocket thread and only take ``_lock``
(never I/O); the HTTP requests run on the ``runner`` (a worker thread). Every state change and every
delivery happens under ``_lock``, so deliveries are serialised.

Where the first subscription starts (``after=None``, "from now"): the channel is subscribed
FIRST, then the history's head is read in ONE request (``GET /auth0/events/head``, one read of the
store) and becomes the cursor. Every event stored after that read has a larger ``seq``: it is
published after the subscription, so it arrives live, or, if the connection drops, from the
history after the cursor. Events stored before the read are before the client. (A bridge without
``/head`` is searched in several requests, where an event stored during the search may count as
before the client; see :meth:`HistoryClient.head`.)

When the history fails, the error is reported once per failure streak, the held live events are
released at once, in seq order (live delivery never waits for a failing history) and the fetch is
retried with back-off from the same cursor; the missing events then arrive late, still once. When
more than ``max_held`` live events pile up (during a backfill, or behind a gap), they are released
too, in seq order (the backfill goes on and may then deliver the gap out of order). A 404 stops
backfilling: that URL has no history.

Memory: at most ``max_held`` held events plus ``max_recent`` event ids.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from authviz import topics
from authviz.live.errors import HistoryError
from authviz.live.events import LiveEvent
from authviz.live.history import HistoryClient, HistoryPage
from authviz.live.reconnect import Backoff
from authviz.live.tasks import TaskRunner

__all__ = ["Backfill"]

log = logging.getLogger(__name__)

#: events per history request when filling a gap (the bridge allows up to 1000)
FILL_PAGE = 500


class Backfill:
    """Dedupe, hold and backfill one channel's events (see the module docstring).

    ``deliver(item)`` hands an event to the channel's subscriptions; ``report(error)`` tells them
    about a history failure. ``after``: the seq to backfill from at the first subscription (None:
    from the history's head at that moment, i.e. only what is missed from then on; 0: everything).
    """

    def __init__(
        self,
        history: HistoryClient,
        runner: TaskRunner,
        *,
        deliver: Callable[[LiveEvent], None],
        report: Callable[[Exception], None],
        channel: str = topics.EVENTS_CHANNEL,
        event: str = topics.AUTH_EVENT,
        after: int | None = None,
        max_recent: int = 20_000,
        max_held: int = 10_000,
        backoff: Backoff | None = None,
        reorder_delay: float = 1.0,
        head_interval: float | None = 10.0,
    ) -> None:
        if max_recent < 1 or max_held < 1:
            raise ValueError("max_recent and max_held must be at least 1")
        if reorder_delay < 0 or (head_interval is not None and head_interval <= 0):
            raise ValueError("reorder_delay must be >= 0 and head_interval > 0 (or None)")
        self.history = history
        self.channel = channel
        self.event = event
        self.max_recent = max_recent
        self.max_held = max_held
        #: how long a gap in the live seqs may stay open before the history is asked (seconds)
        self.reorder_delay = reorder_delay
        #: how often the history's head is compared with what arrived (seconds; None: never)
        self.head_interval = head_interval
        self._runner = runner
        self._deliver = deliver
        self._report = report
        self._backoff = backoff or Backoff(initial=0.5, cap=30.0)
        self._lock = threading.Lock()
        self._recent: set[str] = set()
        self._recent_order: deque[str] = deque()
        #: live events waiting for their turn: a heap of (seq, arrival number, event)
        self._held: list[tuple[int, int, LiveEvent]] = []
        self._arrivals = itertools.count()
        #: monotonic time the current gap in front of ``_held`` was first seen (None: no gap)
        self._gap_since: float | None = None
        self._gap_timer = False  # a gap check is scheduled
        self._head_timer = False  # the periodic head check is scheduled
        #: the head seen at the previous periodic check: anything up to it should have arrived
        self._probe: int | None = None
        #: ``last_seq`` at the previous periodic check (a stream that did not move is stalled)
        self._probe_last: int | None = None
        #: the scheduled run reads only up to this seq (a gap); None: up to the history's head
        self._fill_until: int | None = None
        self._holding = False
        self._generation = 0  # subscriptions seen; a run that ends on an older one goes again
        self._scheduled = False  # a run is queued, waiting for its back-off, or running
        self._failing = False  # an error of the current failure streak was reported
        self._start_after = after
        #: the stream position: every event up to this seq was delivered, or came before the
        #: first subscription (None: unknown yet); the next backfill reads after it
        self.last_seq: int | None = None
        #: history is still owed after this seq (None: nothing owed)
        self.pending_from: int | None = None
        #: events delivered from the history
        self.backfilled = 0
        #: events dropped because their event_id was delivered already
        self.duplicates = 0
        #: failed history requests
        self.failures = 0
        #: backfills started because a gap stayed open or the head was ahead of the stream
        self.gap_fills = 0
        #: live events that arrived before an earlier seq and waited for it
        self.reordered = 0
        #: False after a 404 (no history at that URL)
        self.enabled = True

    # ------------------------------------------------------------------ websocket thread
    def live(self, item: LiveEvent) -> None:
        """A live event of the channel: dropped if seen; held during a backfill or behind a gap
        in the seqs; else delivered (with the held events it lets through)."""
        with self._lock:
            data = item.data
            if self._seen(data):
                self.duplicates += 1
                return
            seq = _seq(data)
            if seq is None:  # not from the store: nothing to order it by
                self._deliver_locked(item)
                return
            last = self.last_seq
            if not self._holding and (last is None or seq <= last + 1) and not self._held_before(seq):
                self._deliver_locked(item)
                if self._held:
                    self._release_locked()
                return
            if not self._holding:
                self.reordered += 1
            heapq.heappush(self._held, (seq, next(self._arrivals), item))
            if len(self._held) > self.max_held:
                self._owe_gap_locked()
                self._release_locked(force=True)
            elif not self._holding:
                self._gap_opened_locked()

    def subscribed(self) -> None:
        """The channel's subscription succeeded (again): backfill what may have been missed."""
        with self._lock:
            if not self.enabled:
                return
            self._generation += 1
            self._fill_until = None  # after a (re)subscription: everything up to the head
            if self.pending_from is None:
                self.pending_from = self.last_seq if self.last_seq is not None else self._start_after
            self._holding = not self._failing  # a failing history must not stall the live events
            if not self._scheduled:
                self._scheduled = True
                self._runner.call_soon(self._run)
            if self.head_interval is not None and not self._head_timer:
                self._head_timer = True
                self._runner.call_later(self.head_interval, self._check_head)

    # ------------------------------------------------------------------ worker thread
    def _run(self) -> None:
        with self._lock:
            generation = self._generation
            cursor = self.pending_from
        try:
            if cursor is None:  # the first subscription, from the head: nothing was missed yet
                head = self.history.head()  # subscribed already: anything after it comes to us
                with self._lock:
                    if self.pending_from is None:
                        self.pending_from = head
                    cursor = self.pending_from
            while True:
                with self._lock:
                    until = self._fill_until
                if until is not None and cursor >= until:
                    page = HistoryPage([], cursor, False)  # the gap is read (or never existed)
                else:
                    page = self.history.fetch(cursor, None if until is None else max(1, min(FILL_PAGE, until - cursor)))
                with self._lock:
                    for doc in page.events:
                        if self._seen(doc):
                            self.duplicates += 1
                            continue
                        self.backfilled += 1
                        self._deliver_locked(LiveEvent(self.channel, self.event, doc, doc, time.time()))
                    cursor = max(cursor, page.last_seq)
                    self.pending_from = cursor
                    if page.more and (self._fill_until is None or cursor < self._fill_until):
                        continue
                    if self._generation != generation:  # resubscribed meanwhile: read up to now
                        generation = self._generation
                        continue
                    self.pending_from = None
                    self._fill_until = None
                    if self.last_seq is None or cursor > self.last_seq:
                        self.last_seq = cursor  # read up to here, even when nothing was delivered
                    self._release_locked()
                    self._scheduled = False
                    self._failing = False
                    self._backoff.reset()
                    return
        except HistoryError as error:
            self._failed(error)
        except Exception as error:  # never let a bad page kill the worker: report and retry
            log.exception("backfill failed")
            self._failed(
                HistoryError(f"The backfill from {self.history.url} failed ({error}); retrying with back-off.")
            )

    def _failed(self, error: HistoryError) -> None:
        with self._lock:
            self.failures += 1
            self._release_locked(force=True)
            first = not self._failing
            self._failing = True
            if error.status == 404:
                self.enabled = False
                self._scheduled = False
                self.pending_from = None
                error = HistoryError(
                    f"The history {self.history.url} answered HTTP 404, so missed "
                    "events are not backfilled (set AUTHVIZ_HISTORY_URL to the bridge's "
                    "/auth0/events).",
                    status=404,
                )
            else:
                delay = self._backoff.next_delay()
                self._runner.call_later(delay, self._run)
        if first:
            self._report(error)

    def _check_gap(self) -> None:
        """A gap stayed open ``reorder_delay`` seconds: read it from the history (or, when there
        is none to read, let the held events through in order)."""
        with self._lock:
            self._gap_timer = False
            if self._gap_since is None or self._holding:
                return
            wait = self._gap_since + self.reorder_delay - time.monotonic()
            if wait > 0:
                self._gap_timer = True
                self._runner.call_later(wait, self._check_gap)
                return
            self._gap_since = None
            if not self.enabled or self._failing:
                self._release_locked(force=True)
                return
            self.gap_fills += 1
            self._owe_gap_locked(hold=True, until=self._held[0][0] - 1 if self._held else None)

    def _check_head(self) -> None:
        """Every ``head_interval``: when the stream stalled (nothing arrived since the previous
        check), backfill what was stored by the previous check (the connection may never have
        broken: the publisher could not publish, or its node died after accepting events)."""
        with self._lock:
            self._head_timer = False
            if not self.enabled:
                return
            busy = self._scheduled or self._failing or self.last_seq is None
        try:
            head = None if busy else self.history.head()
        except HistoryError as error:
            log.debug("head check failed: %s", error)
            head = None
        with self._lock:
            if head is not None:
                probe, self._probe = self._probe, head
                before, self._probe_last = self._probe_last, self.last_seq
                # stalled: nothing arrived since the previous check although the history had
                # more (a stream that moves but lags is left alone: the events are on their
                # way, and reading them twice would only load the bridge further)
                stalled = before is not None and self.last_seq == before
                if (
                    probe is not None
                    and self.last_seq is not None
                    and probe > self.last_seq
                    and stalled
                    and not self._scheduled
                ):
                    self.gap_fills += 1
                    self._owe_gap_locked(hold=True, until=probe)
            if self.head_interval is not None and not self._head_timer:
                self._head_timer = True
                self._runner.call_later(self.head_interval, self._check_head)

    # ------------------------------------------------------------------ under _lock
    def _seen(self, data: Any) -> bool:
        event_id = data.get("event_id") if isinstance(data, dict) else None
        return isinstance(event_id, str) and event_id in self._recent

    def _deliver_locked(self, item: LiveEvent) -> None:
        data = item.data
        if isinstance(data, dict):
            event_id = data.get("event_id")
            if isinstance(event_id, str):
                self._recent.add(event_id)
                self._recent_order.append(event_id)
                if len(self._recent_order) > self.max_recent:
                    self._recent.discard(self._recent_order.popleft())
            seq = data.get("seq")
            if isinstance(seq, int) and not isinstance(seq, bool):
                if self.last_seq is None or seq > self.last_seq:
                    self.last_seq = seq
        self._deliver(item)

    def _held_before(self, seq: int) -> bool:
        return bool(self._held) and self._held[0][0] < seq

    def _gap_opened_locked(self) -> None:
        if self._gap_since is None:
            self._gap_since = time.monotonic()
        if not self._gap_timer:
            self._gap_timer = True
            self._runner.call_later(self.reorder_delay, self._check_gap)

    def _owe_gap_locked(self, hold: bool = False, until: int | None = None) -> None:
        """Schedule a backfill from the stream position up to ``until`` (None: the head);
        ``hold``: live events wait for it."""
        if not self.enabled:
            return
        if not self._scheduled:
            self._fill_until = until
        elif until is None or (self._fill_until is not None and until > self._fill_until):
            self._fill_until = until  # widen a scheduled fill, never narrow it
        if self.pending_from is None:
            self.pending_from = self.last_seq if self.last_seq is not None else self._start_after
        if hold and not self._failing:
            self._holding = True
        if not self._scheduled:
            self._scheduled = True
            self._runner.call_soon(self._run)

    def _release_locked(self, force: bool = False) -> None:
        """Deliver held events in seq order up to the next gap (``force``: past every gap)."""
        self._holding = False
        held = self._held
        while held:
            seq, _, item = held[0]
            if self._seen(item.data):
                heapq.heappop(held)
                self.duplicates += 1
                continue
            if not force and self.last_seq is not None and seq > self.last_seq + 1:
                self._gap_opened_locked()
                return
            heapq.heappop(held)
            self._deliver_locked(item)
        self._gap_since = None


def _seq(data: Any) -> int | None:
    seq = data.get("seq") if isinstance(data, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None
