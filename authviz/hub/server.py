"""The thin aiohttp server around :mod:`authviz.pusher.protocol`: websockets, HTTP API, webhooks.

One port serves ``/app/{key}`` (websocket, Pusher protocol 7, 5-6 accepted) and the HTTP API
under ``/apps/{app_id}/``. Everything the protocol decides comes from the pure
:class:`~authviz.pusher.protocol.Hub`; this module only moves bytes and time.

Delivery (the hot path): each published event is serialised once by the protocol, its websocket
frame (server frames are unmasked: a 2-10 byte header + payload) is built once here, and the same
bytes are written to every subscriber's transport. A ``batch_events`` request coalesces all
frames bound for one connection into a single write. No per-message logging.

Bounds: an inbound message over ``max_message_bytes`` closes the connection (1009). Each
connection's kernel-side send buffer is bounded by ``send_buffer_bytes``: a client that does not
read (its transport buffer is over the bound when a new message is due) is dropped at once, so it
never stalls the others nor grows memory without limit; every connection therefore costs at most
about ``send_buffer_bytes`` + one message of buffered output.

Shutdown: every client receives ``pusher:error`` code 4100 and a close with code 4100 ("over
capacity: reconnect after a back-off"). 4200-4299 would make clients reconnect at once (a storm
while the server restarts; pysher even keeps a reconnect interval of 0 forever after a 4200), and a
plain 1001 makes pusher-js treat the close as unexplained; 4100 makes pusher-js back off and pysher
wait its reconnect interval.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from authviz.hub.guard import ConnectionGuard, ServerLimits, guarded_application
from authviz.pusher.channels import is_presence_channel
from authviz.pusher.limits import (
    PusherValidationError,
    validate_batch_size,
    validate_channel_name,
    validate_socket_id,
    validate_user_id,
)
from authviz.pusher.protocol import (
    App,
    AppState,
    Broadcast,
    Close,
    CloseCode,
    Connection,
    Hub,
    Send,
    TriggerError,
    Webhook,
)
from authviz.pusher.signing import SignatureError, verify_request
from authviz.hub.webhooks import WebhookSender

__all__ = ["HUB_APP_KEY", "HubServer", "text_frame"]

#: ``app[HUB_APP_KEY]`` is the :class:`HubServer` serving a ``web.Application`` (for plugins).
HUB_APP_KEY: web.AppKey["HubServer"] = web.AppKey("authviz.hub", object)

_PACK_16 = struct.Struct("!BBH").pack
_PACK_64 = struct.Struct("!BBQ").pack


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final websocket text frame carrying ``payload`` (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return _PACK_16(0x81, 126, n) + payload
    return _PACK_64(0x81, 127, n) + payload


class _Sink:
    """What the I/O layer keeps on a protocol Connection."""

    __slots__ = ("ws", "transport", "closing", "close_request")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self.ws = ws
        self.transport = transport
        #: the server-initiated close handshake, if one was started from another task
        self.closing: asyncio.Task[Any] | None = None
        #: (code, reason) of a close the connection's own message caused: its receive loop
        #: carries it out (see HubServer._close)
        self.close_request: tuple[int, bytes] | None = None


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, content_type="application/json")


class HubServer:
    """An aiohttp application serving a :class:`Hub`.

    In-process API (call from the server's event loop; this is what plugins such as the bridge
    use): :meth:`trigger`, :meth:`send_to_user`, :meth:`terminate_user_connections`,
    :meth:`channel_info`, :meth:`channels`, :meth:`presence_users`. ``app`` is the
    ``web.Application`` to run (plugins may add routes to it before it starts).
    """

    def __init__(
        self,
        apps: Sequence[App],
        *,
        max_message_bytes: int | None = None,
        send_buffer_bytes: int = 1 << 20,
        max_request_bytes: int = 1 << 20,
        tick_interval: float = 1.0,
        close_timeout: float = 2.0,
        webhook_options: dict[str, Any] | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        """``max_message_bytes``: largest inbound websocket message (default: the largest
        ``max_data_bytes`` of the apps + 4 KiB of envelope). ``send_buffer_bytes``: per-connection
        output bound (see the module docstring). ``max_request_bytes``: largest HTTP API body
        (413 beyond). ``tick_interval``: how often pings/dead connections/cache are checked.
        ``limits``: read timeouts and connection caps (:mod:`authviz.hub.guard`), enforced when
        served through :class:`~authviz.hub.guard.GuardedSite` with :attr:`guard`."""
        self.hub = Hub(apps)
        biggest = max(s.app.limits.max_data_bytes for s in self.hub.apps.values())
        self.max_message_bytes = max_message_bytes or biggest + 4096
        self.send_buffer_bytes = send_buffer_bytes
        self.tick_interval = tick_interval
        self.close_timeout = close_timeout
        #: the connection whose message is being applied (see _close)
        self._receiving: Connection | None = None
        self.webhooks: dict[str, WebhookSender] = {
            s.app.app_id: WebhookSender(s.app, **(webhook_options or {}))
            for s in self.hub.apps.values()
            if s.app.webhook_url
        }
        #: connections dropped because they did not read their messages
        self.slow_drops = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tick_task: asyncio.Task[None] | None = None
        self._closing = False
        #: timeouts and connection caps; serve with GuardedSite(runner, ..., guard=self.guard)
        self.guard = ConnectionGuard(limits)
        app = guarded_application(self.guard, client_max_size=max_request_bytes)
        app[HUB_APP_KEY] = self
        r = app.router
        r.add_get("/", self._index)
        r.add_get("/app/{key}", self._websocket)
        base = "/apps/{app_id}"
        r.add_post(base + "/events", self._events)
        r.add_post(base + "/batch_events", self._batch_events)
        r.add_get(base + "/channels", self._channels)
        r.add_get(base + "/channels/{channel}", self._channel)
        r.add_get(base + "/channels/{channel}/users", self._users)
        r.add_post(base + "/users/{user_id}/terminate_connections", self._terminate)
        # The `pusher` library (3.3.4) posts terminate_user_connections to this path, without
        # /apps/{id} (a defect). Accepted when the auth_key names exactly one app (keys are unique).
        r.add_post("/users/{user_id}/terminate_connections", self._terminate_without_app)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)
        self.app = app

    # -- life cycle ------------------------------------------------------------------------------

    async def _on_startup(self, _app: web.Application) -> None:
        self._closing = False
        self._tick_task = asyncio.get_running_loop().create_task(self._ticker())
        for sender in self.webhooks.values():
            sender.start()

    async def _on_shutdown(self, _app: web.Application) -> None:
        """Close every client with 4100 (reconnect with back-off) and wait for the closes."""
        self._closing = True
        self._apply(self.hub.close_all(CloseCode.OVER_CAPACITY, "the server is shutting down; reconnect later"))
        if self._tasks:  # the close handshakes started by _apply; aiohttp's own shutdown
            # then drops whoever did not answer in time
            await asyncio.wait(list(self._tasks), timeout=self.close_timeout)

    async def _on_cleanup(self, _app: web.Application) -> None:
        if self._tick_task is not None:
            self._tick_task.cancel()
            try:
                await self._tick_task
            except asyncio.CancelledError:
                pass
            self._tick_task = None
        for sender in self.webhooks.values():
            await sender.stop()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.close_timeout)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            self._apply(self.hub.tick(time.monotonic()))

    # -- applying protocol actions ---------------------------------------------------------------

    def _write(self, conn: Connection, frame: bytes) -> None:
        sink = conn.sink
        if sink is None:
            return
        transport = sink.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > self.send_buffer_bytes:
            self._drop_slow(conn)
            return
        transport.write(frame)

    def _drop_slow(self, conn: Connection) -> None:
        """A client that does not read: forget it, tell its channels, abort its socket."""
        self.slow_drops += 1
        actions = self.hub.close(conn, CloseCode.OVER_CAPACITY, "client too slow to read")
        conn.sink.transport.abort()
        self._apply([a for a in actions if not (type(a) is Close and a.conn is conn)])

    def _apply(self, actions: Iterable[Any]) -> None:
        """Carry out protocol actions in order. Each broadcast frame is built once."""
        write = self._write
        for action in actions:
            kind = type(action)
            if kind is Broadcast:
                frame = text_frame(action.payload)
                for conn in action.conns:
                    write(conn, frame)
            elif kind is Send:
                write(action.conn, text_frame(action.payload))
            elif kind is Close:
                self._close(action.conn, action.code, action.reason)
            elif kind is Webhook:
                sender = self.webhooks.get(action.app_id)
                if sender is not None:
                    sender.put(action.event)

    def _apply_coalesced(self, actions: list[Any]) -> None:
        """Like :meth:`_apply` for many broadcasts at once: one write per connection."""
        if len(actions) <= 1:
            self._apply(actions)
            return
        first = actions[0]
        if type(first) is Broadcast:
            audience = first.conns
            if all(type(a) is Broadcast and a.conns == audience for a in actions):
                # The common batch: every event for one audience (one channel). Frames are
                # joined once, in order, and the same bytes go to each connection.
                data = b"".join([text_frame(a.payload) for a in actions])
                write = self._write
                for conn in audience:
                    write(conn, data)
                return
        pending: dict[Connection, list[bytes]] = {}
        rest = []
        for action in actions:
            if type(action) is Broadcast:
                frame = text_frame(action.payload)
                for conn in action.conns:
                    frames = pending.get(conn)
                    if frames is None:
                        pending[conn] = [frame]
                    else:
                        frames.append(frame)
            else:
                rest.append(action)
        write = self._write
        for conn, frames in pending.items():
            write(conn, frames[0] if len(frames) == 1 else b"".join(frames))
        if rest:
            self._apply(rest)

    def _close(self, conn: Connection, code: int, reason: str) -> None:
        sink = conn.sink
        if sink is None or sink.ws.closed:
            return
        message = reason.encode("utf-8")[:120]
        if sink.closing is not None or sink.close_request is not None:
            return
        if conn is self._receiving:
            # Caused by the connection's own message: its receive loop closes after this
            # message, so aiohttp's close() is not concurrent with receive() and completes the
            # handshake (reading, and dropping, what the client still sends until its close).
            # A close from another task makes aiohttp close the socket at once, and a client
            # still sending then gets a reset that can cost it the close frame.
            sink.close_request = (code, message)
            return
        task = asyncio.get_running_loop().create_task(sink.ws.close(code=code, message=message))
        sink.closing = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- websocket -------------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text="authviz hub: Pusher protocol 7 on /app/{key}, HTTP API on /apps/{app_id}/\n")

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        # autoping off: protocol-level pings are answered here so that they count as activity.
        ws = web.WebSocketResponse(
            max_msg_size=self.max_message_bytes, autoping=False, compress=False, timeout=self.close_timeout
        )
        await ws.prepare(request)
        hub = self.hub
        if self._closing:
            await ws.close(code=CloseCode.OVER_CAPACITY, message=b"the server is shutting down")
            return ws
        conn, messages, code, reason = hub.connect(
            request.match_info["key"], request.query.get("protocol"), time.monotonic()
        )
        if conn is None:
            for message in messages:
                await ws.send_str(message.decode())
            await ws.close(code=code or CloseCode.UNKNOWN_APP, message=reason.encode("utf-8")[:120])
            return ws
        writer = getattr(ws, "_writer", None)
        transport = getattr(writer, "transport", None) or request.transport
        conn.sink = _Sink(ws, transport)
        for message in messages:
            self._write(conn, text_frame(message))
        apply = self._apply
        monotonic = time.monotonic
        sink = conn.sink
        try:
            while True:
                msg = await ws.receive()
                kind = msg.type
                if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                    self._receiving = conn
                    try:
                        apply(
                            hub.receive(conn, msg.data, monotonic())
                            if kind is WSMsgType.TEXT
                            else hub.receive_binary(conn, monotonic())
                        )
                    finally:
                        self._receiving = None
                    if sink.close_request is not None:
                        code, message = sink.close_request
                        await ws.close(code=code, message=message)
                        break
                elif kind is WSMsgType.PING:
                    hub.activity(conn, monotonic())
                    await ws.pong(msg.data)
                elif kind is WSMsgType.PONG:
                    hub.activity(conn, monotonic())
                else:  # CLOSE, CLOSING, CLOSED, ERROR (e.g. message too big: aiohttp sent 1009)
                    break
        finally:
            apply(hub.disconnect(conn, monotonic()))
            closing = conn.sink.closing
            conn.sink = None
        if closing is not None and not closing.done():
            # Returning now would make aiohttp drop the socket, and a client still sending
            # would get a reset that can discard our close frame: finish the handshake first.
            await asyncio.wait([closing], timeout=self.close_timeout + 0.5)
        return ws

    # -- HTTP API --------------------------------------------------------------------------------

    async def _verified(self, request: web.Request, state: AppState | None = None) -> bytes:
        """Check the request's signature for ``state``'s app; return the body. Raise _ApiError."""
        if state is None:
            app_id = request.match_info["app_id"]
            state = self.hub.apps.get(app_id)
            if state is None:
                raise _ApiError(404, f"app {app_id[:64]!r} does not exist on this server")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _ApiError(413, "the request body is too large") from None
        query = request.query
        if len(query) != len(set(query.keys())):
            raise _ApiError(400, "a query parameter appears more than once")
        if query.get("auth_key") != state.app.key:
            raise _ApiError(401, "auth_key is missing or is not this app's key")
        params = dict(query)
        now = time.time()
        try:
            verify_request(state.app.secret, request.method, request.path, params, body, now=now)
        except SignatureError as exc:
            # Clients sign the path either as sent (percent-encoded) or decoded: accept both.
            raw = request.rel_url.raw_path
            if exc.reason != "bad_signature" or raw == request.path:
                raise _ApiError(401, str(exc)) from None
            try:
                verify_request(state.app.secret, request.method, raw, params, body, now=now)
            except SignatureError:
                raise _ApiError(401, str(exc)) from None
        return body

    def _state(self, request: web.Request) -> AppState:
        return self.hub.apps[request.match_info["app_id"]]

    @staticmethod
    def _body_json(body: bytes) -> dict[str, Any]:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _ApiError(400, "the body is not valid JSON") from None
        if not isinstance(doc, dict):
            raise _ApiError(400, "the body must be a JSON object")
        return doc

    @staticmethod
    def _info_fields(request: web.Request) -> list[str]:
        info = request.query.get("info", "")
        fields = [f for f in info.split(",") if f]
        for f in fields:
            if f not in ("user_count", "subscription_count", "cache"):
                raise _ApiError(400, f"info attribute {f[:40]!r} is not one of user_count, subscription_count, cache")
        return fields

    @staticmethod
    def _event_fields(doc: dict[str, Any], batch: bool) -> tuple[list[str], str, str, str | None]:
        name, data = doc.get("name"), doc.get("data")
        if not isinstance(name, str):
            raise _ApiError(400, 'the event has no "name" string')
        if not isinstance(data, str):
            raise _ApiError(400, 'the event\'s "data" must be a string (JSON-encode objects)')
        if batch or "channel" in doc and "channels" not in doc:
            channel = doc.get("channel")
            if not isinstance(channel, str):
                raise _ApiError(400, 'the event has no "channel" string')
            channels = [channel]
        else:
            channels = doc.get("channels")
            if not isinstance(channels, list):
                raise _ApiError(400, 'the event needs "channels" (a list) or "channel"')
        socket_id = doc.get("socket_id")
        if socket_id is not None:
            try:
                validate_socket_id(socket_id)
            except PusherValidationError as exc:
                raise _ApiError(400, str(exc)) from None
        return channels, name, data, socket_id

    def _trigger_info(self, state: AppState, channels: list[str], info: Any) -> dict[str, Any]:
        fields = [f for f in str(info).split(",") if f in ("user_count", "subscription_count")]
        out = {}
        for name in channels:
            ch = state.channels.get(name)
            entry: dict[str, Any] = {}
            if "subscription_count" in fields:
                entry["subscription_count"] = ch.subscription_count if ch else 0
            if "user_count" in fields and is_presence_channel(name):
                entry["user_count"] = ch.user_count if ch else 0
            out[name] = entry
        return out

    async def _api(self, handler: Any, request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except _ApiError as exc:
            return web.Response(status=exc.status, text=str(exc) + "\n")
        except TriggerError as exc:
            return web.Response(status=exc.http_status, text=str(exc) + "\n")

    async def _events(self, request: web.Request) -> web.StreamResponse:
        return await self._api(self._do_events, request)

    async def _do_events(self, request: web.Request) -> web.Response:
        body = await self._verified(request)
        state = self._state(request)
        doc = self._body_json(body)
        channels, name, data, socket_id = self._event_fields(doc, batch=False)
        actions = state.trigger(channels, name, data, socket_id, time.monotonic())
        self._apply(actions)
        if doc.get("info"):
            return _json({"channels": self._trigger_info(state, channels, doc["info"])})
        return _json({})

    async def _batch_events(self, request: web.Request) -> web.StreamResponse:
        return await self._api(self._do_batch_events, request)

    async def _do_batch_events(self, request: web.Request) -> web.Response:
        body = await self._verified(request)
        state = self._state(request)
        doc = self._body_json(body)
        batch = doc.get("batch")
        if not isinstance(batch, list):
            raise _ApiError(400, 'the body needs "batch": a list of events')
        try:
            validate_batch_size(len(batch), state.app.limits)
        except PusherValidationError as exc:
            raise _ApiError(400, str(exc)) from None
        items = []
        for i, item in enumerate(batch):
            if not isinstance(item, dict):
                raise _ApiError(400, f"batch[{i}] is not a JSON object")
            try:
                items.append((item, *self._event_fields(item, batch=True)))
            except _ApiError as exc:
                raise _ApiError(exc.status, f"batch[{i}]: {exc}") from None
        # Every event is checked before any is delivered or cached: a bad batch changes nothing.
        actions = state.trigger_batch([fields for _, *fields in items], time.monotonic())
        self._apply_coalesced(actions)
        if any(item.get("info") for item, *_ in items):
            return _json(
                {
                    "batch": [
                        self._trigger_info(state, channels, item["info"]).get(channels[0], {})
                        if item.get("info")
                        else {}
                        for item, channels, *_ in items
                    ]
                }
            )
        return _json({})

    async def _channels(self, request: web.Request) -> web.StreamResponse:
        return await self._api(self._do_channels, request)

    async def _do_channels(self, request: web.Request) -> web.Response:
        await self._verified(request)
        state = self._state(request)
        prefix = request.query.get("filter_by_prefix", "")
        fields = self._info_fields(request)
        if "user_count" in fields and not prefix.startswith("presence-"):
            raise _ApiError(400, "info=user_count needs filter_by_prefix=presence-")
        if "cache" in fields:
            raise _ApiError(400, "info=cache is only available for one channel")
        out = {}
        for ch in state.occupied_channels(prefix):
            entry: dict[str, Any] = {}
            if "user_count" in fields:
                entry["user_count"] = ch.user_count
            if "subscription_count" in fields:
                entry["subscription_count"] = ch.subscription_count
            out[ch.name] = entry
        return _json({"channels": out})

    def _channel_name(self, request: web.Request, state: AppState) -> str:
        name = request.match_info["channel"]
        try:
            return validate_channel_name(name, state.app.limits)
        except PusherValidationError as exc:
            raise _ApiError(400, str(exc)) from None

    async def _channel(self, request: web.Request) -> web.StreamResponse:
        return await self._api(self._do_channel, request)

    async def _do_channel(self, request: web.Request) -> web.Response:
        await self._verified(request)
        state = self._state(request)
        name = self._channel_name(request, state)
        fields = self._info_fields(request)
        if "user_count" in fields and not is_presence_channel(name):
            raise _ApiError(400, "info=user_count is only available for presence channels")
        info = state.channel_info(name, time.monotonic())
        out: dict[str, Any] = {"occupied": info["occupied"]}
        for f in fields:
            if f in info:
                out[f] = info[f]
        return _json(out)

    async def _users(self, request: web.Request) -> web.StreamResponse:
        return await self._api(self._do_users, request)

    async def _do_users(self, request: web.Request) -> web.Response:
        await self._verified(request)
        state = self._state(request)
        name = self._channel_name(request, state)
        if not is_presence_channel(name):
            raise _ApiError(400, f"{name} is not a presence channel; only presence channels have users")
        return _json({"users": state.presence_users(name)})

    async def _terminate(self, request: web.Request) -> web.StreamResponse:
        return await self._api(self._do_terminate, request)

    async def _do_terminate(self, request: web.Request, state: AppState | None = None) -> web.Response:
        await self._verified(request, state)
        state = state or self._state(request)
        user_id = request.match_info["user_id"]
        try:
            validate_user_id(user_id, state.app.limits, channel_safe=True)
        except PusherValidationError as exc:
            raise _ApiError(400, str(exc)) from None
        self._apply(state.terminate_user_connections(user_id))
        return _json({})

    async def _terminate_without_app(self, request: web.Request) -> web.StreamResponse:
        key = request.query.get("auth_key", "")
        state = self.hub.by_key.get(key)
        if state is None:
            return web.Response(
                status=404, text="no app has this auth_key; use /apps/{app_id}/users/{user_id}/terminate_connections\n"
            )
        return await self._api(lambda r: self._do_terminate(r, state), request)

    # -- in-process API (event-loop thread only) -------------------------------------------------

    def _app_state(self, app_id: str | None) -> AppState:
        if app_id is None:
            if len(self.hub.apps) != 1:
                raise KeyError("several apps are served: name the app_id")
            return next(iter(self.hub.apps.values()))
        try:
            return self.hub.apps[str(app_id)]
        except KeyError:
            raise KeyError(f"app {app_id!r} is not served by this hub") from None

    def trigger(
        self, app_id: str | None, channels: str | Iterable[str], event: str, data: str, socket_id: str | None = None
    ) -> None:
        """Publish ``event`` (``data`` is a string) on ``channels``, excluding ``socket_id``.

        Raises :class:`~authviz.pusher.protocol.TriggerError` when a limit is broken."""
        names = [channels] if isinstance(channels, str) else list(channels)
        self._apply_coalesced(self._app_state(app_id).trigger(names, event, data, socket_id, time.monotonic()))

    def trigger_many(
        self, app_id: str | None, items: Iterable[tuple[str | Iterable[str], str, str]]
    ) -> list[tuple[int, Exception]]:
        """Publish ``(channels, event, data)`` items in order, with one write per connection.

        Each item stands alone: one that breaks a limit is skipped and returned as
        ``(index, TriggerError)``; the others go out. A ``#server-to-user-{id}`` channel reaches
        that user's connections (as :meth:`send_to_user`).
        """
        state = self._app_state(app_id)
        now = time.monotonic()
        actions: list[Any] = []
        errors: list[tuple[int, Exception]] = []
        for i, (channels, event, data) in enumerate(items):
            names = [channels] if isinstance(channels, str) else list(channels)
            try:
                actions.extend(state.trigger(names, event, data, None, now))
            except TriggerError as exc:
                errors.append((i, exc))
        self._apply_coalesced(actions)
        return errors

    def send_to_user(self, app_id: str | None, user_id: str, event: str, data: str) -> None:
        """Deliver ``event`` to every connection signed in as ``user_id``."""
        self._apply(self._app_state(app_id).send_to_user(user_id, event, data, time.monotonic()))

    def terminate_user_connections(self, app_id: str | None, user_id: str) -> None:
        self._apply(self._app_state(app_id).terminate_user_connections(user_id))

    def channel_info(self, app_id: str | None, name: str) -> dict[str, Any]:
        """``{"occupied", "subscription_count", "user_count"?, "cache"?}`` of one channel."""
        return self._app_state(app_id).channel_info(name, time.monotonic())

    def channels(self, app_id: str | None = None, prefix: str = "") -> dict[str, int]:
        """Occupied channels (name -> subscription count) whose name starts with ``prefix``."""
        return {ch.name: ch.subscription_count for ch in self._app_state(app_id).occupied_channels(prefix)}

    def presence_users(self, app_id: str | None, name: str) -> list[str]:
        """User ids on presence channel ``name``."""
        return [u["id"] for u in self._app_state(app_id).presence_users(name)]

    def connection_count(self, app_id: str | None = None) -> int:
        return len(self._app_state(app_id).connections)
