"""Servers and fault injection for the live client tests (and benchmarks/bench_live.py).

* :class:`HubServer` — the embedded hub (``authviz.hub.running_hub``) in a background thread.
* :class:`SoketiServer` — real soketi 1.6.1 under Node (``tests/node/soketi``), started with a config
  file on free loopback ports, readiness awaited, killed on teardown.
* :class:`FaultProxy` — a real websocket proxy (aiohttp) between client and server that can close
  every client with any code, drop connections without a close frame, freeze traffic (a dead link)
  or refuse new connections. It works in front of either server.

Both servers publish through the real ``pusher`` library over HTTP (signed requests). Every wait is
bounded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pusher
import pytest

from authviz.config import PusherSettings

ROOT = Path(__file__).resolve().parent.parent
SOKETI_DIR = ROOT / "tests" / "node" / "soketi"
SOKETI_BIN = SOKETI_DIR / "node_modules" / ".bin" / "soketi"
APP_ID, KEY, SECRET = "4242", "live-key", "live-secret"
MASTER_KEY = bytes(range(32))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until truthy; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(interval)


def node_missing_reason() -> str | None:
    """Why soketi cannot run here (only: Node is absent), else None."""
    if shutil.which("node") is None:
        return "Node.js is not installed, so soketi cannot run"
    return None


class _Backend:
    name = "?"
    port: int

    @property
    def pusher_url(self) -> str:
        return f"http://{KEY}:{SECRET}@127.0.0.1:{self.port}/apps/{APP_ID}"

    def settings(self, **overrides: Any) -> PusherSettings:
        return PusherSettings.from_url(self.pusher_url, encryption_master_key=MASTER_KEY, **overrides)

    @property
    def api(self) -> pusher.Pusher:
        return pusher.Pusher(
            app_id=APP_ID,
            key=KEY,
            secret=SECRET,
            host="127.0.0.1",
            port=self.port,
            ssl=False,
            timeout=5,
            encryption_master_key_base64=base64.b64encode(MASTER_KEY).decode(),
        )

    def trigger(self, channel: str, event: str, data: Any) -> None:
        """Publish through the signed HTTP API (``data`` is JSON-encoded unless a string)."""
        self.api.trigger(channel, event, data)

    def send_to_user(self, user_id: str, event: str, data: Any) -> None:
        self.api.send_to_user(user_id, event, data)


class HubServer(_Backend):
    name = "hub"

    def __init__(self, **options: Any) -> None:
        from authviz.hub import running_hub

        # client events on, like the soketi backend's app (the hub's default is off)
        options.setdefault("enable_client_events", True)
        self._hub = running_hub(app_id=APP_ID, key=KEY, secret=SECRET, **options)
        self.port = self._hub.port

    def stop(self) -> None:
        self._hub.stop()

    def start(self) -> None:
        self._hub.start()

    def restart(self) -> None:
        self._hub.restart()

    def close(self) -> None:
        self._hub.stop()


class SoketiServer(_Backend):
    """soketi on free loopback ports; ``stop()`` is its graceful shutdown (clients get 4200)."""

    name = "soketi"

    def __init__(
        self,
        *,
        grace_ms: int = 300,
        max_batch: int = 100,
        activity_timeout: int | None = None,
        start_timeout: float = 20.0,
        redis_port: int | None = None,
        redis_prefix: str = "authviz",
    ) -> None:
        if not SOKETI_BIN.exists():
            raise RuntimeError(f"soketi is not installed in {SOKETI_DIR}: run `make node`.")
        self.port = free_port()
        self.metrics_port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="authviz-soketi-")
        self.config = Path(self._dir.name) / "soketi.json"
        self.config.write_text(
            json.dumps(
                {
                    "debug": False,
                    "host": "127.0.0.1",
                    "port": self.port,
                    "shutdownGracePeriod": grace_ms,
                    "metrics.enabled": False,
                    "metrics.port": self.metrics_port,
                    "eventLimits.maxBatchSize": max_batch,
                    "appManager.array.apps": [
                        {
                            "id": APP_ID,
                            "key": KEY,
                            "secret": SECRET,
                            "enableClientMessages": True,
                            "enableUserAuthentication": True,
                            "maxBackendEventsPerSecond": -1,
                            "maxClientEventsPerSecond": -1,
                            "maxReadRequestsPerSecond": -1,
                        }
                    ],
                    # a node of a cluster: the Redis adapter joins the nodes sharing the prefix
                    **(
                        {
                            "adapter.driver": "redis",
                            "adapter.redis.prefix": redis_prefix,
                            "database.redis.host": "127.0.0.1",
                            "database.redis.port": redis_port,
                        }
                        if redis_port is not None
                        else {}
                    ),
                }
            )
        )
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self._log = open(Path(self._dir.name) / "soketi.log", "wb")
        self.start()

    def start(self) -> None:
        env = {**os.environ, "SOKETI_METRICS_HOST": "127.0.0.1"}
        self.process = subprocess.Popen(
            [str(SOKETI_BIN), "start", f"--config={self.config}"],
            cwd=SOKETI_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"soketi exited with {self.process.returncode}: {self.log_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"soketi did not become ready in {self.start_timeout} s: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        self._log.flush()
        return (Path(self._dir.name) / "soketi.log").read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM: clients get 4200), then SIGKILL if it lingers."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        """SIGKILL (a crash: no close frames, nothing flushed)."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def close(self) -> None:
        self.stop()
        self._log.close()
        self._dir.cleanup()


def make_backend(kind: str, **options: Any) -> _Backend:
    return HubServer(**options) if kind == "hub" else SoketiServer(**options)


class FaultProxy:
    """A websocket proxy on a free port in front of ``upstream_port`` that injects faults.

    ``close_all(code)``: close every client with a close frame carrying ``code``.
    ``drop_all()``: abort every client TCP connection (no close frame).
    ``freeze(True)``: stop forwarding in both directions (a dead link: only keep-alive can tell).
    ``refuse(True)``: answer new websocket upgrades with HTTP 503.
    ``accepted``: number of client connections accepted so far.
    """

    def __init__(self, upstream_port: int, tls_dir: Path | None = None) -> None:
        """``tls_dir``: serve wss with a fresh self-signed certificate for 127.0.0.1 written there
        (``ca_file`` is its path, for the client to trust)."""
        self.upstream_port = upstream_port
        self.ca_file: Path | None = None
        self._ssl = None
        if tls_dir is not None:
            self.ca_file, self._ssl = self_signed_tls(tls_dir)
        self.port = 0
        self.accepted = 0
        self.frozen = False
        self.refusing = False
        self._clients: set[Any] = set()
        self._loop = asyncio.new_event_loop()
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, args=(ready,), name="fault-proxy", daemon=True)
        self._thread.start()
        ready.result(10)

    def settings(self, backend: _Backend, **overrides: Any) -> PusherSettings:
        scheme = "https" if self._ssl is not None else "http"
        return PusherSettings.from_url(
            f"{scheme}://{KEY}:{SECRET}@127.0.0.1:{self.port}/apps/{APP_ID}",
            encryption_master_key=MASTER_KEY,
            **overrides,
        )

    def _main(self, ready: Future[None]) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            app = web.Application()
            app.router.add_get("/app/{key}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
            await site.start()
            self.port = self._runner.addresses[0][1]

        try:
            self._loop.run_until_complete(start())
        except BaseException as error:
            ready.set_exception(error)
            return
        ready.set_result(None)
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def _handle(self, request):
        import aiohttp
        from aiohttp import web

        if self.refusing:
            return web.Response(status=503, text="refused by the fault proxy")
        client = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await client.prepare(request)
        self.accepted += 1
        self._clients.add(client)
        url = f"ws://127.0.0.1:{self.upstream_port}{request.path_qs}"
        try:
            async with aiohttp.ClientSession() as session:
                try:
                    upstream = await session.ws_connect(url, autoping=True, max_msg_size=0)
                except aiohttp.ClientError:
                    await client.close(code=1011, message=b"upstream unavailable")
                    return client
                async with upstream:

                    async def pump(src, dst) -> None:
                        async for msg in src:
                            if msg.type == aiohttp.WSMsgType.TEXT:
                                if not self.frozen:
                                    await dst.send_str(msg.data)
                            else:
                                break

                    up = asyncio.ensure_future(pump(client, upstream))
                    down = asyncio.ensure_future(pump(upstream, client))
                    done, pending = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
                    for task in pending:
                        task.cancel()
                    if down in done and not client.closed:
                        code = upstream.close_code or 1011
                        await client.close(code=code)
        finally:
            self._clients.discard(client)
        return client

    def _run(self, coro_fn: Callable[[], Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro_fn(), self._loop).result(10)

    def close_all(self, code: int, reason: str = "fault injected") -> int:
        async def go() -> int:
            clients = list(self._clients)
            for ws in clients:
                await ws.close(code=code, message=reason.encode())
            return len(clients)

        return self._run(go)

    def drop_all(self) -> int:
        async def go() -> int:
            clients = list(self._clients)
            for ws in clients:
                transport = ws._req.transport if ws._req is not None else None
                if transport is not None:
                    transport.abort()
            return len(clients)

        return self._run(go)

    def freeze(self, frozen: bool = True) -> None:
        self.frozen = frozen

    def refuse(self, refusing: bool = True) -> None:
        self.refusing = refusing

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                self.close_all(1001, "proxy closing")
            except Exception:
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def self_signed_tls(directory: Path):
    """A self-signed certificate for 127.0.0.1 (file path) and a server SSLContext using it."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = Path(directory) / "cert.pem"
    key_file = Path(directory) / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return cert_file, context


def live_threads() -> list[str]:
    """Names of the live client's threads that are still alive.

    Only ``authviz-live-*``: the client names every thread it starts so (pysher's own sched
    thread is never started). Threads named ``Pysher*`` belong to bare pysher clients of other
    test modules, which pysher itself leaves running for up to its 120 s ping interval.
    """
    return [t.name for t in threading.enumerate() if t.name.startswith("authviz-live")]


@pytest.fixture
def clients():
    """Live clients made by a test (append them); closed, and their threads checked, afterwards.

    Test modules use it with ``from live_support import clients``."""
    made: list = []
    yield made
    for c in made:
        assert c.close(), "a live client thread did not end"
    assert wait_for(lambda: not live_threads(), 5), live_threads()
