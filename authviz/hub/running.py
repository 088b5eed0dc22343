"""Run the hub in-process: a background thread with its own event loop (tests, notebooks).

    with running_hub() as hub:            # a free port on 127.0.0.1
        print(hub.pusher_url)             # http://KEY:SECRET@127.0.0.1:PORT/apps/1 (random SECRET)
        hub.trigger("news", "flash", '{"x": 1}')

The thread only runs the event loop; it never prints. ``stop()`` (or leaving the ``with`` block)
closes every client with 4100, stops the server and joins the thread.

TLS: ``running_hub(tls_cert="cert.pem", tls_key="key.pem")`` serves ``wss://``/``https://`` on
the same port (``url``, ``ws_url`` and ``pusher_url`` say so); clients must trust the certificate
(``PUSHER_CA_FILE`` for the live client, ``verify=`` for the ``pusher`` library).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import ssl
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from aiohttp import web

from authviz.errors import AuthvizError
from authviz.pusher.protocol import App
from authviz.hub.server import HubServer
from authviz.hub.serving import ServerThread
from authviz.hub.tls import server_ssl_context

__all__ = ["RunningHub", "running_hub", "DEFAULT_APP_ID", "DEFAULT_KEY", "random_secret"]

#: Development app id and key (the `pusher` library and soketi want numeric app ids). There is no
#: default secret: each hub gets a random one unless given (a well-known secret would let anyone
#: who reaches the port sign their own channel authorizations).
DEFAULT_APP_ID = "1"
DEFAULT_KEY = "authviz-key"


def random_secret() -> str:
    """A fresh app secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


T = TypeVar("T")

_SERVER_OPTIONS = frozenset(
    {
        "max_message_bytes",
        "send_buffer_bytes",
        "max_request_bytes",
        "tick_interval",
        "close_timeout",
        "webhook_options",
        "limits",
    }
)


class RunningHub:
    """A hub served from a background thread. Attributes are read-only after :meth:`start`.

    ``url`` is the HTTP base (``http://host:port``), ``ws_url`` the websocket base
    (``ws://host:port``), ``pusher_url`` the credentials URL, ``app`` the first app's config,
    ``server`` the :class:`HubServer` (touch it only through :meth:`call`). With ``tls_cert``
    (and ``tls_key``, PEM files) or a server ``ssl_context`` they are https/wss URLs.
    """

    def __init__(
        self,
        apps: Sequence[App],
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout: float = 10.0,
        *,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        **server_options: Any,
    ) -> None:
        unknown = set(server_options) - _SERVER_OPTIONS
        if unknown:
            raise TypeError(f"unknown hub options: {', '.join(sorted(unknown))}")
        if tls_cert is not None:
            if ssl_context is not None:
                raise TypeError("give tls_cert/tls_key or ssl_context, not both")
            ssl_context = server_ssl_context(tls_cert, tls_key)
        elif tls_key is not None:
            raise TypeError("tls_key needs tls_cert")
        #: the server's TLS context (None: plain ws/http)
        self.ssl_context = ssl_context
        self.apps = list(apps)
        self.app = self.apps[0]
        self.host = host
        self.port = port
        self._server_options = server_options
        self._start_timeout = start_timeout
        #: serves ``server.app`` (authviz.hub.serving): the thread, its loop, listen errors
        self._serving_thread: ServerThread | None = None
        self.server: HubServer | None = None

    # -- addresses -------------------------------------------------------------------------------

    @property
    def tls(self) -> bool:
        return self.ssl_context is not None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}"

    @property
    def pusher_url(self) -> str:
        a = self.app
        return f"{'https' if self.tls else 'http'}://{a.key}:{a.secret}@{self.host}:{self.port}/apps/{a.app_id}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The hub's event loop while it runs (for ``asyncio.run_coroutine_threadsafe``)."""
        return self._serving_thread.loop if self._serving_thread is not None else None

    @property
    def running(self) -> bool:
        return self._serving_thread is not None and self._serving_thread.running

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> RunningHub:
        """Start serving (on ``port``; 0 picks a free one, kept across :meth:`restart`); a port
        that cannot be bound is a :class:`~authviz.errors.ListenError` here."""
        if self.running:
            return self
        serving = ServerThread(
            self._make_app,
            host=self.host,
            port=self.port,
            ssl_context=self.ssl_context,
            start_timeout=self._start_timeout,
            shutdown_timeout=2.0,
            on_stop=self._unmount,
            name="authviz-hub",
        )
        serving.start()
        self._serving_thread = serving
        self.port = serving.port
        self._serving()
        return self

    async def _make_app(self) -> web.Application:
        """On the hub's loop: the server, with what subclasses mount on it."""
        self.server = HubServer(self.apps, **self._server_options)
        await self._mount(self.server)
        return self.server.app

    # -- hooks for subclasses that mount more on the same port (the bridge) -------------------

    async def _mount(self, server: HubServer) -> None:
        """Add routes or state to ``server.app`` before it serves (runs on the hub's loop)."""

    def _serving(self) -> None:
        """Called once the port is known (``self.url`` is final)."""

    async def _unmount(self) -> None:
        """Undo :meth:`_mount` after the server stopped (or failed to start)."""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (clients get close 4100) and join the thread. Idempotent."""
        serving, self._serving_thread = self._serving_thread, None
        if serving is not None:
            serving.stop(timeout)

    def restart(self) -> RunningHub:
        """Stop and start again on the same port (clients see 4100 and reconnect)."""
        self.stop()
        return self.start()

    def __enter__(self) -> RunningHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- calling into the hub --------------------------------------------------------------------

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the hub's event loop and return its result."""
        serving = self._serving_thread
        if serving is None or not serving.running:
            raise AuthvizError("the hub is not running; start it first")
        return serving.call(fn, *args, timeout=timeout, **kwargs)

    def trigger(
        self,
        channels: str | Iterable[str],
        event: str,
        data: str,
        socket_id: str | None = None,
        app_id: str | None = None,
    ) -> None:
        """Publish from any thread (see :meth:`HubServer.trigger`)."""
        channels = channels if isinstance(channels, str) else list(channels)
        self.call(lambda: self.server.trigger(app_id or self.app.app_id, channels, event, data, socket_id))

    def send_to_user(self, user_id: str, event: str, data: str, app_id: str | None = None) -> None:
        self.call(lambda: self.server.send_to_user(app_id or self.app.app_id, user_id, event, data))

    def channels(self, prefix: str = "", app_id: str | None = None) -> dict[str, int]:
        return self.call(lambda: self.server.channels(app_id or self.app.app_id, prefix))

    def channel_info(self, name: str, app_id: str | None = None) -> dict[str, Any]:
        return self.call(lambda: self.server.channel_info(app_id or self.app.app_id, name))

    def presence_users(self, name: str, app_id: str | None = None) -> list[str]:
        return self.call(lambda: self.server.presence_users(app_id or self.app.app_id, name))

    def connection_count(self, app_id: str | None = None) -> int:
        return self.call(lambda: self.server.connection_count(app_id or self.app.app_id))


def running_hub(
    app_id: str = DEFAULT_APP_ID,
    key: str = DEFAULT_KEY,
    secret: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    apps: Sequence[App] | None = None,
    **options: Any,
) -> RunningHub:
    """Start a hub in a background thread; use as a context manager (stops and joins on exit).

    ``options`` are :class:`~authviz.pusher.protocol.App` fields (``enable_client_events``,
    ``activity_timeout``, ``webhook_url``, ``webhook_debounce``, ``max_cache_channels``,
    ``limits``, ...), :class:`HubServer` options (``send_buffer_bytes``, ``tick_interval``, ...)
    and TLS (``tls_cert``/``tls_key`` PEM files, or ``ssl_context``). ``apps`` serves several
    apps instead. Without ``secret`` the hub gets a random one (read it from ``pusher_url``).
    """
    tls = {k: options.pop(k) for k in ("tls_cert", "tls_key", "ssl_context") if k in options}
    server_options = {k: v for k, v in options.items() if k in _SERVER_OPTIONS}
    app_options = {k: v for k, v in options.items() if k not in _SERVER_OPTIONS}
    if apps is None:
        apps = [App(str(app_id), key, secret or random_secret(), **app_options)]
    elif app_options:
        raise TypeError("pass App options inside the App objects when giving apps=")
    return RunningHub(apps, host, port, **tls, **server_options).start()
