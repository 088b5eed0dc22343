"""Serve an aiohttp application: in the foreground until SIGINT/SIGTERM (:func:`serve`, the
commands) or from a background thread with its own event loop (:class:`ServerThread`: no signal
handlers; ``running_hub()``, the notebooks, tests). Both start the same way (:func:`listen`):
listen failures raise :class:`~authviz.errors.ListenError`, failures of the start-up hooks (a
store that cannot be opened) raise :class:`~authviz.errors.StateError`; a guarded application
(:mod:`authviz.hub.guard`) is served on its :class:`~authviz.hub.guard.GuardedSite`.

Entry points reach these through :mod:`authviz.stack`, which also builds what they serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from aiohttp import web

from authviz.errors import AuthvizError, ListenError, StateError
from authviz.hub.guard import GUARD_KEY, GuardedSite
from authviz.hub.loop import new_event_loop

__all__ = ["ServerThread", "listen", "serve"]

T = TypeVar("T")


async def listen(
    app: web.Application,
    *,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    shutdown_timeout: float = 3.0,
) -> tuple[web.AppRunner, int]:
    """Start serving ``app`` on ``host:port``: its runner (clean it up to stop) and the bound port
    (``port`` may be 0). Nothing is left running when this raises."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=shutdown_timeout)
    try:
        await runner.setup()  # runs the start-up hooks (the bridge opens its store)
    except OSError as exc:
        with contextlib.suppress(Exception):  # the sentence of StateError is what the user needs
            await runner.cleanup()
        raise StateError(exc) from None
    guard = app.get(GUARD_KEY)  # timeouts and caps of a guarded application (authviz.hub.guard)
    site = (
        GuardedSite(runner, host, port, reuse_address=True, ssl_context=ssl_context, guard=guard)
        if guard is not None
        else web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
    )
    try:
        await site.start()
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await runner.cleanup()
        if isinstance(exc, OSError):
            raise ListenError(host, port, exc) from None
        raise
    return runner, runner.addresses[0][1]


async def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    ready: Callable[[int], Awaitable[None] | None] | None = None,
    shutdown_timeout: float = 3.0,
) -> None:
    """Serve ``app`` on ``host:port`` until SIGINT/SIGTERM; ``ready(port)`` is called once it
    listens (the bound port: ``port`` may be 0). The application is cleaned up on the way out."""
    runner, bound = await listen(app, host=host, port=port, ssl_context=ssl_context, shutdown_timeout=shutdown_timeout)
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if ready is not None:
            result = ready(bound)
            if asyncio.iscoroutine(result):
                await result
        await stop.wait()
    finally:
        await runner.cleanup()


class ServerThread:
    """An aiohttp application served from a background thread with its own event loop.

    ``make_app`` runs on that loop (so what the application holds belongs to it) and returns the
    application; ``on_stop`` runs there after the application is cleaned up (also when the start
    failed after ``make_app``). :meth:`start` returns once the server listens (``port`` is then
    the bound port, kept across :meth:`restart`) or raises what stopped it
    (:class:`~authviz.errors.ListenError`, :class:`~authviz.errors.StateError`...) in the caller's
    thread. No signal handlers (the caller's thread owns them); the thread only runs the event
    loop and never prints; :meth:`stop` cleans up and joins it.
    """

    def __init__(
        self,
        make_app: Callable[[], Awaitable[web.Application]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        start_timeout: float = 10.0,
        shutdown_timeout: float = 2.0,
        on_stop: Callable[[], Awaitable[None]] | None = None,
        name: str = "authviz-server",
    ) -> None:
        self._make_app = make_app
        self._on_stop = on_stop
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self.start_timeout, self.shutdown_timeout, self.name = start_timeout, shutdown_timeout, name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    def start(self) -> ServerThread:
        """Serve (a no-op when already serving)."""
        if self.running:
            return self
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, args=(ready,), name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=self.start_timeout)
        except BaseException:
            self._thread.join(timeout=self.start_timeout)
            self._thread = None
            raise
        return self

    def _main(self, ready: Future[None]) -> None:
        loop = new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            ready.set_exception(exc)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = None
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = None

    async def _start(self) -> None:
        app = await self._make_app()
        try:
            self._runner, self.port = await listen(
                app,
                host=self.host,
                port=self.port,
                ssl_context=self.ssl_context,
                shutdown_timeout=self.shutdown_timeout,
            )
        except BaseException:
            if self._on_stop is not None:
                await self._on_stop()
            raise

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._on_stop is not None:
            await self._on_stop()

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the server's event loop and return its result."""
        loop = self._loop
        if loop is None or not self.running:
            raise AuthvizError("the server is not running; start it first")
        if threading.current_thread() is self._thread:  # already on the server's loop
            return fn(*args, **kwargs)

        async def invoke() -> T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(invoke(), loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, clean the application up and join the thread (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=timeout)
        self._thread = None

    def restart(self) -> ServerThread:
        """Stop and serve again on the same port."""
        self.stop()
        return self.start()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
