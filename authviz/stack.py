"""Build and serve the server stack: the embedded hub, the bridge on it, the dev identity.

One way for every entry point (``authviz serve``, ``authviz bridge``, the notebooks' local mode,
tests): :func:`build_hub` makes the hub with the bridge mounted from a typed
:class:`~authviz.config.BridgeSettings`; an aiohttp application is served either in the
foreground by :func:`serve` (until SIGINT/SIGTERM: the commands) or from a background thread with
its own event loop by :class:`ServerThread` (no signal handlers: ``running_hub()``, the notebooks,
tests). Both start the same way (:func:`listen`): listen failures raise
:class:`~authviz.errors.ListenError`, failures of the start-up hooks, such as a store that cannot
be opened, raise :class:`~authviz.errors.StateError`. The serving itself lives in
:mod:`authviz.hub.serving` (below the bridge, so ``running_hub()`` uses it too); this module is
where the entry points reach it.
"""

from __future__ import annotations

from collections.abc import Sequence

from authviz.bridge.app import Bridge
from authviz.bridge.serve import mount
from authviz.config import BridgeSettings
from authviz.errors import ConfigError, StateError
from authviz.hub.guard import ServerLimits
from authviz.hub.server import HubServer
from authviz.hub.serving import ServerThread, listen, serve
from authviz.pusher.protocol import App

__all__ = ["ServerThread", "build_hub", "listen", "serve"]


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


