"""A real soketi cluster for the tests and benchmarks: Redis, soketi nodes, and the bridge.

* :class:`RedisServer` — Debian's ``redis-server`` on a free loopback port, no persistence
  (``make test`` installs it with apt-get when missing).
* soketi nodes are :class:`live_support.SoketiServer` with ``redis_port``: the Redis adapter joins
  them (same app on each node), so a publication on one reaches clients on every node.
* :class:`BridgeThread` — the standalone bridge (``authviz.bridge.serve.standalone_app``, the code
  behind ``authviz bridge``) in a background thread with its own event loop, publishing through
  the Pusher HTTP API to one or several nodes; stop and start it again on the same store.

Every wait is bounded; every port is a free one.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from authviz.bridge import serve as bridge_serve
from authviz.config import BridgeSettings
from live_support import free_port

LOG_TOKEN = "cluster-log-token-for-tests"


def redis_missing_reason() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (make test installs Debian's redis-server)"
    return None


class RedisServer:
    """``redis-server`` on a free port, in memory only; :meth:`close` stops it."""

    def __init__(self, start_timeout: float = 10.0) -> None:
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="authviz-redis-")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise RuntimeError(f"redis-server did not answer PING within {start_timeout} s")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._dir.cleanup()


def bridge_settings_for(state_dir: Path, **fields: Any) -> BridgeSettings:
    """The settings ``authviz bridge --state-dir DIR --log-token T`` makes (no environment)."""
    return BridgeSettings(state_dir=state_dir, log_token=LOG_TOKEN, **fields)


class BridgeThread:
    """The standalone bridge on a free port in a background thread (start/stop repeatable)."""

    def __init__(self, state_dir: Path, pusher_urls: Sequence[str], **fields: Any) -> None:
        self.state_dir = state_dir
        self.pusher_urls = list(pusher_urls)
        self.fields = fields  # BridgeSettings fields
        self.port = 0
        self.bridge: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def history_url(self) -> str:
        return self.url + "/auth0/events"

    def start(self, timeout: float = 20.0) -> BridgeThread:
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            settings = bridge_settings_for(self.state_dir, **self.fields)
            app, self.bridge = bridge_serve.standalone_app(settings, self.pusher_urls, host="127.0.0.1", port=self.port)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", self.port)
                await site.start()
                self.port = runner.addresses[0][1]
                self._stop = asyncio.Event()
                ready.set()
                await self._stop.wait()
            finally:
                await runner.cleanup()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(main())
            except BaseException as error:  # noqa: BLE001 - handed to the starting thread
                failure.append(error)
                ready.set()
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="cluster-bridge", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("the bridge did not start")
        if failure:
            raise failure[0]
        return self

    def call(self, fn: Any) -> Any:
        """Run ``fn()`` (a coroutine function or plain one) on the bridge's loop; its result."""
        assert self._loop is not None

        async def run() -> Any:
            result = fn()
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def status(self) -> dict[str, Any]:
        return self.call(self.bridge.publishing_status)

    def stop(self, timeout: float = 20.0) -> None:
        if self._thread is None or self._loop is None or self._stop is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self._thread = None
