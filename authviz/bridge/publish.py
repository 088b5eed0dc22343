"""Where publications go: the embedded hub in-process, or any Pusher HTTP API (Pusher, soketi).

* :class:`HubPublisher` calls the hub's in-process publish API (``authviz serve`` with the bridge
  mounted on the hub's own port).
* :class:`HttpPublisher` POSTs signed ``batch_events`` requests (at most ``max_batch_events`` per
  request: 10 on Pusher's shared clusters) to ``/apps/{app_id}/batch_events``; send-to-user is a
  trigger on ``#server-to-user-{id}``, as the ``pusher`` library does it.
* :class:`PublishQueue` decouples the webhook from publishing: the handler stores, submits, and
  answers; one worker task publishes in order. The queue holds at most ``max_pending``
  publications; beyond that new ones are dropped and counted (they are in the history, which the
  live client backfills from). An event whose publication still fails after ``retries`` is not
  retried forever: the history is the source of truth. Across a crash publishing is at least
  once: the bridge records the highest handled ``seq`` every second (``meta.published_seq``) and
  publishes what was stored after it when it starts again (clients drop repeats by ``seq``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
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
    "Publisher",
    "PusherCredentials",
]

log = logging.getLogger(__name__)


class PublishError(AuthvizError):
    """A publication could not be delivered to the Pusher server."""


class Publisher(Protocol):
    async def publish(self, items: Sequence[Publication]) -> None: ...

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


class HttpPublisher:
    """Publishes through the Pusher HTTP API with signed ``batch_events`` requests."""

    def __init__(
        self,
        credentials: PusherCredentials,
        *,
        max_batch_events: int = 10,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if max_batch_events < 1:
            raise ValueError("max_batch_events must be at least 1")
        self.credentials = credentials
        self.max_batch_events = max_batch_events
        self.timeout = timeout
        self._session = session
        self._own_session = session is None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            self._own_session = True
        return self._session

    async def publish(self, items: Sequence[Publication]) -> None:
        entries = _entries(items)
        session = await self._client()
        path = f"/apps/{self.credentials.app_id}/batch_events"
        for start in range(0, len(entries), self.max_batch_events):
            body = orjson.dumps({"batch": entries[start : start + self.max_batch_events]})
            params = sign_request(self.credentials.key, self.credentials.secret, "POST", path, {}, body)
            try:
                async with session.post(
                    self.credentials.base_url + path,
                    params=params,
                    data=body,
                    headers={"Content-Type": "application/json"},
                ) as response:
                    if response.status != 200:
                        text = (await response.text())[:200]
                        raise PublishError(f"{path} answered HTTP {response.status}: {text}")
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                raise PublishError(f"cannot reach {self.credentials.base_url}: {error!r}") from error

    async def listeners(self) -> dict[str, Any]:
        """``GET /apps/{id}/channels?info=subscription_count`` of the Pusher server."""
        session = await self._client()
        path = f"/apps/{self.credentials.app_id}/channels"
        query = {"info": "subscription_count"}
        params = sign_request(self.credentials.key, self.credentials.secret, "GET", path, query)
        try:
            async with session.get(self.credentials.base_url + path, params=params) as response:
                if response.status != 200:
                    raise PublishError(f"{path} answered HTTP {response.status}")
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise PublishError(f"cannot reach {self.credentials.base_url}: {error!r}") from error
        return dict(data.get("channels") or {})

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


class PublishQueue:
    """A bounded, ordered hand-over from request handlers to one publishing task.

    Each :meth:`submit` is queued as one list (a request's publications travel together: no
    per-publication queue operation); the bound ``max_pending`` still counts publications.
    """

    def __init__(
        self,
        publisher: Publisher,
        *,
        max_pending: int = 100_000,
        max_batch: int = 1_000,
        retries: int = 2,
        retry_delay: float = 0.5,
    ) -> None:
        self.publisher = publisher
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.retries = retries
        self.retry_delay = retry_delay
        #: Submitted lists not yet taken by the worker, oldest first.
        self._lists: deque[list[Publication]] = deque()
        #: Publications submitted and not yet handled (queued or being delivered).
        self._pending = 0
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.dropped = 0
        self.failed = 0
        #: Highest event seq whose publications were handled (delivered, or given up after the
        #: retries). Submissions are in seq order, so everything below it was handled too.
        self.handled_seq = 0

    def submit(self, items: Sequence[Publication]) -> int:
        """Enqueue without waiting; returns how many were accepted (the rest are dropped)."""
        room = self.max_pending - self._pending
        if room <= 0 or not items:
            self.dropped += len(items)
            return 0
        accepted = list(items[:room]) if len(items) > room else list(items)
        self.dropped += len(items) - len(accepted)
        self._lists.append(accepted)
        self._pending += len(accepted)
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
            lists.appendleft(batch[self.max_batch:])
            del batch[self.max_batch:]
        return batch

    async def _run(self) -> None:
        while True:
            while not self._lists:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = self._take()
            try:
                await self._deliver(batch)
            finally:
                seq = max((item.seq for item in batch if item.seq is not None), default=0)
                if seq > self.handled_seq:
                    self.handled_seq = seq
                self._pending -= len(batch)
                if self._pending == 0:
                    self._idle.set()

    async def _deliver(self, batch: list[Publication]) -> None:
        for attempt in range(self.retries + 1):
            try:
                await self.publisher.publish(batch)
                self.published += len(batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - a failed publish must not stop the worker
                if attempt == self.retries:
                    self.failed += len(batch)
                    log.warning("dropped %d publications: %s", len(batch), error)
                    return
                await asyncio.sleep(self.retry_delay * (attempt + 1))

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until everything submitted so far was published (or dropped)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def stop(self, timeout: float = 5.0) -> None:
        """Publish what is pending (up to ``timeout``), then stop the worker and the publisher."""
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

    def stats(self) -> dict[str, int]:
        """Counts since start; ``failed`` includes single publications the hub refused."""
        return {
            "pending": self._pending,
            "published": self.published,
            "dropped": self.dropped,
            "failed": self.failed + int(getattr(self.publisher, "failed", 0)),
        }
