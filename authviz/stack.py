"""Build and serve the server stack: the embedded hub, the bridge on it, the dev identity.

One way for every entry point (``authviz serve``, ``authviz bridge``, the notebooks' local mode,
tests): :func:`build_hub` makes the hub with the bridge mounted from a typed
:class:`~authviz.config.BridgeSettings`; :func:`serve` runs an aiohttp application on an address
until SIGINT/SIGTERM (listen failures raise :class:`~authviz.errors.ListenError`, failures of the
start-up hooks, such as a store that cannot be opened, raise :class:`~authviz.errors.StateError`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from authviz.bridge.app import Bridge
from authviz.bridge.serve import mount
from authviz.config import BridgeSettings
from authviz.errors import ConfigError, ListenError, StateError
from authviz.hub.guard import GUARD_KEY, GuardedSite, ServerLimits
from authviz.hub.server import HubServer
from authviz.pusher.protocol import App

__all__ = ["build_hub", "serve"]


def build_hub(apps: Sequence[App], bridge: BridgeSettings | None, *, host: str | None = None,
              port: int | None = None, tls: bool = False,
              limits: ServerLimits | None = None) -> tuple[HubServer, Bridge | None]:
    """The hub serving ``apps``, with the bridge mounted on it unless ``bridge`` is None;
    ``limits``: its read timeouts and connection caps (default :class:`ServerLimits`)."""
    try:
        hub = HubServer(list(apps), limits=limits)
    except ValueError as exc:
        raise ConfigError(f"{exc}.") from None
    mounted = None
    if bridge is not None:
        try:
            mounted = mount(hub.app, hub, bridge, host=host, port=port, tls=tls)
        except OSError as exc:
            raise StateError(exc) from None
    return hub, mounted


async def serve(app: web.Application, *, host: str, port: int,
                ssl_context: ssl.SSLContext | None = None,
                ready: Callable[[int], Awaitable[None] | None] | None = None,
                shutdown_timeout: float = 3.0) -> None:
    """Serve ``app`` on ``host:port`` until SIGINT/SIGTERM; ``ready(port)`` is called once it
    listens (the bound port: ``port`` may be 0). The application is cleaned up on the way out."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=shutdown_timeout)
    try:
        await runner.setup()  # runs the start-up hooks (the bridge opens its store)
    except OSError as exc:
        with contextlib.suppress(Exception):  # the sentence of StateError is what the user needs
            await runner.cleanup()
        raise StateError(exc) from None
    try:
        guard = app.get(GUARD_KEY)  # timeouts and caps of a guarded application (authviz.hub.guard)
        site = (GuardedSite(runner, host, port, reuse_address=True, ssl_context=ssl_context,
                            guard=guard) if guard is not None
                else web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context))
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(host, port, exc) from None
        bound: Any = runner.addresses[0][1]
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
