"""The consumer side shared by every source: a bounded buffer, an iterator, callbacks, stats.

A producer (the websocket thread, a replay or simulator thread) talks to a stream through its
producer side only: :meth:`EventStream.offer` / :meth:`EventStream.offer_many` (events),
:meth:`EventStream.notify` (control notices) and :meth:`EventStream.detach` (its owner is stopping);
it never waits for the consumer except under the ``block`` policy.

A stream is consumed in exactly one of two ways:

* iteration on the caller's thread: ``for event in stream: ...`` (until closed) or
  ``for event in stream.events(timeout=5): ...`` (ends after 5 s without an event);
* callbacks (:meth:`on_event`, :meth:`on_member_added`, :meth:`on_member_removed`,
  :meth:`on_error`, :meth:`on_subscribed`): registering the first one starts ONE consumer thread
  (``authviz-live-consumer``) that runs every callback of this stream, in arrival order.

A fatal error (the server rejected the connection) ends iteration with that exception once the
buffered events are delivered; callbacks get it through :meth:`on_error`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from authviz.errors import UsageError
from authviz.live.buffer import EventBuffer, Overflow
from authviz.live.events import ControlNotice, LiveEvent

__all__ = ["EventStream", "StreamStats"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamStats:
    """A snapshot of a stream's counters.

    ``received``: events that reached this stream (after the event-name filter);
    ``delivered``: handed to the consumer; ``dropped``: lost to the overflow policy;
    ``backlog``: waiting now; ``high_water``: the largest backlog seen;
    ``lag``/``max_lag``: seconds between an event's time (its payload's timestamp, or when it was
    emitted for replays) and its delivery, for the last event and the worst so far.
    """

    received: int
    delivered: int
    dropped: int
    backlog: int
    high_water: int
    reconnects: int
    auth_failures: int
    decrypt_failures: int
    callback_errors: int
    lag: float | None
    max_lag: float | None


class EventStream:
    """Base class of :class:`~authviz.live.Subscription` and the replay/simulator sources."""

    #: where the lag is measured from: the payload's own time, or the moment it was emitted
    lag_from_payload = True

    def __init__(
        self,
        *,
        events: Iterable[str] | None = None,
        maxsize: int = 10_000,
        overflow: Overflow = "drop_oldest",
        max_errors: int = 100,
        sink: Callable[[LiveEvent], Any] | None = None,
    ) -> None:
        self._event_filter = frozenset(events) if events is not None else None
        #: when set, events go to this callable on the producer's thread instead of the buffer
        #: (which then carries control notices only): a consumer with its own bounded queue
        #: (the notebook pump) gets them with no second queue and no thread in between
        self._sink = sink
        self._buffer: EventBuffer[LiveEvent] = EventBuffer(maxsize, overflow)
        self.received = 0
        self.delivered = 0
        self.callback_errors = 0
        self.lag: float | None = None
        self.max_lag: float | None = None
        #: the most recent errors (non-fatal ones too), newest last
        self.errors: deque[Exception] = deque(maxlen=max_errors)
        self.error: Exception | None = None
        #: errors seen so far (``errors`` keeps only the most recent)
        self.error_count = 0
        self._callbacks: dict[str, list[Callable[..., Any]]] = {
            "event": [],
            "member_added": [],
            "member_removed": [],
            "error": [],
            "subscribed": [],
        }
        self._consumer: threading.Thread | None = None
        self._iterating = False
        self._closed = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ producer side
    def offer(self, item: LiveEvent) -> None:
        """Producer thread: filter by name and hand over (never blocks unless overflow='block')."""
        if self._event_filter is not None and item.name not in self._event_filter:
            return
        self.received += 1
        if self._sink is not None:
            self._hand_to_sink(item)
            return
        self._buffer.put(item)

    def offer_many(self, items: list[LiveEvent]) -> None:
        """Producer thread: :meth:`offer` for several items, in order, with one hand-over."""
        event_filter = self._event_filter
        if event_filter is not None:
            items = [item for item in items if item.name in event_filter]
            if not items:
                return
        self.received += len(items)
        if self._sink is not None:
            for item in items:
                self._hand_to_sink(item)
            return
        self._buffer.put_many(items)

    def _hand_to_sink(self, item: LiveEvent) -> None:
        try:
            self._sink(item)  # type: ignore[misc]
        except Exception as error:  # a producer thread never dies of its consumer's error
            self.callback_errors += 1
            self.errors.append(error)
            self.error_count += 1

    def notify(self, notice: ControlNotice, fatal: bool = False) -> None:
        """Producer thread: hand over a control notice (never dropped); ``fatal`` ends the stream."""
        if notice.error is not None:
            self.errors.append(notice.error)
            self.error_count += 1
            if fatal:
                self.error = notice.error
        self._buffer.put_control(notice)
        if fatal:
            self._buffer.close()

    # ------------------------------------------------------------------ consumer side
    def _account(self, item: LiveEvent) -> None:
        self.delivered += 1
        reference = item.timestamp if self.lag_from_payload else item.received_at
        if reference is not None:
            lag = time.time() - reference
            self.lag = lag
            if self.max_lag is None or lag > self.max_lag:
                self.max_lag = lag

    def _next(self, timeout: float | None, run_callbacks: bool) -> tuple[str, Any] | None:
        """Next item, control notices handled on the way; ``("data", event)`` or None."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            got = self._buffer.get(remaining)
            if got is None:
                return None
            kind, item = got
            if kind == "data":
                self._account(item)
                return got
            if run_callbacks:
                self._dispatch_control(item)
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def get(self, timeout: float | None = None) -> LiveEvent | None:
        """The next event, or None after ``timeout`` seconds (or once closed and drained).

        Raises the fatal error (e.g. :class:`~authviz.live.ConnectionRejected`) once drained.
        """
        self._check_iteration()
        self._iterating = True
        got = self._next(timeout, run_callbacks=False)
        if got is None:
            if self.error is not None and self._buffer.closed and not len(self._buffer):
                raise self.error
            return None
        return got[1]

    def events(self, timeout: float | None = None, limit: int | None = None) -> Iterator[LiveEvent]:
        """Iterate events; stop after ``timeout`` s without one, after ``limit`` events, or when closed."""
        count = 0
        while limit is None or count < limit:
            event = self.get(timeout)
            if event is None:
                return
            count += 1
            yield event

    def __iter__(self) -> Iterator[LiveEvent]:
        return self.events()

    def _check_iteration(self) -> None:
        if self._consumer is not None and threading.current_thread() is not self._consumer:
            raise UsageError("this stream is consumed by callbacks; iterate a separate subscription.")

    # ------------------------------------------------------------------ callbacks
    def on_event(self, callback: Callable[[LiveEvent], Any]) -> "EventStream":
        """Call ``callback(event)`` for every event, on this stream's consumer thread."""
        return self._add_callback("event", callback)

    def on_member_added(self, callback: Callable[[str, str, Any], Any]) -> "EventStream":
        """``callback(channel, user_id, user_info)`` when a presence member joins."""
        return self._add_callback("member_added", callback)

    def on_member_removed(self, callback: Callable[[str, str, Any], Any]) -> "EventStream":
        """``callback(channel, user_id, user_info)`` when a presence member leaves."""
        return self._add_callback("member_removed", callback)

    def on_error(self, callback: Callable[[Exception], Any]) -> "EventStream":
        """``callback(error)`` for every error (fatal ones end the stream afterwards)."""
        return self._add_callback("error", callback)

    def on_subscribed(self, callback: Callable[[str], Any]) -> "EventStream":
        """``callback(channel)`` each time a channel's subscription succeeds (again after reconnects)."""
        return self._add_callback("subscribed", callback)

    def _add_callback(self, kind: str, callback: Callable[..., Any]) -> "EventStream":
        with self._lock:
            if self._iterating:
                raise UsageError("this stream is being iterated; register callbacks before iterating.")
            self._callbacks[kind].append(callback)
            if self._consumer is None and not self._closed:
                self._consumer = threading.Thread(target=self._consume, name="authviz-live-consumer", daemon=True)
                self._consumer.start()
        return self

    def _call(self, kind: str, *args: Any) -> None:
        for callback in self._callbacks[kind]:
            try:
                callback(*args)
            except Exception:
                self.callback_errors += 1
                log.exception("%s callback failed", kind)

    def _dispatch_control(self, notice: ControlNotice) -> None:
        if notice.kind == "error" and notice.error is not None:
            self._call("error", notice.error)
        elif notice.kind in ("member_added", "member_removed"):
            self._call(notice.kind, notice.channel, notice.user_id, notice.user_info)
        elif notice.kind == "subscribed":
            self._call("subscribed", notice.channel)

    def _consume(self) -> None:
        while True:
            got = self._next(None, run_callbacks=True)
            if got is None:
                return
            self._call("event", got[1])

    def consumer_alive(self) -> bool:
        return self._consumer is not None and self._consumer.is_alive()

    # ------------------------------------------------------------------ stats and closing
    def _extra_counts(self) -> tuple[int, int, int]:
        """(reconnects, auth_failures, decrypt_failures) of the producer."""
        return 0, 0, 0

    @property
    def stats(self) -> StreamStats:
        reconnects, auth_failures, decrypt_failures = self._extra_counts()
        buffer = self._buffer
        return StreamStats(
            self.received,
            self.delivered,
            buffer.dropped,
            len(buffer),
            buffer.high_water,
            reconnects,
            auth_failures,
            decrypt_failures,
            self.callback_errors,
            self.lag,
            self.max_lag,
        )

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def finished(self) -> bool:
        """True once nothing more can come: closed, or the producer ended and all was taken."""
        return self._closed or (self._buffer.closed and not len(self._buffer))

    def _stop_producer(self, timeout: float) -> None:
        """Subclasses stop what feeds them."""

    def detach(self, timeout: float = 5.0) -> None:
        """Close the consumer side only (the producer is being stopped by its owner)."""
        self._closed = True
        self._buffer.close(discard=True)
        consumer = self._consumer
        if consumer is not None and consumer is not threading.current_thread():
            consumer.join(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the producer and the consumer thread and join them (idempotent)."""
        self._stop_producer(timeout)
        self.detach(timeout)

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
