"""Where publications go: the embedded hub in-process, or any Pusher HTTP API (Pusher, soketi).

* :class:`HubPublisher` calls the hub's in-process publish API (``authviz serve`` with the bridge
  mounted on the hub's own port).
* :class:`HttpPublisher` POSTs signed ``batch_events`` requests (at most ``max_batch_events`` per
  request: 10 on Pusher's shared clusters) to ``/apps/{app_id}/batch_events``, at most
  ``max_concurrency`` requests in flight; send-to-user is a trigger on ``#server-to-user-{id}``, as
  the ``pusher`` library does it. Given several targets (the nodes of one cluster) it fails over:
  a request that fails on one node is sent to the next, and that node stays the current one.
* :class:`PublishQueue` decouples the webhook from publishing and is driven by the store: the
  handler stores, submits, and answers; one worker task publishes in ``seq`` order. Invariants:

  - **Nothing stored goes unpublished.** A publication that fails for a reason that may pass
    (the server unreachable, 5xx, 429, refused credentials) is retried with capped exponential
    back-off until it goes out; the worker does not move past it. Only a request the server
    refuses as malformed (HTTP 400/413) is given up on, one publication at a time, and counted
    in ``failed`` (the history still has the event).
  - **Bounded memory.** At most ``max_pending`` publications wait in memory. When more arrive
    (a long outage, a burst), the queue stops holding event publications and, once memory is
    drained, reads them back from the store after the last one it holds (``reload``), page by
    page, until it has caught up; then it takes submissions from memory again.
  - **Across restarts** :attr:`handled_seq` (every event up to it was published) is what the
    bridge records as ``meta.published_seq``; a new start resumes from it (:meth:`resume`) (at least
    once: clients drop repeats by ``seq``).
  - **Failures are logged once per outage** (and once when publishing works again); :meth:`stats`
    says since when publishing fails and why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

import aiohttp
import orjson

from authviz.config import parse_pusher_url, url_host
from authviz.errors import AuthvizError
from authviz.pusher import server_to_user_channel, sign_request

from .publications import Publication

__all__ = [
    "HttpPublisher",
    "HubPublisher",
    "PublishError",
    "PublishQueue",
    "PublishRefused",
    "Publisher",
    "PusherCredentials",
]

log = logging.getLogger(__name__)


class PublishError(AuthvizError):
    """A publication could not be delivered to the Pusher server (it may pass: retried)."""


class PublishRefused(PublishError):
    """The Pusher server refused a request as malformed (HTTP 400/413): retrying cannot help."""

    def __init__(self, message: str, entries: int = 1) -> None:
        super().__init__(message)
        #: how many batch entries the refused request carried
        self.entries = entries


class Publisher(Protocol):
    async def publish(self, items: Sequence[Publication]) -> int | None:
        """Deliver ``items`` (raise to have them retried); may return how many were refused."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class PusherCredentials:
    """An app on a Pusher-compatible server: ``base_url`` is ``scheme://host[:port]``."""

    app_id: str
    key: str
    secret: str
    base_url: str

    @classmethod
    def from_url(cls, url: str) -> PusherCredentials:
        """Parse ``http[s]://KEY:SECRET@HOST[:PORT]/apps/APP_ID`` (the PUSHER_URL form)."""
        fields = parse_pusher_url(url)
        # the HTTP API host (for Pusher Channels the URL's api-CLUSTER host, not the websocket one)
        host = f"api-{fields['cluster']}.pusher.com" if "cluster" in fields else str(fields["host"])
        port = f":{fields['port']}" if "port" in fields else ""
        return cls(
            app_id=str(fields["app_id"]),
            key=str(fields["key"]),
            secret=str(fields["secret"]),
            base_url=f"{'https' if fields['tls'] else 'http'}://{url_host(host)}{port}",
        )

    def __repr__(self) -> str:  # never show the secret
        return f"PusherCredentials(app_id={self.app_id!r}, key={self.key!r}, base_url={self.base_url!r})"


def _entries(items: Sequence[Publication]) -> list[dict[str, Any]]:
    """One batch entry per (channel, event): ``batch_events`` entries name a single channel."""
    out: list[dict[str, Any]] = []
    for item in items:
        if item.user_id is not None:
            out.append({"channel": server_to_user_channel(item.user_id), "name": item.event, "data": item.data})
        for channel in item.channels:
            out.append({"channel": channel, "name": item.event, "data": item.data})
    return out


#: HTTP statuses that say "this request is malformed": sending it again cannot succeed.
REFUSED_STATUSES = frozenset({400, 413})


class HttpPublisher:
    """Publishes through the Pusher HTTP API with signed ``batch_events`` requests.

    ``credentials``: one app, or several (the nodes of one cluster, the same app on each), tried
    in turn when one fails. ``max_concurrency`` requests of ``max_batch_events`` entries are in
    flight at once: a round trip no longer bounds the rate, and the order in which the server
    receives concurrent requests is not fixed (clients restore ``seq`` order, see
    :class:`authviz.live.backfill.Backfill`). Memory: at most ``max_concurrency`` request bodies.
    """

    def __init__(
        self,
        credentials: PusherCredentials | Sequence[PusherCredentials],
        *,
        max_batch_events: int = 10,
        max_concurrency: int = 8,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if max_batch_events < 1:
            raise ValueError("max_batch_events must be at least 1")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        targets = [credentials] if isinstance(credentials, PusherCredentials) else list(credentials)
        if not targets:
            raise ValueError("give at least one Pusher target")
        self.targets: list[PusherCredentials] = targets
        #: index in :attr:`targets` of the node requests go to first
        self.current = 0
        self.max_batch_events = max_batch_events
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self._session = session
        self._own_session = session is None
        #: times publishing moved to another target
        self.failovers = 0

    @property
    def credentials(self) -> PusherCredentials:
        """The current target."""
        return self.targets[self.current]

    @property
    def target(self) -> str:
        """The current target's ``scheme://host:port`` (no credentials)."""
        return self.credentials.base_url

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=max(100, self.max_concurrency)),
            )
            self._own_session = True
        return self._session

    async def _post(
        self, session: aiohttp.ClientSession, target: PusherCredentials, entries: list[dict[str, Any]]
    ) -> None:
        path = f"/apps/{target.app_id}/batch_events"
        body = orjson.dumps({"batch": entries})
        params = sign_request(target.key, target.secret, "POST", path, {}, body)
        try:
            async with session.post(
                target.base_url + path, params=params, data=body, headers={"Content-Type": "application/json"}
            ) as response:
                # read the answer even on success: an unread body makes aiohttp close the
                # connection instead of keeping it alive (a new TCP connection per request)
                await response.read()
                if response.status != 200:
                    text = (await response.text())[:200]
                    message = f"{target.base_url}{path} answered HTTP {response.status}: {text}"
                    if response.status in REFUSED_STATUSES:
                        raise PublishRefused(message, len(entries))
                    raise PublishError(message)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise PublishError(f"cannot reach {target.base_url} ({_reason(error)})") from error

    async def _send(self, session: aiohttp.ClientSession, entries: list[dict[str, Any]]) -> int:
        """One request, failing over through the targets; returns entries refused as malformed.

        A refused request of several entries is split into single ones, so one bad publication
        does not take its neighbours with it.
        """
        last: PublishError | None = None
        for _ in range(len(self.targets)):
            index = self.current
            try:
                await self._post(session, self.targets[index], entries)
                return 0
            except PublishRefused:
                if len(entries) == 1:
                    log.warning("the Pusher server refused a publication on %s", entries[0]["channel"])
                    return 1
                counts = [await self._send(session, [entry]) for entry in entries]
                return sum(counts)
            except PublishError as error:
                last = error
                if len(self.targets) > 1 and self.current == index:
                    self.current = (index + 1) % len(self.targets)
                    self.failovers += 1
        assert last is not None
        raise last

    async def publish(self, items: Sequence[Publication]) -> int:
        """Publish ``items``; returns how many batch entries the server refused as malformed.

        Raises :class:`PublishError` when a request failed on every target (some of the others
        may have gone out: publishing is at least once).
        """
        entries = _entries(items)
        session = await self._client()
        size = self.max_batch_events
        chunks = [entries[start : start + size] for start in range(0, len(entries), size)]
        if len(chunks) <= 1 or self.max_concurrency == 1:
            return sum([await self._send(session, chunk) for chunk in chunks])
        semaphore = asyncio.Semaphore(self.max_concurrency)

        async def send(chunk: list[dict[str, Any]]) -> int:
            async with semaphore:
                return await self._send(session, chunk)

        results = await asyncio.gather(*(send(chunk) for chunk in chunks), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(results)  # type: ignore[arg-type]

    async def listeners(self) -> dict[str, Any]:
        """``GET /apps/{id}/channels?info=subscription_count`` of the Pusher server (any node)."""
        session = await self._client()
        query = {"info": "subscription_count"}
        last: PublishError | None = None
        for offset in range(len(self.targets)):
            target = self.targets[(self.current + offset) % len(self.targets)]
            path = f"/apps/{target.app_id}/channels"
            params = sign_request(target.key, target.secret, "GET", path, query)
            try:
                async with session.get(target.base_url + path, params=params) as response:
                    if response.status != 200:
                        raise PublishError(f"{target.base_url}{path} answered HTTP {response.status}")
                    data = await response.json(content_type=None)
                return dict(data.get("channels") or {})
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
                last = PublishError(f"cannot reach {target.base_url} ({_reason(error)})")
            except PublishError as error:
                last = error
        assert last is not None
        raise last

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None


class HubPublisher:
    """Publishes in-process into the embedded hub (no HTTP, no signing)."""

    def __init__(self, hub: Any, app_id: str) -> None:
        self.hub = hub
        self.app_id = app_id
        #: Publications the hub refused (a broken limit); they stay in the history.
        self.failed = 0

    async def publish(self, items: Sequence[Publication]) -> None:
        """All of ``items`` in one hub call (one write per subscriber connection); a publication
        that breaks a limit is skipped and counted, the others go out."""
        batch = []
        for item in items:
            if item.user_id is not None:
                channels: str | list[str] = server_to_user_channel(item.user_id)
            else:
                # one channel as a str: the hub then builds no list of its own
                channels = item.channels[0] if len(item.channels) == 1 else list(item.channels)
            batch.append((channels, item.event, item.data))
        errors = self.hub.trigger_many(self.app_id, batch)
        for index, error in errors:
            item = items[index]
            log.warning("hub refused %s on %s: %s", item.event, item.channels or item.user_id, error)
        self.failed += len(errors)

    async def listeners(self) -> dict[str, Any]:
        """Occupied channels: subscription count, and user ids for presence channels."""
        out: dict[str, Any] = {}
        for name, count in sorted(self.hub.channels(self.app_id).items()):
            entry: dict[str, Any] = {"subscription_count": count}
            if name.startswith("presence-"):
                entry["users"] = self.hub.presence_users(self.app_id, name)
            out[name] = entry
        return out

    async def close(self) -> None:
        return None


#: ``reload(after, limit)``: the publications of up to ``limit`` stored events with ``seq > after``
#: and the last seq read (``after`` when there is nothing more).
Reload = Callable[[int, int], Awaitable[tuple[list[Publication], int]]]


class PublishQueue:
    """A bounded, ordered hand-over from request handlers to one publishing task, backed by the
    store (see the module docstring for its invariants).

    Each :meth:`submit` is queued as one list (a request's publications travel together: no
    per-publication queue operation); the bound ``max_pending`` counts publications. Without
    ``reload`` (no store behind it) publications beyond the bound are dropped and counted.
    Back-off between attempts doubles from ``backoff_initial`` up to ``backoff_cap`` seconds.
    """

    def __init__(
        self,
        publisher: Publisher,
        *,
        reload: Reload | None = None,
        max_pending: int = 100_000,
        max_batch: int = 1_000,
        backoff_initial: float = 0.5,
        backoff_cap: float = 30.0,
    ) -> None:
        if max_pending < 1 or max_batch < 1:
            raise ValueError("max_pending and max_batch must be at least 1")
        if not 0 < backoff_initial <= backoff_cap:
            raise ValueError("the back-off must satisfy 0 < backoff_initial <= backoff_cap")
        self.publisher = publisher
        self.reload = reload
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.backoff_initial = backoff_initial
        self.backoff_cap = backoff_cap
        #: Submitted lists not yet taken by the worker, oldest first.
        self._lists: deque[list[Publication]] = deque()
        #: Publications in memory not yet handled (queued or being delivered).
        self._pending = 0
        #: Highest seq among the publications put in memory.
        self._queued_seq = 0
        #: Highest seq ever submitted (in memory or left in the store).
        self.submitted_seq = 0
        #: Not None: events after this seq are in the store, not in memory (read them back).
        self._store_after: int | None = None
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.dropped = 0
        self.failed = 0
        #: Failed attempts (each one retried).
        self.retries = 0
        #: Events read back from the store (not from memory).
        self.reloaded = 0
        #: Wall-clock time (epoch seconds) publishing started failing; None while it works.
        self.failing_since: float | None = None
        #: The last failure's sentence (kept after recovery, for the health report).
        self.last_error: str | None = None
        #: Highest event seq whose publications were handled (delivered, or refused as malformed).
        #: Events are handled in seq order, so everything below it was handled too.
        self.handled_seq = 0

    # -- submitting ------------------------------------------------------------------------------

    def resume(self, published_seq: int, stored_seq: int) -> None:
        """Start from the store: everything up to ``published_seq`` was published; the events
        after it up to ``stored_seq`` are read back from the store (call before :meth:`submit`)."""
        self.handled_seq = max(self.handled_seq, published_seq)
        self._queued_seq = max(self._queued_seq, published_seq)
        self.submitted_seq = max(self.submitted_seq, stored_seq)
        if stored_seq > published_seq and self.reload is not None:
            self._store_after = published_seq
            self._idle.clear()
            self._wakeup.set()

    def submit(self, items: Sequence[Publication]) -> int:
        """Enqueue without waiting; returns how many were taken into memory.

        Event publications that do not fit stay in the store and are read back later (with
        ``reload``), or are dropped and counted (without).
        """
        if not items:
            return 0
        seq = max((item.seq for item in items if item.seq is not None), default=0)
        if seq > self.submitted_seq:
            self.submitted_seq = seq
        from_store = self.reload is not None and seq > 0
        if from_store and self._store_after is not None:
            self._wakeup.set()
            items = [item for item in items if item.seq is None]  # chat: not in the event store
            if not items:
                return 0
        room = self.max_pending - self._pending
        if len(items) > room:
            if from_store and self._store_after is None:
                self._store_after = self._queued_seq  # the store has everything after it
                self._idle.clear()
                self._wakeup.set()
                return 0
            if room <= 0:
                self.dropped += len(items)
                return 0
        accepted = list(items[:room]) if len(items) > room else list(items)
        self.dropped += len(items) - len(accepted)
        self._lists.append(accepted)
        self._pending += len(accepted)
        if seq > self._queued_seq:
            self._queued_seq = seq
        self._idle.clear()
        self._wakeup.set()
        return len(accepted)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="authviz-publish")

    def _take(self) -> list[Publication]:
        """Up to ``max_batch`` queued publications, in order (a list may be split)."""
        lists = self._lists
        batch = lists.popleft()
        while lists and len(batch) < self.max_batch:
            head = lists[0]
            room = self.max_batch - len(batch)
            if len(head) <= room:
                batch.extend(lists.popleft())
            else:
                batch.extend(head[:room])
                lists[0] = head[room:]
        if len(batch) > self.max_batch:
            lists.appendleft(batch[self.max_batch :])
            del batch[self.max_batch :]
        return batch

    def _mark_idle(self) -> None:
        if self._pending == 0 and self._store_after is None:
            self._idle.set()

    # -- the worker ------------------------------------------------------------------------------

    async def _run(self) -> None:
        # Two batches overlap: the next one is sent while the previous one's last requests are
        # in flight (no round trip lost between batches). A batch is finished (handled_seq,
        # pending) only after the one before it, so handled_seq never passes an unsent event.
        loop = asyncio.get_running_loop()
        previous: tuple[asyncio.Task[None], list[Publication]] | None = None
        try:
            while True:
                if self._lists:
                    batch = self._take()
                    task = loop.create_task(self._deliver(batch))
                    if previous is not None:
                        await self._finish(*previous)
                    previous = (task, batch)
                elif previous is not None:
                    await self._finish(*previous)
                    previous = None
                elif self._store_after is not None:
                    await self._from_store()
                else:
                    self._wakeup.clear()
                    await self._wakeup.wait()
        finally:
            if previous is not None:
                previous[0].cancel()

    async def _finish(self, task: asyncio.Task[None], batch: list[Publication]) -> None:
        try:
            await task
        finally:
            self._pending -= len(batch)
        self._handled(max((item.seq for item in batch if item.seq is not None), default=0))
        self._mark_idle()

    async def _from_store(self) -> None:
        """One page of events read back from the store; back to memory once caught up."""
        assert self.reload is not None and self._store_after is not None
        after = self._store_after
        try:
            batch, last = await self.reload(after, self.max_batch)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the store may come back: retry
            self._failing(f"cannot read the events to publish from the store: {error}")
            await asyncio.sleep(self.backoff_cap / 4)
            return
        if last <= after:
            if after >= self.submitted_seq:
                self._store_after = None  # caught up: new submissions are taken from memory
                self._queued_seq = max(self._queued_seq, after)
                self._mark_idle()
            else:  # committed, not readable yet (should not happen): look again shortly
                await asyncio.sleep(0.05)
            return
        if batch:
            await self._deliver(batch)
            self.reloaded += last - after
        self._store_after = last
        self._handled(last)

    def _handled(self, seq: int) -> None:
        if seq > self.handled_seq:
            self.handled_seq = seq

    def _failing(self, message: str) -> None:
        self.retries += 1
        self.last_error = message
        if self.failing_since is None:
            self.failing_since = time.time()
            log.warning(
                "publishing failed: %s; the events are kept and retried with back-off (at most every %g s)",
                message,
                self.backoff_cap,
            )

    async def _deliver(self, batch: list[Publication]) -> None:
        """Publish ``batch``, retrying with back-off until it goes out (see the invariants)."""
        delay = self.backoff_initial
        while True:
            try:
                refused = await self.publisher.publish(batch)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - a failed publish must not stop the worker
                self._failing(str(error) or repr(error))
                await asyncio.sleep(delay)
                delay = min(self.backoff_cap, delay * 2)
                continue
            if isinstance(refused, int) and refused:
                self.failed += refused
            self.published += len(batch)
            if self.failing_since is not None:
                log.warning(
                    "publishing works again after %.1f s (%d retries)", time.time() - self.failing_since, self.retries
                )
                self.failing_since = None
            return

    # -- waiting and stopping --------------------------------------------------------------------

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until everything submitted so far was published (or refused)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def stop(self, timeout: float = 5.0) -> None:
        """Publish what is pending (up to ``timeout``), then stop the worker and the publisher.

        What is not published by then stays in the store, after :attr:`handled_seq`."""
        if self._task is not None:
            try:
                await asyncio.wait_for(self._idle.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.publisher.close()

    def stats(self) -> dict[str, Any]:
        """Counts since start, and the publishing position.

        ``failed``: publications refused as malformed (by the server or the hub); ``dropped``:
        chat messages beyond the memory bound (they stay in the chat history); ``published_seq``:
        every event up to it was published; ``failing_since``: ISO time publishing started
        failing (null while it works).
        """
        out: dict[str, Any] = {
            "pending": self._pending,
            "published": self.published,
            "dropped": self.dropped,
            "failed": self.failed + int(getattr(self.publisher, "failed", 0)),
            "retries": self.retries,
            "published_seq": self.handled_seq,
            "failing_since": _iso(self.failing_since),
            "last_error": self.last_error,
        }
        target = getattr(self.publisher, "target", None)
        if isinstance(target, str):
            out["target"] = target
        return out


def _reason(error: BaseException) -> str:
    """A short phrase for a transport failure (no object reprs in logs and health reports)."""
    if isinstance(error, asyncio.TimeoutError):
        return "no answer in time"
    if isinstance(error, aiohttp.ClientConnectorError):
        os_error = error.os_error
        return os.strerror(os_error.errno).lower() if os_error.errno else str(os_error)
    return str(error) or type(error).__name__


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
