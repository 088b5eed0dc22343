"""A local HTTP receiver for alert delivery tests: aiohttp on loopback (port 0), in its own thread.

It answers like a webhook receiver or like Slack's incoming webhooks (documented behaviour: 200
with body ``ok``; 400 ``invalid_payload`` for a body that is not JSON with a ``text`` or
``blocks``; 429 with ``Retry-After`` when rate limited) and can be told to fail, stall or recover:
``receiver.script = ["500", "500"]`` answers the next two requests with 500, then normally;
``receiver.mode = "stall"`` holds every request until ``mode`` changes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

import orjson
from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self):
        return orjson.loads(self.body)


class Receiver:
    def __init__(self, slack: bool = False) -> None:
        self.slack = slack
        self.mode = "ok"  # ok | fail | stall | refuse
        self.script: list[str] = []  # per-request answers taking precedence: "500", "429:1", "stall", "400"
        self.received: list[Received] = []  # acknowledged with 2xx
        self.attempts: list[Received] = []  # every request
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._started.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        record = Received(request.path, dict(request.headers), body, time.monotonic())
        self.attempts.append(record)
        answer = self.script.pop(0) if self.script else self.mode
        while answer == "stall" or (answer == "stall-mode" and self.mode == "stall"):
            await asyncio.sleep(0.05)
            if self.mode != "stall":
                answer = self.mode
        if answer in ("fail", "500"):
            return web.Response(status=500, text="internal error")
        if answer.startswith("429"):
            _, _, after = answer.partition(":")
            return web.Response(status=429, text="rate_limited", headers={"Retry-After": after or "1"})
        if answer in ("refuse", "400"):
            return web.Response(status=400, text="invalid_payload")
        if self.slack:
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError:
                return web.Response(status=400, text="invalid_payload")
            if not isinstance(payload, dict) or not (isinstance(payload.get("text"), str) or payload.get("blocks")):
                return web.Response(status=400, text="no_text")
        self.received.append(record)
        return web.Response(status=200, text="ok")

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received

    def close(self) -> None:
        self.mode = "ok"
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
