"""Outgoing webhooks: batched, signed, retried with back-off, never blocking delivery.

One :class:`WebhookSender` per app with a ``webhook_url``. :meth:`WebhookSender.put` only
appends to a bounded queue (``max_queue`` events; beyond it new events are dropped and counted in
``dropped``), so message delivery never waits for a webhook receiver. A background task posts the
queue every ``batch_interval`` seconds, at most ``max_batch`` events per request, signed with
``X-Pusher-Key`` / ``X-Pusher-Signature``. A failed request (connection error or non-2xx status)
is retried after ``backoff * 2**attempt`` seconds (capped at ``max_backoff``) up to
``max_attempts`` times, then the batch is dropped and counted in ``failed``.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import aiohttp

from authviz.pusher.protocol import App
from authviz.pusher.webhooks import webhook_body, webhook_headers

__all__ = ["WebhookSender"]


class WebhookSender:
    """Delivers one app's webhook events to its ``webhook_url``."""

    def __init__(
        self,
        app: App,
        *,
        batch_interval: float = 0.1,
        max_batch: int = 100,
        max_queue: int = 10_000,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        timeout: float = 5.0,
    ) -> None:
        if app.webhook_url is None:
            raise ValueError(f"app {app.app_id} has no webhook_url")
        self.app = app
        self.url = app.webhook_url
        self.batch_interval = batch_interval
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        #: counters (events): posted successfully, dropped for a full queue, given up after retries
        self.delivered = 0
        self.dropped = 0
        self.failed = 0

    def put(self, event: dict[str, Any]) -> None:
        """Queue one event (never blocks; drops and counts it when the queue is full)."""
        if len(self._queue) >= self.max_queue:
            self.dropped += 1
            return
        self._queue.append(event)
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, flush_timeout: float = 1.0) -> None:
        """Try to post what is queued (for at most ``flush_timeout`` s), then stop."""
        if self._task is not None:
            if self._queue:
                self._wake.set()
                deadline = asyncio.get_running_loop().time() + flush_timeout
                while self._queue and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.02)
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.batch_interval)
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
                await self._post(batch)

    async def _post(self, events: list[dict[str, Any]]) -> None:
        body = webhook_body(events)
        headers = webhook_headers(self.app.key, self.app.secret, body)
        assert self._session is not None
        for attempt in range(self.max_attempts):
            try:
                async with self._session.post(self.url, data=body, headers=headers) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        self.delivered += len(events)
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass
            if attempt + 1 < self.max_attempts:
                await asyncio.sleep(min(self.max_backoff, self.backoff * 2**attempt))
        self.failed += len(events)
