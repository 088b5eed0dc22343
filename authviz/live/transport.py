"""The live client's transport: pysher's connection thread with its defects fixed.

:class:`Transport` subclasses :class:`pysher.connection.Connection` (the websocket thread; its
``bind`` table of connection events, ``state``, ``socket_id``, ``send_event``) and replaces the
parts that fail in practice:

==============================================  ==================================================
pysher 1.0.8                                     here
==============================================  ==================================================
every message formatted into an INFO log line    no logging or formatting per message; orjson
``WebSocketApp`` reads each frame with one       websocket-client still does the handshake (TLS,
``select`` and three ``recv`` calls              proxies) and the sends; frames are read in 64 KB
                                                 chunks and parsed by :mod:`authviz.live.wire`
two ``sched`` timers cancelled/re-armed per msg  one timestamp per message; the keep-alive check
                                                 runs on the client's task thread
fixed 120 s ping, ``activity_timeout`` ignored   ping after min(own, server) seconds of silence,
                                                 dead (4201) when nothing arrives for
                                                 ``pong_timeout`` after the ping
4200 sets the reconnect interval to 0 for good   :class:`~authviz.live.reconnect.Backoff`: exponential,
(reconnect storm while a server restarts)        jittered, capped; reset only by a stable link
close codes ignored, 4000-4099 ``join()`` s      close codes honoured (STOP / BACKOFF / RECONNECT)
itself (RuntimeError)                            without touching the thread from inside
``disconnect()`` may leave the thread alive       :meth:`disconnect` wakes every wait, shuts the
                                                 socket down and joins
channel auth reused after reconnect               the client re-authorizes (see ``client.py``):
                                                 ``on_connected`` fires with each new socket_id
==============================================  ==================================================

Invariants: the websocket thread only decodes and hands over (``on_channel_event`` must not
block); ``socket_id`` is empty whenever no connection is established.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import pysher.connection
import websocket

from authviz.live.errors import ConnectionRejected
from authviz.live.wire import OP_CLOSE, OP_PING, OP_TEXT, WireError, WireReader, parse_close
from authviz.live.reconnect import Backoff, CloseAction, close_action, describe_close_code

__all__ = ["Transport"]

log = logging.getLogger(__name__)

#: Pseudo close code used when the keep-alive check declares the link dead (as pusher-js does).
PONG_TIMEOUT_CODE = 4201


class Transport(pysher.connection.Connection):
    """One websocket connection, re-established until :meth:`disconnect` or a 4000-4099 close.

    Callbacks (all called on the websocket thread, must be quick):

    * ``on_channel_event(event, data, channel, message)`` for every event that has a channel;
    * ``on_channel_events(messages)``, if given, instead: the decoded channel messages of one read,
      in order, as one list (fewer calls per event on the hot path);
    * ``on_connected(socket_id)`` after each ``pusher:connection_established``;
    * ``on_disconnected(code, reason)`` after each connection ends;
    * ``on_fatal(error)`` once, when the server rejected the connection (no reconnect follows);
    * ``on_error(code, message)`` for each ``pusher:error`` without a channel;
    * ``on_connect_failed(error)`` for the first failed attempt of each outage (at start, or after
      a connection that worked), not for every retry.
    """

    def __init__(
        self,
        url: str,
        *,
        on_channel_event: Callable[[str, Any, str, dict], None],
        on_channel_events: Callable[[list[dict]], None] | None = None,
        on_connected: Callable[[str], None] = lambda socket_id: None,
        on_disconnected: Callable[[int | None, str], None] = lambda code, reason: None,
        on_fatal: Callable[[ConnectionRejected], None] = lambda error: None,
        on_error: Callable[[int | None, str], None] = lambda code, message: None,
        on_connect_failed: Callable[[Exception], None] = lambda error: None,
        backoff: Backoff | None = None,
        activity_timeout: float = 120.0,
        pong_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        read_size: int = 64 * 1024,
        max_message: int = 1 << 20,
        poll_interval: float = 0.5,
        name: str = "authviz-live-ws",
    ) -> None:
        super().__init__(on_channel_event, url, log_level=None, daemon=True, reconnect_interval=0)
        self.name = name
        self.logger = log
        # pysher's sched timers are never started: keep-alive is driven by check_alive().
        self.timeout_scheduler = None
        self.on_channel_events = on_channel_events
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.on_fatal = on_fatal
        self.on_error = on_error
        self.on_connect_failed = on_connect_failed
        self._failure_reported = False
        self._last_error: tuple[float, int | None, str] | None = None
        self.backoff = backoff or Backoff()
        #: our own keep-alive interval; the effective one is min(this, server's activity_timeout)
        self.activity_timeout = float(activity_timeout)
        self.pong_timeout = float(pong_timeout)
        #: an opened socket must deliver pusher:connection_established within this many seconds
        self.connect_timeout = float(connect_timeout)
        self._opened_at: float | None = None
        #: granularity at which a blocked reader notices disconnect() without traffic
        self.poll_interval = poll_interval
        self.effective_activity_timeout = self.activity_timeout
        #: bytes asked of the socket per read (many frames per system call)
        #: (smaller reads release the GIL to the consumer more often: lower hand-over latency)
        self.read_size = read_size
        #: largest message accepted from the server (Pusher's data limit is 10 KB; soketi 100 KB)
        self.max_message = max_message
        self.socket_kwargs = {}
        #: websocket-client TLS options, e.g. {"context": ssl_context} (set by the client)
        self.sslopt: dict[str, Any] = {}
        self.connects = 0
        self.reconnects = 0
        self.bad_messages = 0
        self.close_code: int | None = None
        self.close_reason = ""
        self.fatal_error: ConnectionRejected | None = None
        self._halt = threading.Event()
        self._last_rx = time.monotonic()
        self._ping_sent_at: float | None = None
        self._established_at: float | None = None
        self._forced_code: int | None = None
        self._socket_lock = threading.Lock()

    # ------------------------------------------------------------------ thread body
    def run(self) -> None:
        try:
            self._run()
        finally:
            if self.state != "failed":
                self.state = "disconnected"

    def _connect(self) -> None:  # pysher's name for the thread body
        self._run()

    def _run(self) -> None:
        first = True
        while not self._halt.is_set():
            if not first:
                self.reconnects += 1
            first = False
            self.state = "connecting"
            self.close_code, self.close_reason, self._forced_code = None, "", None
            self._established_at = self._opened_at = None
            failure: Exception | None = None
            try:
                self._session()
            except Exception as error:  # never let the thread die with a traceback
                failure = error
            finally:
                self._close_socket()
            lived = time.monotonic() - self._established_at if self._established_at else 0.0
            code = self._forced_code if self._forced_code is not None else self.close_code
            last_error, self._last_error = self._last_error, None
            if (
                code is None
                and last_error is not None
                and time.monotonic() - last_error[0] < 1.0
                and last_error[1] is not None
                and close_action(last_error[1]) is CloseAction.STOP
            ):
                code, self.close_reason = last_error[1], last_error[2]
            self.socket_id = ""
            self.state = "unavailable"
            try:
                self.on_disconnected(code, self.close_reason)
            except Exception:
                log.exception("on_disconnected failed")
            if self._halt.is_set():
                break
            if self.fatal_error is None and close_action(code) is CloseAction.STOP:
                self.fatal_error = ConnectionRejected(
                    f"The server rejected the connection with code {code} "
                    f"({self.close_reason or describe_close_code(code)}); not reconnecting.",
                    code,
                )
            if self.fatal_error is not None:
                self.state = "failed"
                try:
                    self.on_fatal(self.fatal_error)
                except Exception:
                    log.exception("on_fatal failed")
                return
            if self._established_at is not None:
                self._failure_reported = False
            elif failure is not None and not self._failure_reported:
                self._failure_reported = True
                try:  # the first failed attempt of an outage (later ones would only repeat it)
                    self.on_connect_failed(failure)
                except Exception:
                    log.exception("on_connect_failed failed")
            self.backoff.connection_lived(lived)
            delay = self.backoff.next_delay_for(code)
            if delay and self._halt.wait(delay):
                break

    def _session(self) -> None:
        """One connection: websocket-client does the handshake (TLS, proxies) and the sends;
        frames are read in large chunks and parsed by :class:`~authviz.live.wire.WireReader`."""
        ws = websocket.WebSocket(skip_utf8_validation=True, enable_multithread=True, sslopt=self.sslopt)
        with self._socket_lock:
            if self._halt.is_set():
                return
            self.socket = ws
        ws.settimeout(self.connect_timeout)
        ws.connect(self.url, **self.socket_kwargs)
        raw = ws.sock
        raw.settimeout(self.poll_interval)
        self._on_open()
        reader = WireReader(self.max_message)
        recv = raw.recv
        on_messages = self._on_messages
        while not self._halt.is_set():
            try:
                chunk = recv(self.read_size)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            if not chunk:
                return
            try:
                frames = reader.feed(chunk)
            except WireError as error:
                self.close_code, self.close_reason = error.code, str(error)
                self._send_close(ws, error.code)
                return
            texts: list[bytes] = []
            for opcode, payload in frames:
                if opcode == OP_TEXT:
                    texts.append(payload)
                    continue
                if texts:  # what came before a control frame is handled before it
                    on_messages(texts)
                    texts = []
                if opcode == OP_PING:
                    try:
                        ws.pong(payload)
                    except Exception:
                        return
                elif opcode == OP_CLOSE:
                    self.close_code, self.close_reason = parse_close(payload)
                    self._send_close(ws, self.close_code or 1000)
                    return
                # binary and pong frames carry nothing for Pusher
            if texts:
                on_messages(texts)

    @staticmethod
    def _send_close(ws: Any, code: int) -> None:
        try:
            ws.send_close(code if 1000 <= code < 5000 else 1000)
        except Exception:
            pass

    def _close_socket(self) -> None:
        with self._socket_lock:
            ws = self.socket
        if ws is not None:
            try:
                ws.shutdown()
            except Exception:
                pass

    # ------------------------------------------------------------------ websocket callbacks
    def _on_open(self, *args: Any) -> None:
        self._opened_at = self._last_rx = time.monotonic()
        self._ping_sent_at = None

    def _on_messages(self, payloads: list[bytes]) -> None:
        """Hot path: the text messages of one read, in order, with one timestamp.

        With ``on_channel_events``, consecutive channel messages go to it as one list (a
        connection-level message in between is handled in its place, so order is kept);
        otherwise each message goes through :meth:`_on_message`.
        """
        batch_handler = self.on_channel_events
        if batch_handler is None:
            for payload in payloads:
                self._on_message(None, payload)
            return
        self._last_rx = time.monotonic()
        self._ping_sent_at = None
        loads = orjson.loads
        pending: list[dict] = []
        for payload in payloads:
            try:
                msg = loads(payload)
                event = msg["event"]
                channel = msg.get("channel")
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                self.bad_messages += 1
                continue
            if channel is not None:
                pending.append(msg)
                continue
            if pending:
                batch_handler(pending)
                pending = []
            self._dispatch_connection_event(event, msg)
        if pending:
            batch_handler(pending)

    def _on_message(self, ws: Any, message: bytes | str) -> None:
        """One message: one timestamp, one JSON parse, one call."""
        self._last_rx = time.monotonic()
        self._ping_sent_at = None
        try:
            msg = orjson.loads(message)
            event = msg["event"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.bad_messages += 1
            return
        channel = msg.get("channel")
        if channel is not None:
            self.event_handler(event, msg.get("data"), channel, msg)
            return
        self._dispatch_connection_event(event, msg)

    def _dispatch_connection_event(self, event: str, msg: dict) -> None:
        callbacks = self.event_callbacks.get(event)
        if callbacks:
            for func, args, kwargs in callbacks:
                try:
                    func(msg.get("data"), *args, **kwargs)
                except Exception:
                    log.exception("connection event handler for %s failed", event)

    # ------------------------------------------------------------------ pysher's event handlers
    def _connect_handler(self, data: Any) -> None:
        try:
            parsed = orjson.loads(data) if isinstance(data, (str, bytes)) else dict(data)
            socket_id = str(parsed["socket_id"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            self.bad_messages += 1
            return
        server_timeout = parsed.get("activity_timeout")
        effective = self.activity_timeout
        if isinstance(server_timeout, (int, float)) and server_timeout > 0:
            effective = min(effective, float(server_timeout))
        self.effective_activity_timeout = effective
        self.socket_id = socket_id
        self.state = "connected"
        self.connects += 1
        self._established_at = time.monotonic()
        self.on_connected(socket_id)

    def _failed_handler(self, data: Any) -> None:
        self.state = "failed"

    def _ping_handler(self, data: Any) -> None:
        self.send_pong()

    def _pong_handler(self, data: Any) -> None:
        self.pong_received = True

    def _pusher_error_handler(self, data: Any) -> None:
        """``pusher:error`` without a channel: reported through ``on_error``, never acted on alone.

        Protocol 7 ends connections with close codes; servers also send ``pusher:error`` for
        refused subscriptions or client events while the connection stays up, so the connection
        is closed only by the server. A close without a code shortly after a 4000-4099 error
        counts as that code (see ``_run``).
        """
        doc = data if isinstance(data, dict) else {}
        code = doc.get("code")
        try:
            code = int(code) if code is not None else None
        except (TypeError, ValueError):
            code = None
        message = str(doc.get("message") or "")
        self._last_error = (time.monotonic(), code, message)
        try:
            self.on_error(code, message)
        except Exception:
            log.exception("on_error failed")

    # ------------------------------------------------------------------ sending
    def send_event(self, event_name: str, data: Any, channel_name: str | None = None) -> bool:
        """Send one message; False when there is no open connection (never raises)."""
        event: dict[str, Any] = {"event": event_name, "data": data}
        if channel_name:
            event["channel"] = channel_name
        ws = self.socket
        if ws is None or not getattr(ws, "connected", False):
            return False
        try:
            ws.send(orjson.dumps(event).decode())
            return True
        except Exception:
            return False

    def send_ping(self) -> None:
        if self.send_event("pusher:ping", {}):
            self._ping_sent_at = time.monotonic()

    def send_pong(self) -> None:
        self.send_event("pusher:pong", {})

    def _start_timers(self) -> None:  # pysher re-arms sched timers per message: not here
        pass

    def _stop_timers(self) -> None:
        pass

    # ------------------------------------------------------------------ keep-alive
    def check_alive(self) -> None:
        """Called periodically (task thread): ping after silence, declare death after no answer."""
        now = time.monotonic()
        if self.state != "connected":
            opened = self._opened_at
            if self.state == "connecting" and opened is not None and now - opened >= self.connect_timeout:
                self._opened_at = None
                self._shutdown_socket()
            return
        sent = self._ping_sent_at
        if sent is not None:
            if now - sent >= self.pong_timeout and self._last_rx <= sent:
                self._forced_code = PONG_TIMEOUT_CODE
                self._shutdown_socket()
            return
        if now - self._last_rx >= self.effective_activity_timeout:
            self.send_ping()

    @property
    def check_interval(self) -> float:
        """How often :meth:`check_alive` should run to honour the timeouts closely."""
        return max(0.05, min(1.0, self.effective_activity_timeout / 4, self.pong_timeout / 4, self.connect_timeout / 4))

    # ------------------------------------------------------------------ control
    def reconnect(self, reconnect_interval: float | None = None) -> None:
        """Drop the current connection; the thread reconnects (after the back-off policy's wait)."""
        self._forced_code = 4200
        self._shutdown_socket()

    def drop(self) -> None:
        """Drop the connection as if the network failed (no close frame); used by fault tests."""
        self._forced_code = None
        self._shutdown_socket()

    def _shutdown_socket(self) -> None:
        """Make the reader's blocked ``recv`` return at once (the session then ends)."""
        raw = getattr(self.socket, "sock", None)
        if raw is not None:
            try:
                raw.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def disconnect(self, timeout: float | None = 5.0) -> bool:
        """Stop for good: no reconnect, the socket closed, the thread joined. True when it ended."""
        with self._socket_lock:
            self._halt.set()
            self.disconnect_called = True
            self.needs_reconnect = False
            ws = self.socket
        if ws is not None:
            if getattr(ws, "connected", False):
                self._send_close(ws, 1000)
            self._shutdown_socket()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout)
        return not self.is_alive()
