"""A server that sheds bad clients: read timeouts and connection caps, in front of aiohttp.

:class:`ServerLimits` names every limit. :class:`ConnectionGuard` holds the accounting (pure: no
sockets, no clock of its own); :class:`GuardedSite` (an aiohttp ``TCPSite``) wraps each accepted
connection's protocol so the guard sees it from its first byte, and :func:`guard_middleware`
answers what the guard decided once a request's headers are read.

Promises (each tested in ``tests/test_security_guard.py``):

* **Header timeout.** A connection must deliver a request's complete headers within
  ``header_timeout`` seconds of connecting (or of its previous response): otherwise it is closed,
  after a ``408`` when it had sent part of a request. Slowloris sockets cannot be held forever.
* **Body timeout.** An HTTP request (not a websocket) must be read and answered within
  ``body_timeout`` seconds of its headers; otherwise ``408`` and the connection is closed.
* **Caps.** At most ``max_connections`` connections in all and ``max_connections_per_address``
  from one IP address are served. One more is answered cleanly and closed: HTTP ``503`` (with
  ``Retry-After``), or, for a websocket upgrade, the handshake completes and the socket is closed
  with ``4100`` "over capacity" (Pusher clients reconnect with back-off). At most
  ``max_refusing`` such answers are in flight (each waits at most 5 s for its request); beyond
  that an over-cap connection is dropped at once, so a flood cannot exhaust file descriptors
  through the refusals themselves.
* Connections under the caps are never slowed by those above them: the guard does O(1) work per
  connection and per request.

Cost: one small record and one timer handle per open connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

__all__ = [
    "GUARD_KEY",
    "ConnectionGuard",
    "GuardedSite",
    "ServerLimits",
    "default_max_connections",
    "guard_middleware",
    "guarded_application",
]

log = logging.getLogger(__name__)

OVER_CAPACITY_CODE = 4100
#: Seconds an over-capacity connection may take to send the request it will be refused.
REFUSAL_TIMEOUT = 5.0
OVER_CAPACITY_REASON = "over capacity"
#: File descriptors kept free for the store, logs, webhooks and the listening sockets.
_RESERVED_FDS = 64


def default_max_connections() -> int:
    """Connections in all by default: the process's file limit less a reserve (<= 10,000).

    Serving more sockets than the process may open would make every client fail, the legitimate
    ones first; refusing the excess cleanly keeps the rest answered.
    """
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ValueError, OSError):
        soft = 1024
    if soft == resource.RLIM_INFINITY:
        soft = 10_000 + _RESERVED_FDS
    return max(16, min(10_000, soft - _RESERVED_FDS))


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Every limit of :class:`ConnectionGuard` (seconds and counts; see the module docstring)."""

    header_timeout: float = 30.0
    body_timeout: float = 60.0
    max_connections: int = 0  # 0: default_max_connections()
    max_connections_per_address: int = 256
    max_refusing: int = 32

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        for name in ("max_connections", "max_connections_per_address", "max_refusing"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")
        if self.max_connections == 0:
            object.__setattr__(self, "max_connections", default_max_connections())
        if self.max_connections_per_address == 0:
            object.__setattr__(self, "max_connections_per_address", self.max_connections)


class _Conn:
    """One accepted connection's state. ``phase``: headers | request | websocket."""

    __slots__ = ("address", "admitted", "phase", "received", "timer", "transport")

    def __init__(self, transport: asyncio.BaseTransport, address: str, admitted: bool) -> None:
        self.transport = transport
        self.address = address
        self.admitted = admitted
        self.phase = "headers"
        self.received = False  # bytes of an incomplete request arrived in this phase
        self.timer: asyncio.TimerHandle | None = None


class ConnectionGuard:
    """Counts connections per address and runs each one's deadline (see the module docstring).

    Runs on the server's event loop only; counters are exact (every admit has one release).
    """

    def __init__(self, limits: ServerLimits | None = None) -> None:
        self.limits = limits or ServerLimits()
        self.total = 0
        self.by_address: Counter[str] = Counter()
        self.refusing = 0
        #: observability and tests: connections refused as over capacity, and timed out
        self.refused = 0
        self.dropped = 0
        self.timed_out = 0
        self._conns: dict[int, _Conn] = {}

    # -- accounting (pure) ---------------------------------------------------------------------

    def admits(self, address: str) -> bool:
        limits = self.limits
        return self.total < limits.max_connections and self.by_address[address] < limits.max_connections_per_address

    # -- connection life cycle -------------------------------------------------------------------

    def opened(self, transport: asyncio.BaseTransport) -> _Conn | None:
        """Register a new connection; None when it must be dropped at once."""
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, (tuple, list)) and peer else ""
        admitted = self.admits(address)
        if admitted:
            self.total += 1
            self.by_address[address] += 1
        else:
            self.refused += 1
            if self.refusing >= self.limits.max_refusing:
                self.dropped += 1
                return None
            self.refusing += 1
        conn = _Conn(transport, address, admitted)
        self._conns[id(transport)] = conn
        # a refused connection gets at most REFUSAL_TIMEOUT to send the request it is refused
        self._arm(conn, self.limits.header_timeout if admitted else min(self.limits.header_timeout, REFUSAL_TIMEOUT))
        return conn

    def closed(self, conn: _Conn) -> None:
        if self._conns.pop(id(conn.transport), None) is None:
            return
        self._disarm(conn)
        if conn.admitted:
            self.total -= 1
            self.by_address[conn.address] -= 1
            if not self.by_address[conn.address]:
                del self.by_address[conn.address]
        else:
            self.refusing -= 1

    def lookup(self, transport: asyncio.BaseTransport | None) -> _Conn | None:
        return self._conns.get(id(transport)) if transport is not None else None

    def request_started(self, conn: _Conn, *, websocket: bool) -> None:
        self._disarm(conn)
        conn.received = False
        conn.phase = "websocket" if websocket else "request"

    def request_finished(self, conn: _Conn) -> None:
        if conn.phase == "request" and id(conn.transport) in self._conns:
            conn.phase = "headers"
            conn.received = False
            self._arm(conn, self.limits.header_timeout)

    # -- deadlines -------------------------------------------------------------------------------

    def _arm(self, conn: _Conn, seconds: float) -> None:
        self._disarm(conn)
        loop = asyncio.get_running_loop()
        conn.timer = loop.call_later(seconds, self._expired, conn)

    @staticmethod
    def _disarm(conn: _Conn) -> None:
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None

    def _expired(self, conn: _Conn) -> None:
        conn.timer = None
        if conn.phase != "headers" or id(conn.transport) not in self._conns:
            return
        self.timed_out += 1
        transport = conn.transport
        if conn.received and not transport.is_closing():
            transport.write(  # type: ignore[attr-defined] - a write transport (asyncio or uvloop)
                b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                b"Content-Type: text/plain\r\nContent-Length: 38\r\n\r\n"
                b"the request headers took too long\r\n\r\n"
            )
        transport.close()


class _QuietRequestHandler(RequestHandler):
    """aiohttp's protocol, answering a malformed request without a word of the request: the
    default echoes up to ~100 bytes of an over-long header (a bearer token) in the 400 and logs it
    with a traceback at ERROR. A client that went away mid-request is logged at DEBUG."""

    __slots__ = ()

    def handle_error(
        self, request: Any, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        quiet = status < 500 or isinstance(exc, (ConnectionError, aiohttp.ClientError, asyncio.CancelledError))
        if not quiet:
            return super().handle_error(request, status, exc, message)
        log.debug(
            "refused a request from %s: HTTP %d (%s)",
            request.remote,
            status,
            type(exc).__name__ if exc is not None else "no detail",
        )
        if request.writer is not None and request.writer.output_size > 0:
            raise ConnectionError("the response had started; the connection is closed")
        if status >= 500:
            status = 400
        response = web.Response(
            status=status, text=f"{status} {HTTPStatus(status).phrase}\n", headers={"Server": "authviz"}
        )
        response.force_close()
        return response


def _request_handler(server: web.Server) -> asyncio.Protocol:
    """What ``server()`` makes (aiohttp's ``Server.__call__``), as a :class:`_QuietRequestHandler`."""
    try:
        return _QuietRequestHandler(server, loop=server._loop, **server._kwargs)
    except (AttributeError, TypeError):  # another aiohttp layout: its own handler, unchanged
        return server()


class _GuardedProtocol(asyncio.Protocol):
    """Delegates to aiohttp's protocol; tells the guard when the connection opens and closes."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._conn: _Conn | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._conn = self._guard.opened(transport)
        if self._conn is None:
            transport.abort()
            return
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        conn = self._conn
        if conn is None:
            return
        if conn.phase == "headers":
            conn.received = True
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._conn is None:
            return None
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        self._guard.closed(conn)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class GuardedSite(web.TCPSite):
    """A ``TCPSite`` whose connections pass through ``guard`` (same arguments, plus ``guard``)."""

    def __init__(self, runner: web.BaseRunner, *args: Any, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(runner, *args, **kwargs)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        guard = self.guard
        self._server = await loop.create_server(
            lambda: _GuardedProtocol(_request_handler(server), guard),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


def _is_websocket_upgrade(request: web.BaseRequest) -> bool:
    return (
        request.headers.get("Upgrade", "").lower() == "websocket"
        and "upgrade" in request.headers.get("Connection", "").lower()
    )


def guard_middleware(guard: ConnectionGuard) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware that answers over-capacity connections and bounds each request's time.

    Put it first in ``app.middlewares`` (before any other), and serve with :class:`GuardedSite`.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        conn = guard.lookup(request.transport)
        if conn is None:  # served without GuardedSite: nothing to do
            return await handler(request)
        websocket = _is_websocket_upgrade(request)
        guard.request_started(conn, websocket=websocket)
        try:
            if not conn.admitted:
                return await _over_capacity(request, websocket)
            if websocket:
                return await handler(request)
            try:
                async with asyncio.timeout(guard.limits.body_timeout) as deadline:
                    return await handler(request)
            except TimeoutError:
                if not deadline.expired():
                    raise
                guard.timed_out += 1
                response = web.Response(status=408, text="the request took too long to arrive\n")
                response.force_close()
                return response
        finally:
            guard.request_finished(conn)

    return middleware


async def _over_capacity(request: web.Request, websocket: bool) -> web.StreamResponse:
    if websocket:
        ws = web.WebSocketResponse()
        with contextlib.suppress(Exception):
            await ws.prepare(request)
            await ws.close(code=OVER_CAPACITY_CODE, message=OVER_CAPACITY_REASON.encode())
            return ws
    response = web.Response(status=503, text="the server is over capacity; retry later\n", headers={"Retry-After": "1"})
    response.force_close()
    return response


#: The :class:`ConnectionGuard` of an application made by :func:`guarded_application`.
GUARD_KEY: web.AppKey[ConnectionGuard] = web.AppKey("authviz.guard", ConnectionGuard)


async def _no_version_banner(_request: web.Request, response: web.StreamResponse) -> None:
    """``Server: authviz``: no library or Python versions for scanners to match."""
    response.headers["Server"] = "authviz"


def guarded_application(guard: ConnectionGuard, **kwargs: Any) -> web.Application:
    """A ``web.Application`` answering what ``guard`` decides (serve it with :class:`GuardedSite`
    and ``guard=app[GUARD_KEY]``), without a version banner. ``kwargs``: ``web.Application``'s."""
    app = web.Application(middlewares=[guard_middleware(guard)], **kwargs)
    app.on_response_prepare.append(_no_version_banner)
    app[GUARD_KEY] = guard
    return app
