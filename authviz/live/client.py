"""The live client: channels, authorization, presence, sign-in and decryption over one connection.

Threads (all joined by :meth:`LiveClient.close`):

* ``authviz-live-ws`` (:class:`~authviz.live.transport.Transport`): reads the socket, decodes
  each message and hands it to the subscriptions' buffers. Never blocks on anything else.
* ``authviz-live-tasks`` (:class:`~authviz.live.tasks.TaskRunner`): authorizations (possibly HTTP),
  their retries with back-off, sign-in and the keep-alive check.
* one ``authviz-live-consumer`` per subscription that has callbacks (see ``subscription.py``).
* ``authviz-live-history`` (only with a history URL): the backfill's HTTP requests
  (:mod:`~authviz.live.backfill`): after every (re)subscription to ``private-auth0-events`` the
  events missed meanwhile are read from the bridge's history and delivered once, in ``seq`` order.

Every connection gets a new socket_id, so after every (re)connect every private, presence and
encrypted channel is authorized afresh, and the user is signed in afresh. State kept per channel is
in :class:`_Channel`; it is written by the websocket and task threads under ``_lock`` (the hot path
only reads ``_channels``, a dict lookup that is atomic).

This class takes the place of ``pysher.Pusher``, whose subscribe/auth logic is where pysher's
re-authorization defect lives; the connection thread is pysher's ``Connection``, subclassed.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from authviz.config import PusherSettings
from authviz.errors import ConfigError, UsageError
from authviz.live.auth import Authorizer, SecretAuthorizer, authorizer_from_settings
from authviz.live.backfill import Backfill
from authviz.live.buffer import Overflow
from authviz.live.transport import Transport
from authviz.live.errors import AuthorizationError, ConnectionRejected, DecryptionFailed, LiveError
from authviz.live.events import ControlNotice, LiveEvent, expects_server_events
from authviz.live.history import HistoryClient
from authviz.live.reconnect import Backoff
from authviz.live.subscription import Subscription
from authviz.live.tasks import TaskRunner
from authviz.pusher.channels import (
    CLIENT_EVENT_PREFIX,
    ChannelKind,
    channel_kind,
    is_server_to_user_channel,
    server_to_user_channel,
)

__all__ = ["LiveClient", "WATCHLIST_OFFLINE", "WATCHLIST_ONLINE", "subscribe"]

#: Names of the :class:`LiveEvent` s a sign-in ``watchlist`` produces on the user's
#: ``#server-to-user-{id}`` channel (``data`` = ``{"user_ids": [...]}``). ``pusher:`` names are
#: reserved for the protocol, so no app event sent to the user can be mistaken for them.
WATCHLIST_ONLINE = "pusher:watchlist_online"
WATCHLIST_OFFLINE = "pusher:watchlist_offline"

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Channel:
    name: str
    kind: ChannelKind
    internal: bool
    subscribers: list[Subscription] = field(default_factory=list)
    subscribed: bool = False
    shared_secret: bytes | None = None
    members: dict[str, Any] = field(default_factory=dict)
    auth_backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.5, cap=30.0))
    #: socket_id the pending/active subscription was authorized for
    socket_id: str = ""


class LiveClient:
    """A dependable Pusher Channels client (Pusher, soketi or the embedded hub).

    >>> client = LiveClient(PusherSettings.from_env()).connect()      # doctest: +SKIP
    >>> sub = client.subscribe("private-auth0-events", events=["auth-event"])
    >>> for event in sub.events(timeout=5): print(event.data)

    ``user`` (``{"id": ..., "user_info": ...}``) is the identity for presence channels
    (with the secret) and for ``pusher:signin`` (``signin=True``). ``authorizer`` defaults to the
    settings' auth endpoint, else the app secret.

    Backfill: with a history URL (``history_url``, else :attr:`PusherSettings.history_endpoint`)
    and ``history_token`` (else the settings'), events of ``private-auth0-events`` missed while
    disconnected are read from the bridge after every resubscription and delivered once, in ``seq``
    order (see :mod:`authviz.live.backfill`); ``history_after`` is where the first subscription
    starts (None: from now; 0: the whole history). ``backfill=False`` turns it off. Every
    ``history_check`` seconds (None: never) the history's head is compared with what arrived, so
    events the bridge stored but could not publish are backfilled even when this connection never
    broke; live events that arrive ahead of an earlier ``seq`` wait up to ``reorder_delay``
    seconds for it before it is read from the history.
    """

    def __init__(
        self,
        settings: PusherSettings,
        *,
        user: Mapping[str, Any] | None = None,
        signin: bool = False,
        authorizer: Authorizer | None = None,
        backoff: Backoff | None = None,
        activity_timeout: float = 120.0,
        pong_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        name: str = "authviz-live",
        backfill: bool = True,
        history_url: str | None = None,
        history_token: str | None = None,
        history_after: int | None = None,
        history_backoff: Backoff | None = None,
        history_check: float | None = 10.0,
        reorder_delay: float = 1.0,
    ) -> None:
        self.settings = settings
        self.user = dict(user) if user is not None else None
        if self.user is not None and not str(self.user.get("id", "")):
            raise UsageError("user must have a non-empty 'id'.")
        self.signin = signin
        if signin and self.user is None:
            raise UsageError("signin=True needs user={'id': ...}.")
        self.authorizer = authorizer if authorizer is not None else authorizer_from_settings(settings)
        self._lock = threading.RLock()
        self._channels: dict[str, _Channel] = {}
        self._subscriptions: list[Subscription] = []
        self._tasks = TaskRunner(name=f"{name}-tasks")
        self._signin_backoff = Backoff(initial=0.5, cap=30.0)
        self.signed_in = threading.Event()
        self.connected = threading.Event()
        self.auth_failures = 0
        self.decrypt_failures = 0
        #: ``client-*`` events dropped where only the server speaks (server-only and public
        #: channels): a forged event there is never handed to a consumer.
        self.ignored_client_events = 0
        #: connections established so far (each pusher:connection_established; only grows)
        self.connections = 0
        self.fatal_error: ConnectionRejected | None = None
        #: watched user ids online (sign-in watchlist), as the server last said; empty offline
        self._online: set[str] = set()
        self._closed = False
        self._started = False
        self._connection = Transport(
            settings.ws_url,
            on_channel_event=self._on_channel_event,
            on_channel_events=self._on_channel_events,
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
            on_fatal=self._on_fatal,
            on_error=self._on_server_error,
            on_connect_failed=self._on_connect_failed,
            backoff=backoff,
            activity_timeout=activity_timeout,
            pong_timeout=pong_timeout,
            connect_timeout=connect_timeout,
            name=f"{name}-ws",
        )
        self._connection.bind("pusher:signin_success", self._on_signin_success)
        self._connection.bind("pusher_internal:watchlist_events", self._on_watchlist)
        if settings.tls and (settings.ca_file or settings.ssl_cert_file):
            # verifying: the system's trust store (or SSL_CERT_FILE) + PUSHER_CA_FILE; without
            # them websocket-client's defaults apply (the same store, WEBSOCKET_CLIENT_CA_BUNDLE)
            self._connection.sslopt = {"context": settings.client_ssl_context()}
        self.backfill: Backfill | None = None
        self._history_tasks: TaskRunner | None = None
        history_settings = settings
        if history_url or history_token:
            history_settings = dataclasses.replace(
                settings,
                history_url=history_url or settings.history_url,
                history_token=history_token or settings.history_token,
            )
        url = history_settings.history_endpoint
        if backfill and url:
            headers = history_settings.history_headers
            self._history_tasks = TaskRunner(name=f"{name}-history")
            context = settings.client_ssl_context() if settings.ca_file or settings.ssl_cert_file else None
            self.backfill = Backfill(
                HistoryClient(url, headers, ssl_context=context),
                self._history_tasks,
                deliver=self._deliver_backfilled,
                report=self._report_history,
                after=history_after,
                backoff=history_backoff,
                head_interval=history_check,
                reorder_delay=reorder_delay,
            )

    # ------------------------------------------------------------------ lifecycle
    def connect(self) -> "LiveClient":
        """Start the threads (idempotent); returns self."""
        with self._lock:
            if self._closed:
                raise UsageError("this LiveClient is closed; create a new one.")
            if not self._started:
                self._started = True
                self._tasks.start()
                if self._history_tasks is not None:
                    self._history_tasks.start()
                self._connection.start()
                self._tasks.call_later(self._connection.check_interval, self._keepalive)
        return self

    def close(self, timeout: float = 5.0) -> bool:
        """Stop everything and join every thread; True when all ended within ``timeout``."""
        with self._lock:
            self._closed = True
            subs = list(self._subscriptions)
        for sub in subs:
            sub.detach(timeout)
        ok = self._tasks.stop(timeout)
        if self._history_tasks is not None:
            ok = self._history_tasks.stop(timeout) and ok
        ok = self._connection.disconnect(timeout) and ok
        return all(not s.consumer_alive() for s in subs) and ok

    def __enter__(self) -> "LiveClient":
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> str:
        return self._connection.state

    @property
    def socket_id(self) -> str:
        return self._connection.socket_id

    @property
    def reconnects(self) -> int:
        return self._connection.reconnects

    @property
    def connection(self) -> Transport:
        return self._connection

    def is_subscribed(self, channel: str) -> bool:
        with self._lock:
            state = self._channels.get(channel)
            return bool(state and state.subscribed)

    def wait_subscribed(self, channels: Iterable[str], timeout: float = 10.0) -> bool:
        """Block until every channel's subscription succeeded on the current connection."""
        names = list(channels)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.is_subscribed(n) for n in names):
                return True
            if self.fatal_error is not None:
                return False
            time.sleep(0.01)
        return False

    def online_users(self) -> frozenset[str]:
        """The users of this client's sign-in ``watchlist`` (``user={"id": ..., "watchlist":
        [...]}``, ``signin=True``) that are online now, as the server last reported; empty while
        disconnected. Each change also arrives as a :data:`WATCHLIST_ONLINE` /
        :data:`WATCHLIST_OFFLINE` event on a subscription to ``#server-to-user-{id}``
        (after a reconnect the server's list of online users arrives again as an online event)."""
        with self._lock:
            return frozenset(self._online)

    def members(self, channel: str) -> dict[str, Any]:
        """A copy of a presence channel's members: ``{user_id: user_info}``."""
        with self._lock:
            state = self._channels.get(channel)
            return dict(state.members) if state else {}

    # ------------------------------------------------------------------ subscribe
    def subscribe(
        self,
        *channels: str,
        events: Iterable[str] | None = None,
        maxsize: int = 10_000,
        overflow: Overflow = "drop_oldest",
        sink: Callable[[LiveEvent], Any] | None = None,
    ) -> Subscription:
        """A buffered :class:`Subscription` to one or more channels (optionally only ``events``).

        ``sink``: hand each event to this callable on the websocket thread instead of buffering
        it, for a consumer that has its own bounded queue (the notebook pump). It must only hand
        over (never block, never touch widgets); its errors are counted, never raised there.

        ``#server-to-user-{id}`` (see :func:`server_to_user_channel`) receives events sent to the
        signed-in user. Connects the client if needed.
        """
        if not channels:
            raise UsageError("subscribe() needs at least one channel name.")
        for name in channels:
            self._check_can_subscribe(name)
        sub = Subscription(self, channels, events=events, maxsize=maxsize, overflow=overflow, sink=sink)
        new: list[_Channel] = []
        with self._lock:
            if self._closed:
                raise UsageError("this LiveClient is closed; create a new one.")
            self._subscriptions.append(sub)
            for name in channels:
                state = self._channels.get(name)
                if state is None:
                    state = _Channel(name, channel_kind(name), is_server_to_user_channel(name))
                    self._channels[name] = state
                    new.append(state)
                else:
                    if state.subscribed:
                        sub.notify(ControlNotice("subscribed", name))
                state.subscribers.append(sub)
            socket_id = self._connection.socket_id
        if self.fatal_error is not None:
            sub.notify(ControlNotice("error", error=self.fatal_error), fatal=True)
        if socket_id:
            for state in new:
                if not state.internal:
                    self._tasks.call_soon(lambda s=state, sid=socket_id: self._subscribe_channel(s, sid))
                elif self.signed_in.is_set():
                    state.subscribed = True
        self.connect()
        return sub

    def _check_can_subscribe(self, name: str) -> None:
        if is_server_to_user_channel(name):
            if not self.signin or self.user is None:
                raise UsageError(f"{name} needs signin=True and user={{'id': ...}} on the client.")
            if name != server_to_user_channel(str(self.user["id"])):
                raise UsageError(f"{name} belongs to another user than {self.user['id']!r}.")
            return
        kind = channel_kind(name)
        if kind is ChannelKind.PUBLIC:
            return
        if self.authorizer is None:
            raise ConfigError(f"Channel {name} needs an authorization: set PUSHER_SECRET or PUSHER_AUTH_ENDPOINT.")
        if kind is ChannelKind.PRESENCE and self.user is None and isinstance(self.authorizer, SecretAuthorizer):
            raise UsageError(f"Presence channel {name} needs user={{'id': ...}} on the client.")

    def unsubscribe(self, sub: Subscription) -> None:
        """Called by :meth:`Subscription.close`: drop channels nobody listens to any more."""
        with self._lock:
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)
            gone = []
            for name in sub.channels:
                state = self._channels.get(name)
                if state and sub in state.subscribers:
                    state.subscribers.remove(sub)
                    if not state.subscribers:
                        del self._channels[name]
                        gone.append(state)
        for state in gone:
            if not state.internal:
                self._connection.send_event("pusher:unsubscribe", {"channel": state.name})

    def trigger(self, channel: str, event: str, data: Any) -> bool:
        """Send a client event (``client-*``) on a subscribed private or presence channel."""
        if not event.startswith("client-"):
            raise UsageError(f"client events must be named client-*, not {event!r}.")
        if channel_kind(channel) not in (ChannelKind.PRIVATE, ChannelKind.PRESENCE):
            raise UsageError(f"client events go on private- or presence- channels, not {channel!r}.")
        if not self.is_subscribed(channel):
            return False
        return self._connection.send_event(event, orjson.dumps(data).decode(), channel)

    # ------------------------------------------------------------------ connection callbacks (ws thread)
    def _on_connected(self, socket_id: str) -> None:
        self.connections += 1
        self.connected.set()
        self.signed_in.clear()
        with self._lock:
            states = [s for s in self._channels.values() if not s.internal]
            subs = list(self._subscriptions)
        for sub in subs:
            sub.notify(ControlNotice("connected"))
        for state in states:
            self._tasks.call_soon(lambda s=state: self._subscribe_channel(s, socket_id))
        if self.signin:
            self._tasks.call_soon(lambda: self._signin(socket_id))

    def _on_disconnected(self, code: int | None, reason: str) -> None:
        self.connected.clear()
        self.signed_in.clear()
        with self._lock:
            self._online.clear()
            for state in self._channels.values():
                state.subscribed = False
                state.socket_id = ""
            subs = list(self._subscriptions)
        for sub in subs:
            sub.notify(ControlNotice("disconnected"))

    def _on_fatal(self, error: ConnectionRejected) -> None:
        self.fatal_error = error
        with self._lock:
            subs = list(self._subscriptions)
        for sub in subs:
            sub.notify(ControlNotice("error", error=error), fatal=True)

    def _on_connect_failed(self, error: Exception) -> None:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        where = f"{self.settings.host}:{self.settings.port}"
        if isinstance(error, ssl.SSLCertVerificationError):
            failure = LiveError(
                f"The Pusher server at {where} presented a TLS certificate this client does not "
                f"trust ({error.verify_message or error.reason}); set PUSHER_CA_FILE to the CA "
                "certificate that signed it; retrying with back-off."
            )
        elif isinstance(error, ssl.SSLError):
            failure = LiveError(
                f"The TLS handshake with the Pusher server at {where} failed "
                f"({error.reason or type(error).__name__}); check PUSHER_TLS and PUSHER_PORT; "
                "retrying with back-off."
            )
        else:
            failure = LiveError(
                f"Could not connect to the Pusher server at {where} ({reason}); retrying with back-off."
            )
        with self._lock:
            subs = list(self._subscriptions)
        for sub in subs:
            sub.notify(ControlNotice("error", error=failure))

    def _on_server_error(self, code: int | None, message: str) -> None:
        """A ``pusher:error`` without a channel (the connection stays up). When it names a
        channel still waiting for its subscription, that subscription is retried with fresh auth."""
        with self._lock:
            pending = [
                s
                for s in self._channels.values()
                if not s.internal and not s.subscribed and s.socket_id and s.name in message
            ]
            subs = list(self._subscriptions)
        if pending:
            state = max(pending, key=lambda s: len(s.name))  # the most specific name mentioned
            self._auth_failed(
                state,
                self._connection.socket_id,
                AuthorizationError(
                    f"The server refused the subscription to {state.name} ({message.rstrip('.')}); "
                    "retrying with back-off.",
                    state.name,
                ),
            )
            return
        if code is not None and 4100 <= code <= 4299:
            return  # "reconnect (later)": the close that follows is handled by the connection
        error = LiveError(
            f"The server reported an error{f' {code}' if code else ''}: {message.rstrip('.') or 'no message'}."
        )
        for sub in subs:
            sub.notify(ControlNotice("error", error=error))

    def _on_signin_success(self, data: Any) -> None:
        self.signed_in.set()
        self._signin_backoff.reset()
        with self._lock:
            for state in self._channels.values():
                if state.internal:
                    state.subscribed = True
                    for sub in state.subscribers:
                        sub.notify(ControlNotice("subscribed", state.name))

    def _on_watchlist(self, data: Any) -> None:
        """``pusher_internal:watchlist_events`` (websocket thread): track who is online and hand
        one event per entry to the subscribers of the user's ``#server-to-user-{id}`` channel."""
        if self.user is None:
            return
        entries = _json_object(data).get("events")
        items = []
        with self._lock:
            for entry in entries if isinstance(entries, list) else ():
                if not isinstance(entry, dict) or entry.get("name") not in ("online", "offline"):
                    continue
                ids = entry.get("user_ids")
                user_ids = [str(u) for u in ids] if isinstance(ids, list) else []
                if entry["name"] == "online":
                    self._online.update(user_ids)
                    name = WATCHLIST_ONLINE
                else:
                    self._online.difference_update(user_ids)
                    name = WATCHLIST_OFFLINE
                items.append((name, user_ids, entry))
            state = self._channels.get(server_to_user_channel(str(self.user["id"])))
            subs = list(state.subscribers) if state is not None else []
        channel = server_to_user_channel(str(self.user["id"]))
        for name, user_ids, entry in items:
            item = LiveEvent(channel, name, {"user_ids": user_ids}, entry, time.time())
            for sub in subs:
                sub.offer(item)

    def _on_channel_events(self, messages: list[dict]) -> None:
        """Hot path (websocket thread): the channel messages of one read, in order.

        Plain events (not protocol, not encrypted, not the backfilled channel) are decoded and
        handed to each subscriber of their channel in one piece per run of the same channel;
        anything else goes through :meth:`_on_channel_event` in its place, after what was
        gathered before it, so every subscriber sees the server's order.
        """
        channels = self._channels
        backfill = self.backfill
        special = backfill.channel if backfill is not None else None
        encrypted = ChannelKind.PRIVATE_ENCRYPTED
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        received_at = time.time()
        run: list[LiveEvent] = []
        run_state: _Channel | None = None
        for message in messages:
            channel = message["channel"]
            event = message["event"]
            if event.startswith(CLIENT_EVENT_PREFIX) and expects_server_events(channel):
                self.ignored_client_events += 1
                continue
            state = channels.get(channel)
            if state is None or channel == special or state.kind is encrypted or event.startswith("pusher"):
                if run:
                    self._hand_over(run_state, run)
                    run = []
                self._on_channel_event(event, message.get("data"), channel, message)
                continue
            if state is not run_state:
                if run:
                    self._hand_over(run_state, run)
                    run = []
                run_state = state
            raw = message.get("data")
            if isinstance(raw, (str, bytes)):
                try:
                    decoded = loads(raw)
                except decode_error:
                    decoded = raw
            else:
                decoded = raw
            run.append(LiveEvent(channel, event, decoded, raw, received_at, message.get("user_id")))
        if run:
            self._hand_over(run_state, run)

    @staticmethod
    def _hand_over(state: _Channel, items: list[LiveEvent]) -> None:
        for sub in state.subscribers:
            sub.offer_many(items)

    def _on_channel_event(self, event: str, data: Any, channel: str, message: dict) -> None:
        """One channel message (websocket thread): decode the payload once, hand it over."""
        state = self._channels.get(channel)
        if state is None:
            return
        if event.startswith(CLIENT_EVENT_PREFIX) and expects_server_events(channel):
            self.ignored_client_events += 1
            return
        if event.startswith("pusher"):
            self._on_channel_control(state, event, data)
            return
        raw = data
        if state.kind is ChannelKind.PRIVATE_ENCRYPTED:
            try:
                raw = self._decrypt(state, data)
            except DecryptionFailed as error:
                self.decrypt_failures += 1
                for sub in state.subscribers:
                    sub.notify(ControlNotice("error", channel, error=error))
                return
        if isinstance(raw, (str, bytes)):
            try:
                decoded = orjson.loads(raw)
            except orjson.JSONDecodeError:
                decoded = raw
        else:
            decoded = raw
        item = LiveEvent(channel, event, decoded, raw, time.time(), message.get("user_id"))
        backfill = self.backfill
        if backfill is not None and channel == backfill.channel and event == backfill.event:
            backfill.live(item)  # dedupe, hold during a backfill, deliver (in seq order)
            return
        for sub in state.subscribers:
            sub.offer(item)

    def _decrypt(self, state: _Channel, data: Any) -> str:
        from authviz.pusher.encryption import DecryptionError, decrypt_payload

        if state.shared_secret is None:
            raise DecryptionFailed(f"No shared secret for {state.name} yet: the event was dropped.")
        try:
            return decrypt_payload(data, state.shared_secret)
        except DecryptionError as error:
            raise DecryptionFailed(
                f"An event on {state.name} could not be decrypted ({error}); check PUSHER_ENCRYPTION_MASTER_KEY."
            ) from None

    def _on_channel_control(self, state: _Channel, event: str, data: Any) -> None:
        if event == "pusher_internal:subscription_succeeded":
            state.subscribed = True
            state.auth_backoff.reset()
            for sub in state.subscribers:
                sub.notify(ControlNotice("subscribed", state.name))
            if self.backfill is not None and state.name == self.backfill.channel:
                self.backfill.subscribed()
            if state.kind is ChannelKind.PRESENCE:
                self._replace_members(state, data)
        elif event == "pusher_internal:member_added":
            doc = _json_object(data)
            user_id = str(doc.get("user_id", ""))
            with self._lock:
                known = user_id in state.members
                state.members[user_id] = doc.get("user_info")
            if not known:
                for sub in state.subscribers:
                    sub.notify(ControlNotice("member_added", state.name, user_id, doc.get("user_info")))
        elif event == "pusher_internal:member_removed":
            doc = _json_object(data)
            user_id = str(doc.get("user_id", ""))
            with self._lock:
                known = user_id in state.members
                info = state.members.pop(user_id, None)
            for sub in state.subscribers if known else ():
                sub.notify(ControlNotice("member_removed", state.name, user_id, info))
        elif event == "pusher:subscription_error":
            doc = _json_object(data)
            error = AuthorizationError(
                f"The server refused the subscription to {state.name} "
                f"({doc.get('error') or doc.get('message') or 'no reason given'}); retrying with back-off.",
                state.name,
            )
            self._auth_failed(state, self._connection.socket_id, error)
        elif event == "pusher:cache_miss":
            pass

    def _replace_members(self, state: _Channel, data: Any) -> None:
        presence = _json_object(data).get("presence") or {}
        members = presence.get("hash") or {}
        if not isinstance(members, dict):
            members = {}
        members = {str(k): v for k, v in members.items()}
        # A member without user_info may be missing from "hash" (soketi) but is listed in "ids".
        for user_id in presence.get("ids") or ():
            members.setdefault(str(user_id), None)
        with self._lock:
            old = state.members
            state.members = members
        for sub in state.subscribers:
            for user_id in old.keys() - members.keys():
                sub.notify(ControlNotice("member_removed", state.name, user_id, old[user_id]))
            for user_id in members.keys() - old.keys():
                sub.notify(ControlNotice("member_added", state.name, user_id, members[user_id]))

    # ------------------------------------------------------------------ tasks (task thread)
    def _keepalive(self) -> None:
        self._connection.check_alive()
        self._tasks.call_later(self._connection.check_interval, self._keepalive)

    def _current(self, socket_id: str) -> bool:
        return bool(socket_id) and socket_id == self._connection.socket_id and not self._closed

    def _subscribe_channel(self, state: _Channel, socket_id: str) -> None:
        """Authorize (afresh, for this socket_id) and send ``pusher:subscribe``."""
        with self._lock:
            if not self._current(socket_id) or self._channels.get(state.name) is not state:
                return
        payload: dict[str, Any] = {"channel": state.name}
        if state.kind is not ChannelKind.PUBLIC:
            channel_data = None
            if state.kind is ChannelKind.PRESENCE and self.user is not None:
                from authviz.pusher.signing import presence_channel_data

                channel_data = presence_channel_data(str(self.user["id"]), self.user.get("user_info"))
            try:
                response = self.authorizer.authorize(socket_id, state.name, channel_data)  # type: ignore[union-attr]
            except AuthorizationError as error:
                self._auth_failed(state, socket_id, error)
                return
            payload["auth"] = response["auth"]
            if state.kind is ChannelKind.PRESENCE:
                payload["channel_data"] = response.get("channel_data", channel_data)
            if state.kind is ChannelKind.PRIVATE_ENCRYPTED:
                secret = response.get("shared_secret")
                try:
                    state.shared_secret = base64.b64decode(secret) if secret else None
                except ValueError:
                    state.shared_secret = None
                if not state.shared_secret:
                    self._auth_failed(
                        state,
                        socket_id,
                        AuthorizationError(
                            f"The authorization of {state.name} carried no shared_secret: set "
                            "PUSHER_ENCRYPTION_MASTER_KEY (or fix the auth endpoint).",
                            state.name,
                        ),
                    )
                    return
        with self._lock:
            if not self._current(socket_id):
                return
            state.socket_id = socket_id
        self._connection.send_event("pusher:subscribe", payload)

    def _deliver_backfilled(self, item: LiveEvent) -> None:
        """Backfill: hand a (live or history) event to the channel's current subscribers."""
        state = self._channels.get(item.channel)
        if state is not None:
            for sub in state.subscribers:
                sub.offer(item)

    def _report_history(self, error: Exception) -> None:
        state = self._channels.get(self.backfill.channel) if self.backfill is not None else None
        for sub in list(state.subscribers) if state is not None else ():
            sub.notify(ControlNotice("error", state.name, error=error))

    def _auth_failed(self, state: _Channel, socket_id: str, error: AuthorizationError) -> None:
        self.auth_failures += 1
        for sub in list(state.subscribers):
            sub.notify(ControlNotice("error", state.name, error=error))
        delay = state.auth_backoff.next_delay()
        self._tasks.call_later(delay, lambda: self._subscribe_channel(state, socket_id))

    def _signin(self, socket_id: str) -> None:
        if not self._current(socket_id):
            return
        user_data = orjson.dumps(self.user).decode()
        try:
            response = self.authorizer.authenticate_user(socket_id, user_data)  # type: ignore[union-attr]
        except AuthorizationError as error:
            self.auth_failures += 1
            with self._lock:
                subs = list(self._subscriptions)
            for sub in subs:
                sub.notify(ControlNotice("error", error=error))
            self._tasks.call_later(self._signin_backoff.next_delay(), lambda: self._signin(socket_id))
            return
        self._connection.send_event(
            "pusher:signin", {"auth": response["auth"], "user_data": response.get("user_data", user_data)}
        )


def _json_object(data: Any) -> dict:
    if isinstance(data, (str, bytes)):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            return {}
    return data if isinstance(data, dict) else {}


def subscribe(
    *channels: str,
    settings: PusherSettings | None = None,
    events: Iterable[str] | None = None,
    user: Mapping[str, Any] | None = None,
    **options: Any,
) -> Subscription:
    """Connect and subscribe in one call; closing the subscription closes its client.

    ``settings`` default to :meth:`PusherSettings.from_env`; ``options`` go to :class:`LiveClient`
    (``signin``, ``backoff``, ``activity_timeout``...) or to the subscription (``maxsize``,
    ``overflow``).
    """
    sub_options = {k: options.pop(k) for k in ("maxsize", "overflow") if k in options}
    client = LiveClient(settings or PusherSettings.from_env(), user=user, **options)
    try:
        sub = client.subscribe(*channels, events=events, **sub_options)
    except BaseException:
        client.close()
        raise
    sub.owns_client = True
    return sub
