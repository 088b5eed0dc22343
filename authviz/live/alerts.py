"""Live alerts on a delivered stream: events batched into :class:`authviz.alerts.LiveDetector`.

Each ``feed`` costs about 20 microseconds per event and almost nothing per batch, so events are fed
in small batches: at most every ``interval`` seconds (default 0.02: an event waits at most that
long for its rules), or as soon as ``max_batch`` events wait. Runs on the consumer's thread (``authviz tail``'s loop, a callback), never the
websocket's. Only events that are Auth0 events (:attr:`LiveEvent.auth_event`) on the normalised
channel are fed; the public feed carries the same activity with less detail and would double it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from authviz import topics
from authviz.live.events import LiveEvent

__all__ = ["AlertBatcher", "format_alert"]

_CONTROL = dict.fromkeys([*range(0, 32), 127], None)


def _clean(value: Any) -> str:
    return str(value).translate(_CONTROL)


def format_alert(alert: Any) -> str:
    """``ALERT high credential stuffing from 203.0.113.7: 14 users, 1 success`` (``ALERT updated
    high ...`` when an incident grew or got more severe). Control characters are removed."""
    prefix = "ALERT updated" if alert.update else "ALERT"
    return f"{prefix} {_clean(alert.severity)} {_clean(alert.summary)}"


class AlertBatcher:
    """Collects events and feeds them to ``detector`` (default: a new ``LiveDetector()``) in batches.

    :meth:`add` and :meth:`poll` return the alerts of a batch when one was due (else ``[]``);
    :meth:`flush` feeds what waits now. ``channels``: where normalised events come from.
    """

    def __init__(
        self,
        detector: Any = None,
        *,
        interval: float = 0.02,
        max_batch: int = 200,
        channels: tuple[str, ...] = (topics.EVENTS_CHANNEL,),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0 or max_batch < 1:
            raise ValueError("interval must be > 0 and max_batch >= 1")
        if detector is None:
            from authviz.alerts import LiveDetector  # the rules: loaded only when alerts are on

            detector = LiveDetector()
        self.detector = detector
        self.interval = interval
        self.max_batch = max_batch
        self.channels = frozenset(channels)
        self._clock = clock
        self._pending: list[Any] = []
        self._last = clock()
        #: events fed so far, batches fed, alerts raised
        self.fed = 0
        self.batches = 0
        self.raised = 0

    def add(self, event: LiveEvent) -> list[Any]:
        """Queue ``event`` if it is an Auth0 event of the normalised channel; alerts if a batch ran."""
        if event.channel in self.channels:
            auth = event.auth_event
            if auth is not None:
                self._pending.append(auth)
        if len(self._pending) >= self.max_batch:
            return self.flush()
        return self.poll()

    def poll(self) -> list[Any]:
        """Feed the waiting events if ``interval`` passed since the last batch."""
        if self._pending and self._clock() - self._last >= self.interval:
            return self.flush()
        return []

    def flush(self, final: bool = False) -> list[Any]:
        """Feed every waiting event now; the alerts it raised. ``final``: the stream ended, so the
        detector also runs what waits for its interval (its ``flush()``)."""
        self._last = self._clock()
        if not self._pending:
            return self._final() if final else []
        batch, self._pending = self._pending, []
        alerts = self.detector.feed(batch)
        self.fed += len(batch)
        self.batches += 1
        if final:
            alerts += self._final()
        self.raised += len(alerts)
        return alerts

    def _final(self) -> list[Any]:
        flush = getattr(self.detector, "flush", None)
        return list(flush()) if callable(flush) else []
