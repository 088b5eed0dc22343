"""The Pusher Channels protocol 7 as a pure state machine: no sockets, no clock, no tasks.

A :class:`Hub` holds the apps it serves (:class:`App` configurations, each with an
:class:`AppState`). Its inputs are *decoded* things that happened, each with the time ``now``
(seconds of a monotonic clock) passed in:

* :meth:`Hub.connect` / :meth:`Hub.receive` / :meth:`Hub.receive_binary` / :meth:`Hub.disconnect`
  for websocket connections (frames are the text of one websocket message),
* :meth:`AppState.trigger` for events published through the HTTP API or in-process,
* :meth:`Hub.tick` for time passing (pings, dead connections, cache expiry, held webhooks).

Its outputs are lists of *actions* for the I/O layer to carry out, in order:

* :class:`Send` one JSON message (already serialised) to one connection,
* :class:`Broadcast` one JSON message to many connections (serialised **once**; the I/O layer
  builds the websocket frame once and writes the same bytes to every recipient),
* :class:`Close` a connection with a close code (the state already forgot the connection),
* :class:`Webhook` one webhook event for an app that has a webhook URL.

Invariants:

* A :class:`Connection` is in ``AppState.connections`` iff it is open; once it has been closed
  (by the protocol or by the peer) every later input for it is ignored, so the I/O layer may
  report a disconnect twice without harm.
* A :class:`Channel` exists in ``AppState.channels`` iff it has at least one subscriber
  (``channel_occupied`` / ``channel_vacated`` webhooks fire exactly at those transitions).
* A presence member exists iff at least one connection is subscribed with its user id; it is
  announced (``member_added``) when its first connection joins and removed when the last leaves.
* A client event is never delivered to the connection that sent it.
* Presence webhooks are debounced (Pusher: "if a user disconnects and then reconnects within
  3 seconds, neither event will be delivered via webhook"): a presence channel's
  ``member_removed`` and ``channel_vacated`` webhooks are held for ``App.webhook_debounce``
  seconds; the same user (or, for ``channel_vacated``, anyone) joining again within that time
  cancels the held event *and* its ``member_added`` / ``channel_occupied``. Held events are
  released by :meth:`Hub.tick` (or by the next subscription after their time), in the order
  they were held; websocket-level ``member_added``/``member_removed`` are never delayed.
  Per channel the delivered webhooks still alternate occupied/vacated, and per (channel, user)
  added/removed.
* ``AppState.cache`` is in write order (a rewritten entry moves to the end) and holds at most
  ``App.max_cache_channels`` entries: the least recently written one is evicted first.
* A signed-in user is online iff ``AppState.users`` has at least one of its connections; the
  connections watching it (sign-in ``watchlist``) get ``online`` when its first connection signs
  in and ``offline`` when its last one leaves (``pusher_internal:watchlist_events``).

The server never decrypts ``private-encrypted-*`` payloads: they are relayed as opaque strings.
"""

from __future__ import annotations

import itertools
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from authviz.errors import AuthvizError
from authviz.pusher.channels import (
    SERVER_TO_USER_PREFIX,
    ChannelKind,
    channel_kind,
    is_cache_channel,
    is_client_event,
)
from authviz.pusher.limits import (
    DEFAULT_LIMITS,
    Limits,
    PusherValidationError,
    parse_presence_channel_data,
    parse_user_data,
    validate_channel_name,
    validate_channels,
    validate_data_size,
    validate_event_name,
)
from authviz.pusher.signing import verify_channel_auth, verify_user_auth
from authviz.topics import SERVER_ONLY_CHANNELS

__all__ = [
    "ACCEPTED_PROTOCOLS",
    "App",
    "AppState",
    "Broadcast",
    "Channel",
    "Close",
    "CloseCode",
    "Connection",
    "Hub",
    "Send",
    "TriggerError",
    "Webhook",
    "encode_message",
]

#: Protocol versions accepted on ``/app/{key}?protocol=N`` (5 and 6 differ from 7 only in
#: details this server does not depend on; pysher announces 6).
ACCEPTED_PROTOCOLS = frozenset({5, 6, 7})


#: How many validated channel names / event names an app remembers (a cache, not a limit).
_MAX_KNOWN = 10_000


class CloseCode:
    """Websocket close codes of the Pusher protocol (and the ones this server chooses).

    4000-4099: do not reconnect unchanged. 4100-4199: reconnect after a back-off of >= 1 s.
    4200-4299: reconnect at once. 4300+: other.
    """

    UNKNOWN_APP = 4001
    APP_DISABLED = 4003
    OVER_QUOTA = 4004
    PATH_NOT_FOUND = 4005
    INVALID_VERSION = 4006
    UNSUPPORTED_PROTOCOL = 4007
    NO_PROTOCOL = 4008
    UNAUTHORIZED = 4009
    #: Over capacity: reconnect with back-off. Also used for a client too slow to read its
    #: messages and for server shutdown (clients come back gradually, not in a storm).
    OVER_CAPACITY = 4100
    GENERIC_RECONNECT = 4200
    PONG_NOT_RECEIVED = 4201
    CLOSED_FOR_INACTIVITY = 4202
    CLIENT_EVENT_RATE = 4301
    WATCHLIST = 4302


# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class App:
    """One app's configuration. Immutable; every limit is a named field.

    Client events are off by default (as on Pusher Channels); ``enable_client_events`` allows them
    on channels starting with one of ``client_event_prefixes``, never on ``server_only_channels``.
    ``activity_timeout`` (s) is announced to clients; the server pings a connection that has been
    silent that long and closes it (4201) when no answer comes within ``pong_timeout`` (s).
    ``max_connections`` (0 = unlimited) refuses further connections with 4004.
    ``max_channels_per_connection`` bounds what one connection can make the server remember
    (a subscribe flood is answered with ``pusher:error`` beyond it).
    ``cache_ttl`` (s, Pusher: 30 min) is how long a cache channel keeps its last event.
    ``max_cache_channels`` bounds how many cache channels keep a last event: beyond it the least
    recently written entry is evicted (its channel then answers ``pusher:cache_miss``). Each
    entry holds one message, so the cache costs at most about ``max_cache_channels`` x
    (``limits.max_data_bytes`` + envelope): ~100 MB at the defaults in the worst case.
    ``webhook_url`` (None = no webhooks) receives the events named in ``webhook_events``.
    ``webhook_debounce`` (s, Pusher: 3) delays a presence channel's ``member_removed`` and
    ``channel_vacated`` webhooks; a return within that time cancels both sides (0 = no delay).
    """

    app_id: str
    key: str
    secret: str
    enable_client_events: bool = False
    enable_user_auth: bool = True
    #: With ``enable_client_events``: the channel prefixes on which clients may send ``client-*``
    #: events (still only private and presence channels, as on Pusher Channels).
    client_event_prefixes: tuple[str, ...] = ("private-", "presence-")
    #: Channels where only the server speaks (exact names; entries ending in "-" are prefixes):
    #: client events there are always refused, whatever the settings above.
    server_only_channels: tuple[str, ...] = SERVER_ONLY_CHANNELS
    limits: Limits = DEFAULT_LIMITS
    activity_timeout: int = 120
    pong_timeout: float = 30.0
    max_connections: int = 0
    max_channels_per_connection: int = 1000
    cache_ttl: float = 1800.0
    max_cache_channels: int = 10_000
    webhook_url: str | None = None
    webhook_debounce: float = 3.0
    webhook_events: frozenset[str] = frozenset(
        {"channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event", "cache_miss"}
    )

    def server_only(self, channel: str) -> bool:
        """True when only the server may publish on ``channel`` (see ``server_only_channels``)."""
        return any(
            channel.startswith(entry) if entry.endswith("-") else channel == entry
            for entry in self.server_only_channels
        )

    def __post_init__(self) -> None:
        object.__setattr__(self, "client_event_prefixes", tuple(self.client_event_prefixes))
        object.__setattr__(self, "server_only_channels", tuple(self.server_only_channels))
        for name in ("app_id", "key", "secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"app {name} must be a non-empty string")
        if self.activity_timeout <= 0 or self.pong_timeout <= 0:
            raise ValueError("activity_timeout and pong_timeout must be positive")
        if (
            isinstance(self.max_cache_channels, bool)
            or not isinstance(self.max_cache_channels, int)
            or self.max_cache_channels < 1
        ):
            raise ValueError(f"max_cache_channels must be a positive whole number, not {self.max_cache_channels!r}")
        if (
            not isinstance(self.webhook_debounce, (int, float))
            or isinstance(self.webhook_debounce, bool)
            or not 0 <= self.webhook_debounce <= 3600
        ):
            raise ValueError(
                f"webhook_debounce must be a number of seconds from 0 to 3600, not {self.webhook_debounce!r}"
            )


# --- actions ------------------------------------------------------------------------------------


class Send:
    """Send one serialised JSON message (``payload``, UTF-8 bytes) to ``conn``."""

    __slots__ = ("conn", "payload")

    def __init__(self, conn: Connection, payload: bytes) -> None:
        self.conn = conn
        self.payload = payload

    def __repr__(self) -> str:
        return f"Send({self.conn.socket_id}, {self.payload!r})"


class Broadcast:
    """Send one serialised JSON message to every connection in ``conns`` (a snapshot tuple)."""

    __slots__ = ("payload", "conns")

    def __init__(self, payload: bytes, conns: tuple[Connection, ...]) -> None:
        self.payload = payload
        self.conns = conns

    def __repr__(self) -> str:
        return f"Broadcast({self.payload!r}, {[c.socket_id for c in self.conns]})"


class Close:
    """Close ``conn`` with websocket close ``code``; the protocol state has already dropped it."""

    __slots__ = ("conn", "code", "reason")

    def __init__(self, conn: Connection, code: int, reason: str) -> None:
        self.conn = conn
        self.code = code
        self.reason = reason

    def __repr__(self) -> str:
        return f"Close({self.conn.socket_id}, {self.code}, {self.reason!r})"


class Webhook:
    """Deliver webhook ``event`` (``{"name": ..., ...}``) for app ``app_id``."""

    __slots__ = ("app_id", "event")

    def __init__(self, app_id: str, event: dict[str, Any]) -> None:
        self.app_id = app_id
        self.event = event

    def __repr__(self) -> str:
        return f"Webhook({self.app_id}, {self.event!r})"


Action = Send | Broadcast | Close | Webhook


def encode_message(event: str, data: Any = None, channel: str | None = None, **extra: Any) -> bytes:
    """Serialise one protocol message; ``data`` is put in as given (a str stays a JSON string)."""
    msg: dict[str, Any] = {"event": event}
    if channel is not None:
        msg["channel"] = channel
    if data is not None:
        msg["data"] = data
    msg.update(extra)
    return orjson.dumps(msg)


def _internal(event: str, data: Any, channel: str | None = None) -> bytes:
    """A ``pusher:*``/``pusher_internal:*`` message: its data is a JSON-encoded *string*."""
    return encode_message(event, orjson.dumps(data).decode(), channel)


def _error(message: str, code: int | None = None) -> bytes:
    """``pusher:error``: the one internal event whose data is an object."""
    return encode_message("pusher:error", {"message": message, "code": code})


# --- state --------------------------------------------------------------------------------------


class Connection:
    """One websocket connection's protocol state. ``sink`` belongs to the I/O layer."""

    __slots__ = (
        "socket_id",
        "app",
        "protocol",
        "channels",
        "presence",
        "user_id",
        "user",
        "watchlist",
        "last_seen",
        "ping_sent",
        "ce_window",
        "ce_count",
        "open",
        "sink",
        "__weakref__",
    )

    def __init__(self, socket_id: str, app: AppState, protocol: int, now: float) -> None:
        self.socket_id = socket_id
        self.app = app
        self.protocol = protocol
        #: channel name -> Channel, for every subscription that succeeded
        self.channels: dict[str, Channel] = {}
        #: presence channel name -> member key this connection joined as
        self.presence: dict[str, str] = {}
        #: set by a successful pusher:signin
        self.user_id: str | None = None
        self.user: Any = None
        #: user ids this connection watches (from its sign-in's watchlist)
        self.watchlist: tuple[str, ...] = ()
        self.last_seen = now
        self.ping_sent: float | None = None
        self.ce_window = 0  # integer second of the current client-event window
        self.ce_count = 0
        self.open = True
        self.sink: Any = None

    def __repr__(self) -> str:
        return f"Connection({self.socket_id!r}, app={self.app.app.app_id!r})"


class _Member:
    __slots__ = ("user_id", "user_info", "count")

    def __init__(self, user_id: str | int, user_info: Any) -> None:
        self.user_id = user_id
        self.user_info = user_info
        self.count = 0  # connections subscribed as this member


class Channel:
    """An occupied channel: its subscribers (insertion-ordered) and, for presence, its members."""

    __slots__ = ("name", "kind", "subscribers", "members", "cache")

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = channel_kind(name)
        self.subscribers: dict[Connection, None] = {}
        self.members: dict[str, _Member] = {}
        self.cache = is_cache_channel(name)

    @property
    def user_count(self) -> int:
        return len(self.members)

    @property
    def subscription_count(self) -> int:
        return len(self.subscribers)


class TriggerError(AuthvizError):
    """A published event broke a rule; ``http_status`` is 400 or 413 and ``str()`` says why."""

    def __init__(self, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.http_status = http_status


@dataclass(slots=True)
class _CacheEntry:
    payload: bytes
    expires: float
    event: str
    data: str


class AppState:
    """Everything one app's server remembers. Methods return lists of actions."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.connections: dict[str, Connection] = {}
        self.channels: dict[str, Channel] = {}
        #: signed-in user id -> that user's connections (the ``#server-to-user-{id}`` audience)
        self.users: dict[str, dict[Connection, None]] = {}
        #: user id -> connections whose sign-in watchlist names it (online/offline events)
        self.watchers: dict[str, dict[Connection, None]] = {}
        #: cache channel -> its last event, in write order (see the module invariants)
        self.cache: dict[str, _CacheEntry] = {}
        self.webhooks = app.webhook_url is not None
        #: presence webhooks being debounced: (channel, user key | None for channel_vacated)
        #: -> (due time, webhook name, fields), in the order they were held
        self.held: dict[tuple[str, str | None], tuple[float, str, dict[str, Any]]] = {}
        self._debounce = float(app.webhook_debounce) if self.webhooks else 0.0
        #: the latest time an input carried (for inputs that come without one)
        self.clock = 0.0
        # names that passed validation once (bounded; see validate_trigger)
        self._known_channels: dict[str, None] = {}
        self._known_events: dict[str, None] = {}

    # -- publishing -----------------------------------------------------------------------------

    def trigger(
        self,
        channels: Iterable[str],
        event: str,
        data: str,
        socket_id: str | None = None,
        now: float = 0.0,
        *,
        validate: bool = True,
    ) -> list[Action]:
        """Publish ``event`` with string ``data`` on ``channels``, excluding ``socket_id``.

        Raises :class:`TriggerError` (nothing is delivered) when a name, the size or the channel
        count breaks a limit. ``#server-to-user-{id}`` reaches every connection signed in as id.
        """
        if validate:
            names = self.validate_trigger(channels, event, data)
        else:
            names = list(channels)
        excluded = self.connections.get(socket_id) if socket_id else None
        out: list[Action] = []
        for name in names:
            payload = orjson.dumps({"event": event, "channel": name, "data": data})
            if name.startswith(SERVER_TO_USER_PREFIX):
                audience = self.users.get(name[len(SERVER_TO_USER_PREFIX) :])
            else:
                ch = self.channels.get(name)
                audience = ch.subscribers if ch is not None else None
                if ch is not None and ch.cache or ch is None and is_cache_channel(name):
                    cache = self.cache
                    cache.pop(name, None)  # a rewrite moves the entry to the end (write order)
                    cache[name] = _CacheEntry(payload, now + self.app.cache_ttl, event, data)
                    if len(cache) > self.app.max_cache_channels:
                        del cache[next(iter(cache))]  # the least recently written
            if not audience:
                continue
            if excluded is not None and excluded in audience:
                conns = tuple(c for c in audience if c is not excluded)
                if not conns:
                    continue
            else:
                conns = tuple(audience)
            out.append(Broadcast(payload, conns))
        return out

    def trigger_batch(self, events: list[tuple[list[str], str, str, str | None]], now: float = 0.0) -> list[Action]:
        """Publish ``(channels, event, data, socket_id)`` items in order, all or nothing.

        Every item is validated before any is delivered or cached (a :class:`TriggerError`
        names the item as ``batch[i]``); then each goes out as :meth:`trigger` sends it.
        """
        checked: list[tuple[list[str], str, str, str | None]] = []
        for i, (channels, event, data, socket_id) in enumerate(events):
            try:
                checked.append((self.validate_trigger(channels, event, data), event, data, socket_id))
            except TriggerError as exc:
                raise TriggerError(f"batch[{i}]: {exc}", exc.http_status) from None
        out: list[Action] = []
        for names, event, data, socket_id in checked:
            out.extend(self.trigger(names, event, data, socket_id, now, validate=False))
        return out

    def validate_trigger(self, channels: Iterable[str], event: str, data: str) -> list[str]:
        """The channel names of a trigger after every check (raises :class:`TriggerError`).

        Names and event names that passed once are remembered (at most ``_MAX_KNOWN`` of each),
        so the common case costs a few dict lookups instead of regular expressions.
        """
        limits = self.app.limits
        known = self._known_channels
        try:
            if (
                type(channels) is list
                and 0 < len(channels) <= limits.max_channels_per_trigger
                and all(name in known for name in channels)
            ):
                names = channels if len(channels) == 1 else list(dict.fromkeys(channels))
            else:
                names = validate_channels(channels, limits)
                if len(known) < _MAX_KNOWN:
                    known.update(dict.fromkeys(names))
            if event not in self._known_events:
                validate_event_name(event, limits)
                if event.startswith(("pusher:", "pusher_internal:")):
                    raise TriggerError(f"event name {event!r} is reserved for the protocol")
                if len(self._known_events) < _MAX_KNOWN:
                    self._known_events[event] = None
            if not (type(data) is str and data.isascii() and len(data) <= limits.max_data_bytes):
                validate_data_size(data, limits)
        except PusherValidationError as exc:
            raise TriggerError(str(exc), exc.http_status) from None
        return names

    def send_to_user(self, user_id: str, event: str, data: str, now: float = 0.0) -> list[Action]:
        """Deliver ``event`` to every connection signed in as ``user_id``."""
        return self.trigger([SERVER_TO_USER_PREFIX + user_id], event, data, None, now)

    def terminate_user_connections(self, user_id: str, now: float | None = None) -> list[Action]:
        """Close (4009) every connection signed in as ``user_id``."""
        now = self.clock if now is None else now
        out: list[Action] = []
        for conn in list(self.users.get(user_id, ())):
            out.extend(self._close(conn, CloseCode.UNAUTHORIZED, "connections terminated by the app", now))
        return out

    # -- queries (the HTTP API's read side) -----------------------------------------------------

    def channel_info(self, name: str, now: float = 0.0) -> dict[str, Any]:
        """``occupied``, ``subscription_count``, ``user_count`` (presence) and ``cache``."""
        ch = self.channels.get(name)
        info: dict[str, Any] = {"occupied": ch is not None, "subscription_count": ch.subscription_count if ch else 0}
        if channel_kind(name) is ChannelKind.PRESENCE:
            info["user_count"] = ch.user_count if ch else 0
        entry = self.cache.get(name)
        if entry is not None and entry.expires > now:
            info["cache"] = {"data": entry.data, "ttl": int(entry.expires - now)}
        return info

    def presence_users(self, name: str) -> list[dict[str, Any]]:
        """The members of presence channel ``name`` as ``[{"id": ...}]`` (empty if unoccupied)."""
        ch = self.channels.get(name)
        if ch is None:
            return []
        return [{"id": key} for key in ch.members]

    def occupied_channels(self, prefix: str = "") -> list[Channel]:
        """Occupied channels whose name starts with ``prefix``."""
        return [ch for name, ch in self.channels.items() if name.startswith(prefix)]

    # -- connection life cycle ------------------------------------------------------------------

    def _close(self, conn: Connection, code: int, reason: str, now: float) -> list[Action]:
        if not conn.open:
            return []
        out = self._forget(conn, now)
        out.append(Close(conn, code, reason))
        return out

    def _forget(self, conn: Connection, now: float) -> list[Action]:
        """Drop ``conn`` from every channel, member list and user list (idempotent)."""
        if not conn.open:
            return []
        conn.open = False
        out: list[Action] = []
        for name in list(conn.channels):
            out.extend(self._unsubscribe(conn, name, now))
        self._unwatch(conn)
        if conn.user_id is not None:
            out.extend(self._sign_out(conn))
        self.connections.pop(conn.socket_id, None)
        return out

    def _sign_out(self, conn: Connection) -> list[Action]:
        """Drop ``conn`` from its user's connections; announce ``offline`` after the last."""
        user_id = conn.user_id
        conns = self.users.get(user_id) if user_id is not None else None
        if conns is None:
            return []
        conns.pop(conn, None)
        if conns:
            return []
        del self.users[user_id]
        return self._watchlist_event("offline", user_id)

    def _watchlist_event(self, name: str, user_id: str) -> list[Action]:
        watchers = self.watchers.get(user_id)
        if not watchers:
            return []
        payload = _internal("pusher_internal:watchlist_events", {"events": [{"name": name, "user_ids": [user_id]}]})
        return [Broadcast(payload, tuple(watchers))]

    def _unwatch(self, conn: Connection) -> None:
        for watched in conn.watchlist:
            watchers = self.watchers.get(watched)
            if watchers is not None:
                watchers.pop(conn, None)
                if not watchers:
                    del self.watchers[watched]
        conn.watchlist = ()

    def _hook(self, out: list[Action], name: str, **fields: Any) -> None:
        if self.webhooks and name in self.app.webhook_events:
            fields["name"] = name
            out.append(Webhook(self.app.app_id, fields))

    def _hold(self, key: tuple[str, str | None], now: float, name: str, **fields: Any) -> None:
        """Debounce a presence ``member_removed``/``channel_vacated`` webhook (see the module
        invariants); :meth:`_flush_held` sends it once ``now + webhook_debounce`` has passed."""
        self.held[key] = (now + self._debounce, name, fields)

    def _unhold(self, key: tuple[str, str | None]) -> bool:
        """Cancel a held webhook; True when there was one (its counterpart is then not sent)."""
        return self.held.pop(key, None) is not None

    def _flush_held(self, now: float, out: list[Action]) -> None:
        """Send the held webhooks whose time has come, oldest first."""
        held = self.held
        while held:
            key = next(iter(held))
            due, name, fields = held[key]
            if due > now:
                break
            del held[key]
            self._hook(out, name, **fields)

    # -- subscriptions --------------------------------------------------------------------------

    def _subscribe(self, conn: Connection, data: Any, now: float) -> list[Action]:
        app = self.app
        if not isinstance(data, dict):
            return [Send(conn, _error('pusher:subscribe needs data {"channel": ...}'))]
        name = data.get("channel")
        if isinstance(name, str) and name.startswith(SERVER_TO_USER_PREFIX):
            # pusher-js subscribes to its own server-to-user channel after signing in; that
            # connection is already in the audience, so only confirm (nobody else may).
            if conn.user_id is not None and name == SERVER_TO_USER_PREFIX + conn.user_id:
                return [Send(conn, _internal("pusher_internal:subscription_succeeded", {}, name))]
            return [
                Send(
                    conn,
                    _error(
                        f"{name} is reserved for the user who signed in as that id (pusher:signin)",
                        CloseCode.UNAUTHORIZED,
                    ),
                )
            ]
        try:
            validate_channel_name(name, app.limits)
        except PusherValidationError as exc:
            return [Send(conn, _error(str(exc)))]
        if name in conn.channels:
            return [Send(conn, self._succeeded_payload(conn.channels[name]))]
        if len(conn.channels) >= app.max_channels_per_connection:
            return [
                Send(
                    conn,
                    _error(
                        f"this connection is subscribed to {len(conn.channels)} channels; the limit is "
                        f"{app.max_channels_per_connection}",
                        CloseCode.OVER_CAPACITY,
                    ),
                )
            ]
        kind = channel_kind(name)
        member = None
        if kind is not ChannelKind.PUBLIC:
            auth = data.get("auth")
            channel_data = data.get("channel_data") if kind is ChannelKind.PRESENCE else None
            if kind is ChannelKind.PRESENCE and not isinstance(channel_data, str):
                return [Send(conn, _error(f"subscribing to {name} needs channel_data", CloseCode.UNAUTHORIZED))]
            if not isinstance(auth, str) or not verify_channel_auth(
                app.key, app.secret, conn.socket_id, name, auth, channel_data
            ):
                return [
                    Send(
                        conn,
                        _error(
                            f"invalid signature for {name}: expected HMAC SHA256 of "
                            f"'{conn.socket_id}:{name}{':<channel_data>' if channel_data else ''}' "
                            "signed with the app secret",
                            CloseCode.UNAUTHORIZED,
                        ),
                    )
                ]
            if kind is ChannelKind.PRESENCE:
                try:
                    member = parse_presence_channel_data(channel_data, app.limits)
                except PusherValidationError as exc:
                    return [Send(conn, _error(str(exc)))]
        out: list[Action] = []
        ch = self.channels.get(name)
        if (
            member is not None
            and ch is not None
            and member.key not in ch.members
            and len(ch.members) >= app.limits.max_presence_members
        ):
            return [
                Send(
                    conn,
                    _error(
                        f"{name} has {len(ch.members)} members; the limit is {app.limits.max_presence_members}",
                        CloseCode.OVER_CAPACITY,
                    ),
                )
            ]
        held = self.held
        if held:
            self._flush_held(now, out)  # what is due goes first; what is left may be cancelled
        if ch is None:
            ch = self.channels[name] = Channel(name)
            if not (held and self._unhold((name, None))):
                self._hook(out, "channel_occupied", channel=name)
        if member is not None:
            key = member.key
            m = ch.members.get(key)
            if m is None:
                m = ch.members[key] = _Member(member.user_id, member.user_info)
                if ch.subscribers:
                    out.append(
                        Broadcast(
                            _internal("pusher_internal:member_added", {"user_id": key, "user_info": m.user_info}, name),
                            tuple(ch.subscribers),
                        )
                    )
                if not (held and self._unhold((name, key))):
                    self._hook(out, "member_added", channel=name, user_id=key)
            m.count += 1
            conn.presence[name] = key
        ch.subscribers[conn] = None
        conn.channels[name] = ch
        out.append(Send(conn, self._succeeded_payload(ch)))
        if ch.cache:
            entry = self.cache.get(name)
            if entry is not None and entry.expires > now:
                out.append(Send(conn, entry.payload))
            else:
                out.append(Send(conn, _internal("pusher:cache_miss", {}, name)))
                self._hook(out, "cache_miss", channel=name)
        return out

    @staticmethod
    def _succeeded_payload(ch: Channel) -> bytes:
        if ch.kind is ChannelKind.PRESENCE:
            ids = list(ch.members)
            data: dict[str, Any] = {
                "presence": {
                    "ids": ids,
                    "hash": {k: m.user_info for k, m in ch.members.items()},
                    "count": len(ids),
                }
            }
        else:
            data = {}
        return _internal("pusher_internal:subscription_succeeded", data, ch.name)

    def _unsubscribe(self, conn: Connection, name: str, now: float) -> list[Action]:
        ch = conn.channels.pop(name, None)
        if ch is None:
            return []
        out: list[Action] = []
        ch.subscribers.pop(conn, None)
        debounce = self._debounce > 0 and ch.kind is ChannelKind.PRESENCE
        key = conn.presence.pop(name, None)
        if key is not None:
            m = ch.members.get(key)
            if m is not None:
                m.count -= 1
                if m.count <= 0:
                    del ch.members[key]
                    if ch.subscribers:
                        out.append(
                            Broadcast(
                                _internal("pusher_internal:member_removed", {"user_id": key}, name),
                                tuple(ch.subscribers),
                            )
                        )
                    if debounce:
                        self._hold((name, key), now, "member_removed", channel=name, user_id=key)
                    else:
                        self._hook(out, "member_removed", channel=name, user_id=key)
        if not ch.subscribers:
            del self.channels[name]
            if debounce:
                self._hold((name, None), now, "channel_vacated", channel=name)
            else:
                self._hook(out, "channel_vacated", channel=name)
        return out

    # -- client events and sign-in --------------------------------------------------------------

    def _client_event(self, conn: Connection, msg: dict[str, Any], now: float) -> list[Action]:
        app = self.app
        event = msg["event"]
        name = msg.get("channel")
        if not app.enable_client_events:
            return [Send(conn, _error("client events are disabled for this app", None))]
        if isinstance(name, str) and app.server_only(name):
            return [
                Send(conn, _error(f"client events are refused on {name[:80]}: only the server publishes there", None))
            ]
        if isinstance(name, str) and not name.startswith(app.client_event_prefixes):
            return [Send(conn, _error(f"client events are not enabled on {name[:80]}", None))]
        ch = conn.channels.get(name) if isinstance(name, str) else None
        if ch is None:
            return [
                Send(conn, _error(f"client event {event[:64]!r} rejected: not subscribed to {str(name)[:80]!r}", None))
            ]
        if ch.kind is ChannelKind.PUBLIC or ch.kind is ChannelKind.PRIVATE_ENCRYPTED:
            return [
                Send(conn, _error(f"client events are only allowed on private and presence channels, not {name}", None))
            ]
        second = int(now)
        if second != conn.ce_window:
            conn.ce_window = second
            conn.ce_count = 0
        conn.ce_count += 1
        if conn.ce_count > app.limits.client_events_per_second:
            return self._close(
                conn,
                CloseCode.CLIENT_EVENT_RATE,
                f"more than {app.limits.client_events_per_second} client events per second",
                now,
            )
        data = msg.get("data")
        try:
            validate_event_name(event, app.limits)
            validate_data_size(data if isinstance(data, str) else orjson.dumps(data), app.limits)
        except (PusherValidationError, TypeError) as exc:
            return [Send(conn, _error(str(exc), None))]
        out: list[Action] = []
        delivered: dict[str, Any] = {"event": event, "channel": name, "data": data}
        user_id = conn.presence.get(name)
        if user_id is not None:
            delivered["user_id"] = user_id
        others = tuple(c for c in ch.subscribers if c is not conn)
        if others:
            out.append(Broadcast(orjson.dumps(delivered), others))
        if self.webhooks and "client_event" in app.webhook_events:
            hook = {
                "channel": name,
                "event": event,
                "data": data if isinstance(data, str) else orjson.dumps(data).decode(),
                "socket_id": conn.socket_id,
            }
            if user_id is not None:
                hook["user_id"] = user_id
            self._hook(out, "client_event", **hook)
        return out

    def _signin(self, conn: Connection, data: Any, now: float) -> list[Action]:
        app = self.app
        if not app.enable_user_auth:
            return [Send(conn, _error("user authentication is disabled for this app", None))]
        if not isinstance(data, dict):
            return [Send(conn, _error('pusher:signin needs data {"auth", "user_data"}', None))]
        auth, user_data = data.get("auth"), data.get("user_data")
        if (
            not isinstance(auth, str)
            or not isinstance(user_data, str)
            or not verify_user_auth(app.key, app.secret, conn.socket_id, user_data, auth)
        ):
            return self._close(conn, CloseCode.UNAUTHORIZED, "invalid user authentication signature", now)
        try:
            user = parse_user_data(user_data, app.limits)
        except PusherValidationError as exc:
            if exc.code is not None:
                return [Send(conn, _error(str(exc), exc.code)), *self._close(conn, exc.code, str(exc)[:120], now)]
            return self._close(conn, CloseCode.UNAUTHORIZED, str(exc)[:120], now)
        out: list[Action] = []
        if conn.user_id is not None and conn.user_id != user.id:
            out.extend(self._sign_out(conn))
        self._unwatch(conn)
        conn.user_id = user.id
        conn.user = user
        conns = self.users.get(user.id)
        if conns is None:
            conns = self.users[user.id] = {}
            out.extend(self._watchlist_event("online", user.id))
        conns[conn] = None
        out.append(Send(conn, encode_message("pusher:signin_success", {"user_data": user_data})))
        if user.watchlist:
            conn.watchlist = tuple(dict.fromkeys(user.watchlist))
            for watched in conn.watchlist:
                self.watchers.setdefault(watched, {})[conn] = None
            online = [u for u in conn.watchlist if u in self.users]
            if online:
                out.append(
                    Send(
                        conn,
                        _internal(
                            "pusher_internal:watchlist_events", {"events": [{"name": "online", "user_ids": online}]}
                        ),
                    )
                )
        return out


class Hub:
    """The apps this server hosts, and the inputs of every connection."""

    def __init__(self, apps: Iterable[App]) -> None:
        self.apps: dict[str, AppState] = {}
        self.by_key: dict[str, AppState] = {}
        for app in apps:
            if app.app_id in self.apps:
                raise ValueError(f"two apps have the id {app.app_id!r}")
            if app.key in self.by_key:
                raise ValueError(f"two apps have the key {app.key!r}")
            state = AppState(app)
            self.apps[app.app_id] = state
            self.by_key[app.key] = state
        if not self.apps:
            raise ValueError("a hub needs at least one app")
        self._ids = itertools.count(secrets.randbelow(10**6) + 1)

    def _new_socket_id(self) -> str:
        return f"{next(self._ids)}.{secrets.randbelow(10**9)}"

    # -- websocket inputs -----------------------------------------------------------------------

    def connect(
        self, key: str, protocol: str | int | None, now: float
    ) -> tuple[Connection | None, list[bytes], int | None, str]:
        """Open a connection to app ``key``.

        Returns ``(conn, messages, close_code, reason)``: on success ``conn`` is registered,
        ``messages`` holds ``pusher:connection_established`` and ``close_code`` is None; on
        refusal ``conn`` is None, ``messages`` holds a ``pusher:error`` and the I/O layer must
        close with ``close_code``.
        """
        state = self.by_key.get(key)
        if state is None:
            reason = f"app key {key[:64]!r} does not exist"
            return None, [_error(reason, CloseCode.UNKNOWN_APP)], CloseCode.UNKNOWN_APP, reason
        if protocol is None or protocol == "":
            reason = "no protocol version given (add ?protocol=7)"
            return None, [_error(reason, CloseCode.NO_PROTOCOL)], CloseCode.NO_PROTOCOL, reason
        try:
            version = int(protocol)
        except (TypeError, ValueError):
            version = -1
        if version not in ACCEPTED_PROTOCOLS:
            reason = f"protocol version {str(protocol)[:16]!r} is not supported (use 7)"
            code = CloseCode.UNSUPPORTED_PROTOCOL
            return None, [_error(reason, code)], code, reason
        app = state.app
        if app.max_connections and len(state.connections) >= app.max_connections:
            reason = f"the app has {app.max_connections} connections, its limit"
            return None, [_error(reason, CloseCode.OVER_QUOTA)], CloseCode.OVER_QUOTA, reason
        conn = Connection(self._new_socket_id(), state, version, now)
        state.connections[conn.socket_id] = conn
        if now > state.clock:
            state.clock = now
        established = _internal(
            "pusher:connection_established", {"socket_id": conn.socket_id, "activity_timeout": app.activity_timeout}
        )
        return conn, [established], None, ""

    def receive(self, conn: Connection, text: str | bytes, now: float) -> list[Action]:
        """Handle one text message from ``conn``. Never raises on bad input."""
        if not conn.open:
            return []
        conn.last_seen = now
        conn.ping_sent = None
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [Send(conn, _error("messages must be JSON objects", None))]
        if not isinstance(msg, dict):
            return [Send(conn, _error("messages must be JSON objects", None))]
        event = msg.get("event")
        if not isinstance(event, str):
            return [Send(conn, _error('the message has no "event" string', None))]
        data = msg.get("data")
        if isinstance(data, str) and event.startswith("pusher:"):
            # pusher:* data arrives as an object from most clients, as a JSON string from some.
            try:
                data = orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
        state = conn.app
        if event == "pusher:ping":
            return [Send(conn, _PONG)]
        if event == "pusher:pong":
            return []
        if event == "pusher:subscribe":
            return state._subscribe(conn, data, now)
        if event == "pusher:unsubscribe":
            name = data.get("channel") if isinstance(data, dict) else None
            return state._unsubscribe(conn, name, now) if isinstance(name, str) else []
        if event == "pusher:signin":
            return state._signin(conn, data, now)
        if is_client_event(event):
            return state._client_event(conn, msg, now)
        return [Send(conn, _error(f"unknown event {event[:64]!r}", None))]

    def activity(self, conn: Connection, now: float) -> None:
        """The peer showed it is alive without a protocol message (a websocket ping/pong)."""
        conn.last_seen = now
        conn.ping_sent = None

    def receive_binary(self, conn: Connection, now: float) -> list[Action]:
        """A binary frame: the protocol only carries text, so answer with ``pusher:error``."""
        if not conn.open:
            return []
        conn.last_seen = now
        return [Send(conn, _error("binary frames are not supported; send JSON text", None))]

    def disconnect(self, conn: Connection, now: float | None = None) -> list[Action]:
        """The peer went away (or the I/O layer dropped it) at ``now`` (None: the latest time
        the app saw, at most one tick old; it starts the presence webhook debounce). Idempotent."""
        state = conn.app
        if now is None:
            now = state.clock
        elif now > state.clock:
            state.clock = now
        return state._forget(conn, now)

    def close(self, conn: Connection, code: int, reason: str, now: float | None = None) -> list[Action]:
        """Close ``conn`` from the server side (e.g. a client too slow to read)."""
        state = conn.app
        return state._close(conn, code, reason, state.clock if now is None else now)

    def close_all(self, code: int, reason: str) -> list[Action]:
        """Close every connection of every app (server shutdown). Held webhooks are sent at
        once: nobody can come back to cancel them."""
        out: list[Action] = []
        for state in self.apps.values():
            for conn in list(state.connections.values()):
                out.append(Send(conn, _error(reason, code)))
                out.extend(state._close(conn, code, reason, state.clock))
            state._flush_held(math.inf, out)
        return out

    def tick(self, now: float) -> list[Action]:
        """Time passed: ping silent connections, close (4201) those that never answered,
        send the held presence webhooks that are due, forget expired cache entries.
        Cost: one pass over the connections."""
        out: list[Action] = []
        for state in self.apps.values():
            if now > state.clock:
                state.clock = now
            app = state.app
            idle_after = now - app.activity_timeout
            dead_after = now - app.pong_timeout
            for conn in list(state.connections.values()):
                if conn.ping_sent is not None:
                    if conn.ping_sent <= dead_after:
                        out.extend(state._close(conn, CloseCode.PONG_NOT_RECEIVED, "pong not received", now))
                elif conn.last_seen <= idle_after:
                    conn.ping_sent = now
                    out.append(Send(conn, _PING))
            if state.held:
                state._flush_held(now, out)
            cache = state.cache
            while cache:  # write order = expiry order (one cache_ttl per app)
                name = next(iter(cache))
                if cache[name].expires > now:
                    break
                del cache[name]
        return out


_PING = encode_message("pusher:ping", "{}")
_PONG = encode_message("pusher:pong", "{}")
