"""Gap-free delivery of the normalised event channel across reconnects (backfill from the history).

Every event the bridge publishes on ``private-auth0-events`` is first stored with a ``seq`` (strictly
increasing) and published in ``seq`` order. :class:`Backfill` sits between the websocket thread and
the subscriptions of that channel and keeps three promises:

* **nothing missed**: after every successful (re)subscription it reads the history after the last
  ``seq`` it delivered, page by page while ``more``, and delivers those events;
* **nothing twice**: an event whose ``event_id`` was delivered recently (the last ``max_recent``
  ids) is dropped, so one seen both live and in the history arrives once;
* **in order**: while a backfill runs, live events are held (at most ``max_held``) and delivered
  after the history, so a consumer sees ``seq`` order.

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
released at once (live delivery never waits for a failing history) and the fetch is retried with
back-off from the same cursor; the missing events then arrive late, still once. When more than
``max_held`` live events pile up during a backfill, they are released too (the backfill goes on and
may then deliver out of order). A 404 stops backfilling: that URL has no history.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from authviz import topics
from authviz.live.errors import HistoryError
from authviz.live.events import LiveEvent
from authviz.live.history import HistoryClient
from authviz.live.reconnect import Backoff
from authviz.live.tasks import TaskRunner

__all__ = ["Backfill"]

log = logging.getLogger(__name__)


class Backfill:
    """Dedupe, hold and backfill one channel's events (see the module docstring).

    ``deliver(item)`` hands an event to the channel's subscriptions; ``report(error)`` tells them
    about a history failure. ``after``: the seq to backfill from at the first subscription (None:
    from the history's head at that moment, i.e. only what is missed from then on; 0: everything).
    """

    def __init__(self, history: HistoryClient, runner: TaskRunner, *,
                 deliver: Callable[[LiveEvent], None], report: Callable[[Exception], None],
                 channel: str = topics.EVENTS_CHANNEL, event: str = topics.AUTH_EVENT,
                 after: int | None = None, max_recent: int = 20_000, max_held: int = 10_000,
                 backoff: Backoff | None = None) -> None:
        if max_recent < 1 or max_held < 1:
            raise ValueError("max_recent and max_held must be at least 1")
        self.history = history
        self.channel = channel
        self.event = event
        self.max_recent = max_recent
        self.max_held = max_held
        self._runner = runner
        self._deliver = deliver
        self._report = report
        self._backoff = backoff or Backoff(initial=0.5, cap=30.0)
        self._lock = threading.Lock()
        self._recent: set[str] = set()
        self._recent_order: deque[str] = deque()
        self._held: deque[LiveEvent] = deque()
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
        #: False after a 404 (no history at that URL)
        self.enabled = True

    # ------------------------------------------------------------------ websocket thread
    def live(self, item: LiveEvent) -> None:
        """A live event of the channel: dropped if seen, held during a backfill, else delivered."""
        with self._lock:
            if self._seen(item.data):
                self.duplicates += 1
                return
            if self._holding:
                self._held.append(item)
                if len(self._held) > self.max_held:
                    self._release_locked()
                return
            self._deliver_locked(item)

    def subscribed(self) -> None:
        """The channel's subscription succeeded (again): backfill what may have been missed."""
        with self._lock:
            if not self.enabled:
                return
            self._generation += 1
            if self.pending_from is None:
                self.pending_from = self.last_seq if self.last_seq is not None else self._start_after
            self._holding = not self._failing  # a failing history must not stall the live events
            if not self._scheduled:
                self._scheduled = True
                self._runner.call_soon(self._run)

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
                page = self.history.fetch(cursor)
                with self._lock:
                    for doc in page.events:
                        if self._seen(doc):
                            self.duplicates += 1
                            continue
                        self.backfilled += 1
                        self._deliver_locked(LiveEvent(self.channel, self.event, doc, doc, time.time()))
                    cursor = max(cursor, page.last_seq)
                    self.pending_from = cursor
                    if page.more:
                        continue
                    if self._generation != generation:  # resubscribed meanwhile: read up to now
                        generation = self._generation
                        continue
                    self.pending_from = None
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
            self._failed(HistoryError(f"The backfill from {self.history.url} failed ({error}); "
                                      "retrying with back-off."))

    def _failed(self, error: HistoryError) -> None:
        with self._lock:
            self.failures += 1
            self._release_locked()
            first = not self._failing
            self._failing = True
            if error.status == 404:
                self.enabled = False
                self._scheduled = False
                self.pending_from = None
                error = HistoryError(f"The history {self.history.url} answered HTTP 404, so missed "
                                     "events are not backfilled (set AUTHVIZ_HISTORY_URL to the bridge's "
                                     "/auth0/events).", status=404)
            else:
                delay = self._backoff.next_delay()
                self._runner.call_later(delay, self._run)
        if first:
            self._report(error)

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

    def _release_locked(self) -> None:
        self._holding = False
        held = self._held
        while held:
            item = held.popleft()
            if self._seen(item.data):
                self.duplicates += 1
            else:
                self._deliver_locked(item)
