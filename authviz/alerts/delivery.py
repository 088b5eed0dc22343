"""Alert delivery to HTTP receivers (a signed webhook, Slack) that never blocks the caller.

:class:`AlertDelivery` owns one daemon thread running an asyncio loop with one aiohttp session;
each :class:`Target` gets its own bounded queue and its own sender task, so a stalled or failing
receiver delays only itself. :meth:`AlertDelivery.submit` is thread-safe and O(1): it passes the
alert through the target's :class:`Gate` (de-duplication and throttling per rule and group) and
appends what passes to the queue; it never waits for the network.

Limits and what happens at them:

- ``max_queue`` alerts wait per target. When the queue is full, the new alert is dropped and
  counted in :attr:`TargetStats.dropped` (and reported once through :meth:`AlertDelivery.problems`):
  the receiver has been failing or stalling for ``max_queue`` alerts, and the oldest unsent ones
  are the ones it most needs, so they are kept.
- A failed attempt (connection error, no answer within ``timeout`` seconds, HTTP 408, 429 or 5xx)
  is retried after ``backoff * 2**attempt`` seconds (capped at ``max_backoff``; a 429's
  ``Retry-After`` is honoured up to ``max_backoff``), up to ``max_attempts`` attempts; then the
  alert is given up and counted in ``failed``. Any other 4xx answer is not retried (the receiver
  refuses this document; retrying cannot help). One target's alerts are posted in order, one at
  a time.
- Delivery is at least once: a request the receiver processes after this side gave up waiting
  is sent again, with the same body and delivery id (receivers de-duplicate on it).
- :meth:`close` waits at most ``flush_timeout`` seconds for the queues to drain.

The thread never prints: problems are collected as sentences for the caller to show
(:meth:`AlertDelivery.problems`).
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from authviz.alerts.documents import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    check_secret,
    sign,
    slack_payload,
    webhook_document,
)

__all__ = ["AlertDelivery", "Gate", "Target", "TargetStats", "webhook_target", "slack_target", "delivery_for"]

_RETRYABLE = frozenset({408, 425, 429})


def _group(alert: Any) -> tuple[str, str]:
    rule = getattr(alert, "rule_id", None) or getattr(alert, "detection", "")
    return str(rule), str(getattr(alert, "key", ""))


def _fingerprint(alert: Any) -> tuple:
    """What makes two alerts of one group the same news: an alert with the same fingerprint as the
    last one delivered for its group is a duplicate."""
    return (
        getattr(alert, "severity", None),
        getattr(alert, "count", None),
        getattr(alert, "summary", None),
        getattr(alert, "title", None),
    )


_SEVERITIES = ("info", "low", "medium", "high", "critical")


def _worse(severity: Any, than: Any) -> bool:
    """True when ``severity`` is known and higher than ``than`` (an escalation)."""
    if severity not in _SEVERITIES:
        return False
    return than not in _SEVERITIES or _SEVERITIES.index(severity) > _SEVERITIES.index(than)


class Gate:
    """De-duplication and throttling per (rule, group); pure (the caller passes ``now``).

    - An alert whose fingerprint (severity, count, summary, title) equals the last one let through
      for its group is dropped as a duplicate.
    - At most one alert per group passes every ``interval`` seconds. An alert arriving sooner is
      held (a newer one replaces it: the receiver gets the latest state, not every step) and
      :meth:`due` releases it when the interval has passed. An escalation (a severity higher than
      the last one let through for its group) is never held: it goes at once.
    - At most ``max_groups`` groups are remembered (least recently used forgotten first), so memory
      is bounded whatever the number of users or IPs alerted on.
    """

    def __init__(self, interval: float = 60.0, max_groups: int = 10_000) -> None:
        if interval < 0 or max_groups < 1:
            raise ValueError("interval must be >= 0 and max_groups >= 1")
        self.interval = float(interval)
        self.max_groups = int(max_groups)
        self._last: OrderedDict[tuple[str, str], tuple[float, tuple]] = OrderedDict()
        self._held: dict[tuple[str, str], Any] = {}
        #: alerts dropped as duplicates; alerts replaced by a newer one while held
        self.duplicates = 0
        self.coalesced = 0

    def offer(self, alert: Any, now: float) -> Any | None:
        """The alert if it may go now, else ``None`` (a duplicate, or held for :meth:`due`)."""
        group = _group(alert)
        fingerprint = _fingerprint(alert)
        last = self._last.get(group)
        if last is not None and last[1] == fingerprint:
            self.duplicates += 1
            if self._held.pop(group, None) is not None:
                self.coalesced += 1  # the held one would have been older than what was delivered
            return None
        if last is not None and now - last[0] < self.interval and not _worse(fingerprint[0], last[1][0]):
            if group in self._held:
                self.coalesced += 1
            self._held[group] = alert
            return None
        self._held.pop(group, None)
        self._remember(group, now, fingerprint)
        return alert

    def due(self, now: float) -> list[Any]:
        """Held alerts whose group's interval has passed, in the order they were first held."""
        ready = [g for g in self._held if now - self._last[g][0] >= self.interval]
        out = []
        for group in ready:
            alert = self._held.pop(group)
            self._remember(group, now, _fingerprint(alert))
            out.append(alert)
        return out

    def next_due(self) -> float | None:
        """The earliest time at which :meth:`due` will release something (``None``: nothing held)."""
        if not self._held:
            return None
        return min(self._last[g][0] for g in self._held) + self.interval

    @property
    def held(self) -> int:
        return len(self._held)

    def _remember(self, group: tuple[str, str], now: float, fingerprint: tuple) -> None:
        self._last[group] = (now, fingerprint)
        self._last.move_to_end(group)
        while len(self._last) > self.max_groups:
            old, _ = self._last.popitem(last=False)
            self._held.pop(old, None)


@dataclass
class TargetStats:
    """Counters of one target (alerts): posted and acknowledged with 2xx, dropped because the queue
    was full, given up after retries or refused, attempts that failed (each retry counts)."""

    delivered: int = 0
    dropped: int = 0
    failed: int = 0
    failed_attempts: int = 0
    last_error: str | None = None


@dataclass
class Target:
    """Where alerts go: ``url``, a ``render`` from an alert and its delivery id to (body bytes,
    extra headers), and a ``name`` for messages (never containing secrets: Slack webhook URLs are
    secrets, so the name shows only the scheme and host)."""

    name: str
    url: str
    render: Callable[[Any, str], tuple[bytes, dict[str, str]]]
    #: called before every attempt: headers that depend on the attempt (a fresh signature)
    sign: Callable[[bytes], dict[str, str]] | None = None
    stats: TargetStats = field(default_factory=TargetStats)


def _check_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the {what} URL must be an http:// or https:// URL with a host, not {url!r}")
    return url


def _public_name(what: str, url: str) -> str:
    parts = urlsplit(url)
    return f"{what} {parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def webhook_target(url: str, secret: str | bytes) -> Target:
    """A target posting :func:`~authviz.alerts.webhook_document` signed with ``secret``."""
    key = check_secret(secret)

    def render(alert: Any, delivery_id: str) -> tuple[bytes, dict[str, str]]:
        return webhook_document(alert, delivery_id), {"Content-Type": "application/json", DELIVERY_HEADER: delivery_id}

    return Target(
        _public_name("alert webhook", url),
        _check_url(url, "alert webhook"),
        render,
        sign=lambda body: {SIGNATURE_HEADER: sign(body, key)},
    )


def slack_target(url: str) -> Target:
    """A target posting :func:`~authviz.alerts.slack_payload` to a Slack incoming webhook."""

    def render(alert: Any, delivery_id: str) -> tuple[bytes, dict[str, str]]:
        return orjson.dumps(slack_payload(alert)), {"Content-Type": "application/json"}

    return Target(_public_name("Slack webhook", url), _check_url(url, "Slack webhook"), render)


class _Lane:
    """One target's queue, gate and wake-up (touched under :attr:`AlertDelivery._lock`)."""

    def __init__(self, target: Target, gate: Gate, max_queue: int) -> None:
        self.target = target
        self.gate = gate
        self.queue: collections.deque[Any] = collections.deque()
        self.max_queue = max_queue
        self.wake: asyncio.Event | None = None
        self.busy = False
        self.full_reported = False


class AlertDelivery:
    """Delivers alerts to ``targets`` in the background. See the module docstring for the limits.

    ``throttle``: seconds between two alerts of one (rule, group) per target; ``max_queue``: alerts
    waiting per target; ``timeout``: seconds per attempt. Use as a context manager or call
    :meth:`close`.
    """

    def __init__(
        self,
        targets: Iterable[Target],
        *,
        throttle: float = 60.0,
        max_queue: int = 1000,
        max_attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float = 10.0,
        max_groups: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        targets = list(targets)
        if not targets:
            raise ValueError("AlertDelivery needs at least one target")
        if max_queue < 1 or max_attempts < 1 or backoff < 0 or max_backoff < 0 or timeout <= 0:
            raise ValueError("max_queue and max_attempts must be >= 1, backoff/max_backoff >= 0, timeout > 0")
        self.max_attempts = int(max_attempts)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.timeout = float(timeout)
        self._clock = clock
        self._lock = threading.Lock()
        self._lanes = [_Lane(t, Gate(throttle, max_groups), int(max_queue)) for t in targets]
        self._problems: collections.deque[str] = collections.deque(maxlen=100)
        self._loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._closed = False
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="authviz-alert-delivery", daemon=True)
        self._thread.start()
        self._ready.wait()

    @property
    def targets(self) -> list[Target]:
        return [lane.target for lane in self._lanes]

    def submit(self, alert: Any) -> None:
        """Queue ``alert`` for every target (never blocks; see the module docstring when full)."""
        if self._closed:
            raise RuntimeError("AlertDelivery is closed")
        now = self._clock()
        with self._lock:
            for lane in self._lanes:
                passed = lane.gate.offer(alert, now)
                if passed is not None:
                    self._enqueue(lane, passed)
        self._loop.call_soon_threadsafe(self._wake_all)

    def submit_many(self, alerts: Iterable[Any]) -> None:
        for alert in alerts:
            self.submit(alert)

    def problems(self) -> list[str]:
        """Sentences about failures since the last call (for the caller to print), oldest first."""
        out = []
        while self._problems:
            out.append(self._problems.popleft())
        return out

    def pending(self) -> int:
        """Alerts queued, being sent, or held by throttling, over all targets."""
        with self._lock:
            return sum(len(lane.queue) + lane.gate.held + (1 if lane.busy else 0) for lane in self._lanes)

    def close(self, flush_timeout: float = 5.0) -> None:
        """Send what is queued (held alerts too) for at most ``flush_timeout`` s, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            for lane in self._lanes:
                for alert in lane.gate.due(float("inf")):
                    self._enqueue(lane, alert)
        deadline = time.monotonic() + flush_timeout
        while time.monotonic() < deadline and self.pending():
            time.sleep(0.02)
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=max(1.0, self.timeout))

    def __enter__(self) -> AlertDelivery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the delivery thread
    def _enqueue(self, lane: _Lane, alert: Any) -> None:  # under self._lock
        if len(lane.queue) >= lane.max_queue:
            lane.target.stats.dropped += 1
            if not lane.full_reported:
                lane.full_reported = True
                self._problems.append(
                    f"{lane.target.name}: {lane.max_queue} alerts are waiting; newer alerts are "
                    "dropped until it catches up."
                )
            return
        lane.full_reported = False
        lane.queue.append(alert)

    def _wake_all(self) -> None:
        for lane in self._lanes:
            if lane.wake is not None:
                lane.wake.set()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        for lane in self._lanes:
            lane.wake = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            tasks = [asyncio.create_task(self._sender(session, lane)) for lane in self._lanes]
            self._ready.set()
            await self._stopping.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _sender(self, session: aiohttp.ClientSession, lane: _Lane) -> None:
        assert lane.wake is not None
        while True:
            with self._lock:
                for alert in lane.gate.due(self._clock()):
                    self._enqueue(lane, alert)
                alert = lane.queue.popleft() if lane.queue else None
                lane.busy = alert is not None
                next_due = lane.gate.next_due()
            if alert is None:
                lane.wake.clear()
                wait = None if next_due is None else max(0.0, next_due - self._clock())
                try:
                    await asyncio.wait_for(lane.wake.wait(), wait)
                except TimeoutError:
                    pass
                continue
            try:
                await self._deliver(session, lane.target, alert)
            finally:
                with self._lock:
                    lane.busy = False

    async def _deliver(self, session: aiohttp.ClientSession, target: Target, alert: Any) -> None:
        delivery_id = uuid.uuid4().hex
        body, headers = target.render(alert, delivery_id)
        for attempt in range(self.max_attempts):
            retry_after: float | None = None
            try:
                sent = dict(headers, **(target.sign(body) if target.sign else {}))
                async with session.post(target.url, data=body, headers=sent, allow_redirects=False) as response:
                    await response.read()
                    status = response.status
                    if 200 <= status < 300:
                        target.stats.delivered += 1
                        if target.stats.last_error is not None:
                            self._problems.append(f"{target.name}: delivering again.")
                            target.stats.last_error = None
                        return
                    error = f"HTTP {status}"
                    if status == 429:
                        retry_after = _seconds(response.headers.get("Retry-After"))
                    if not (status >= 500 or status in _RETRYABLE):
                        self._fail(target, f"{target.name} refused an alert ({error}); not retried.")
                        return
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = (
                    "no answer within %g s" % self.timeout
                    if isinstance(exc, TimeoutError)
                    else f"{type(exc).__name__}: {exc}"
                )
            target.stats.failed_attempts += 1
            if target.stats.last_error is None:
                self._problems.append(f"{target.name}: {error}; retrying with back-off.")
            target.stats.last_error = error
            if attempt + 1 < self.max_attempts:
                delay = min(self.max_backoff, self.backoff * 2**attempt)
                if retry_after is not None:
                    delay = min(self.max_backoff, max(delay, retry_after))
                await asyncio.sleep(delay)
        self._fail(target, f"{target.name}: gave up on an alert after {self.max_attempts} attempts ({error}).")

    def _fail(self, target: Target, sentence: str) -> None:
        target.stats.failed += 1
        self._problems.append(sentence)


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def delivery_for(settings: Any, **options: Any) -> AlertDelivery | None:
    """An :class:`AlertDelivery` to the receivers of ``settings`` (an
    :class:`~authviz.config.AlertSettings`), or ``None`` when it names none. A webhook without a
    signing key is a :class:`~authviz.errors.ConfigError` (never a built-in key)."""
    from authviz.config import ALERT_WEBHOOK_SECRET_ENV
    from authviz.errors import ConfigError

    if not settings.enabled:
        return None
    targets: list[Target] = []
    try:
        for url in settings.webhook_urls:
            targets.append(webhook_target(url, settings.webhook_secret))
        for url in settings.slack_urls:
            targets.append(slack_target(url))
    except ValueError as error:
        if "signing key" in str(error):
            raise ConfigError(
                f"{str(error)[0].upper()}{str(error)[1:]}: set {ALERT_WEBHOOK_SECRET_ENV} to at least "
                "16 random bytes (receivers verify the X-Authviz-Signature header with it)."
            ) from None
        raise ConfigError(f"{str(error)[0].upper()}{str(error)[1:]}.") from None
    return AlertDelivery(targets, throttle=settings.throttle, **options)
