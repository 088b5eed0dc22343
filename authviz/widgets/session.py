"""``LiveSession``: the running pieces behind a notebook's widgets, started and stopped in one line.

    session = live_session()          # embedded hub + bridge in-process, unless settings are set
    feed = session.feed()             # a LiveFeed fed by the private auth-event channel
    session.simulate(n=400, seed=7)   # seeded traffic through the real log-stream webhook
    ...
    session.stop()                    # last cell: stops threads, clients, the hub

Where events come from:

- **local** (no ``PUSHER_URL``/``PUSHER_KEY`` in the environment, or ``AUTHVIZ_NOTEBOOK_MODE=local``):
  :class:`~authviz.widgets.local.LocalHub` runs the embedded hub with the bridge and a dev identity
  on a free loopback port.
- **remote** (Pusher settings present, e.g. from ``make demo``): the live client uses them
  (``PUSHER_AUTH_ENDPOINT`` + ``PUSHER_AUTH_TOKEN`` or the secret); ``AUTHVIZ_BRIDGE_URL`` names
  the bridge for chat and simulated traffic (``AUTHVIZ_LOG_TOKEN``).

Threads: the live client's threads and the simulator's poster only call :meth:`Pump.submit`;
the pump (an asyncio task on the kernel's loop) is the only writer to widgets; nothing prints.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Mapping
from typing import Any

from authviz.config import NOTEBOOK_MODE_ENV, NotebookSettings, PusherSettings
from authviz.errors import AuthvizError, ConfigError
from authviz.live import EndpointAuthorizer, LiveClient
from authviz.topics import (
    AUTH_EVENT, CHAT_CHANNEL, EVENTS_CHANNEL, MESSAGE_ADDED_EVENT, READ_EVENTS_PERMISSION,
)
from authviz.widgets.chat import ChatWidget
from authviz.widgets.countries import CountryChart
from authviz.widgets.feed import LiveFeed
from authviz.widgets.pump import Pump
from authviz.widgets.records import CATEGORY_LABELS, to_record
from authviz.widgets.session_events import SessionEvents

MODE_ENV = NOTEBOOK_MODE_ENV
#: Largest webhook batch the simulator posts (the bridge accepts far more; small batches keep the
#: feed smooth).
SIM_BATCH = 25


class BridgeError(AuthvizError):
    """The bridge refused or could not be reached; the message says which and why."""


def _http(method: str, url: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None,
          timeout: float = 10.0) -> Any:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as error:
        try:
            reason = json.loads(error.read() or b"{}").get("error") or error.reason
        except ValueError:
            reason = error.reason
        raise BridgeError(f"the bridge answered {error.code} to {method} {urllib.parse.urlsplit(url).path}: {reason}") \
            from None
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise BridgeError(f"the bridge at {url} could not be reached ({getattr(error, 'reason', error)})") from None
    return json.loads(payload) if payload else None


class BridgeChat:
    """:class:`~authviz.widgets.ChatBackend` over the bridge's ``/chat/messages`` with a bearer token."""

    def __init__(self, bridge_url: str, token: str, *, history_limit: int = 100, timeout: float = 10.0) -> None:
        self.bridge_url = bridge_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self.history_limit = history_limit
        self.timeout = timeout

    def history(self) -> list[Mapping[str, Any]]:
        doc = _http("GET", f"{self.bridge_url}/chat/messages?limit={self.history_limit}",
                    headers=self._headers, timeout=self.timeout)
        return list(doc.get("messages", [])) if isinstance(doc, dict) else []

    def send(self, text: str) -> Mapping[str, Any] | None:
        return _http("POST", f"{self.bridge_url}/chat/messages", body=json.dumps({"text": text}).encode(),
                     headers={**self._headers, "Content-Type": "application/json"}, timeout=self.timeout)


def settings_in_environment(env: Mapping[str, str] | None = None) -> bool:
    """Whether Pusher settings are given (``PUSHER_URL`` or ``PUSHER_KEY``) and not overridden to local."""
    return NotebookSettings.from_env(env, dotenv_path=".env" if env is None else None).remote


class LiveSession:
    """The pump, the live clients and (in local mode) the embedded hub of one notebook."""

    def __init__(self, *, hz: float = 4.0, mode: str | None = None, connect_timeout: float = 15.0) -> None:
        if mode is None:
            mode = "remote" if settings_in_environment() else "local"
        if mode not in ("local", "remote"):
            raise ConfigError(f"mode must be 'local' or 'remote', not {mode!r}.")
        self.mode = mode
        self.connect_timeout = connect_timeout
        self.pump = Pump(hz=hz)
        self.hub: Any = None
        self._clients: list[LiveClient] = []
        self._subs: list[Any] = []
        self._events_sub: Any = None
        self._sim_threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.simulated = 0
        #: auth events handed to the pump by the live subscription (incremented after submit)
        self.received = 0
        self.sim_errors: list[str] = []
        self._tokens: dict[str, str] = {}
        self._salt = secrets.token_hex(4)
        self._chat_count = 0
        if mode == "local":
            from authviz.widgets.local import LocalHub

            self.hub = LocalHub().start()
            self.bridge_url = self.hub.url
            self.log_token = self.hub.log_token
            self.default_user = "analyst"
            self.settings = PusherSettings.from_url(self.hub.pusher_url)
        else:
            self.settings = PusherSettings.from_env()
            notebook = NotebookSettings.from_env()
            self.bridge_url = notebook.bridge_url
            self.log_token = notebook.log_token
            self.default_user = None
        self.pump.start()

    # -- identity ---------------------------------------------------------------------------
    def token(self, user: str | None = None) -> str:
        """A bearer token: for ``user`` from the dev identity (``POST /dev/token``, loopback only),
        else ``PUSHER_AUTH_TOKEN`` (remote) or one for the local default user."""
        if user is None and self.mode == "remote":
            token = NotebookSettings.from_env().auth_token
            if token:
                return token
            raise ConfigError("PUSHER_AUTH_TOKEN is not set: give a user token, or a demo user name "
                              "(chat(user='bob')) when the bridge runs with a dev identity.")
        user = user or self.default_user or "analyst"
        if user not in self._tokens:
            if not self.bridge_url:
                raise ConfigError("AUTHVIZ_BRIDGE_URL is not set: the bridge mints and checks chat tokens.")
            fields = [("user", user)]
            if user == (self.default_user or "analyst"):
                # the notebook's own user reads the event feed and its history
                fields.append(("permission", READ_EVENTS_PERMISSION))
            body = urllib.parse.urlencode(fields).encode()
            doc = _http("POST", f"{self.bridge_url}/dev/token", body=body,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
            self._tokens[user] = doc["access_token"]
        return self._tokens[user]

    def _client(self, token: str | None) -> LiveClient:
        if token is not None and self.bridge_url:
            authorizer = EndpointAuthorizer(f"{self.bridge_url}/pusher/auth", {"Authorization": f"Bearer {token}"})
            client = LiveClient(self.settings, authorizer=authorizer, connect_timeout=self.connect_timeout)
        else:
            client = LiveClient(self.settings, connect_timeout=self.connect_timeout)
        self._clients.append(client)
        return client

    # -- the auth-event stream --------------------------------------------------------------
    def _ensure_events(self) -> None:
        if self._events_sub is not None:
            return
        token = self.token() if (self.mode == "local" or self.settings.auth_endpoint) else None
        client = self._client(token) if self.mode == "local" else LiveClient(
            self.settings, connect_timeout=self.connect_timeout)
        if client not in self._clients:
            self._clients.append(client)
        sub = client.subscribe(EVENTS_CHANNEL, events=[AUTH_EVENT])
        pump = self.pump

        def hand_over(ev: Any) -> None:  # the subscription's consumer thread: hand over only
            pump.submit(ev.data if isinstance(ev.data, Mapping) else ev.auth_event)
            self.received += 1  # after submit: received >= n implies n items are in the pump

        sub.on_event(hand_over)
        if not sub.wait_subscribed(timeout=self.connect_timeout):
            raise ConfigError(f"Could not subscribe to {EVENTS_CHANNEL} within {self.connect_timeout:g} s "
                              f"at {self.settings.host}:{self.settings.port}; is the hub running?")
        self._events_sub = sub
        self._subs.append(sub)

    def feed(self, **options: Any) -> LiveFeed:
        """A :class:`LiveFeed` attached to the pump and fed the live auth events."""
        return self.attach(LiveFeed(**options))

    def country_chart(self, **options: Any) -> CountryChart:
        return self.attach(CountryChart(**options))

    def session_events(self, **options: Any) -> SessionEvents:
        return self.attach(SessionEvents(**options))

    def attach(self, widget: Any) -> Any:
        """Register an auth-event widget with the pump and make sure the stream is subscribed."""
        self._ensure_events()
        self.pump.add(widget)
        return widget

    # -- chat -------------------------------------------------------------------------------
    def chat(self, user: str | None = None, **options: Any) -> ChatWidget:
        """A :class:`ChatWidget` on the presence chat as ``user`` (dev identity) or the token's user."""
        if not self.bridge_url:
            raise ConfigError("AUTHVIZ_BRIDGE_URL is not set: the chat needs the bridge.")
        token = self.token(user)
        self._chat_count += 1
        topic = f"chat:{self._chat_count}"
        widget = ChatWidget(BridgeChat(self.bridge_url, token), **options)
        widget.topics = frozenset({topic})
        self.pump.add(widget)
        client = self._client(token)
        sub = client.subscribe(CHAT_CHANNEL)
        pump = self.pump

        def members_changed(*_args: Any) -> None:
            members = client.members(CHAT_CHANNEL)
            names = [(info or {}).get("name") or uid if isinstance(info, Mapping) else uid
                     for uid, info in members.items()]
            pump.submit({"members": names}, topic)

        sub.on_event(lambda ev: pump.submit(ev.data, topic) if ev.name == MESSAGE_ADDED_EVENT else None)
        sub.on_subscribed(members_changed)
        sub.on_member_added(members_changed)
        sub.on_member_removed(members_changed)
        self._subs.append(sub)
        if not sub.wait_subscribed(timeout=self.connect_timeout):
            widget._show_error(f"Could not join the chat within {self.connect_timeout:g} s; "
                               "check the token and that the bridge is running.")
        members_changed()
        return widget

    # -- simulated traffic through the real webhook -----------------------------------------
    def simulate(self, n: int = 400, *, rate: float = 50.0, seed: int = 7, wait: bool = False) -> threading.Thread:
        """Post ``n`` seeded simulator records to the bridge's ``/auth0/logs`` at ``rate`` per second
        from a background thread (which never prints; errors land in :attr:`sim_errors`).

        In remote mode the records' ``log_id``s get a per-session prefix so a re-run is not
        swallowed by the bridge's de-duplication.
        """
        if not (self.bridge_url and self.log_token):
            raise ConfigError("Simulated traffic needs AUTHVIZ_BRIDGE_URL and AUTHVIZ_LOG_TOKEN (make demo sets both).")
        if n < 0 or rate <= 0:
            raise ValueError(f"n must be >= 0 and rate > 0, got n={n}, rate={rate}")
        from authviz.simulator import TrafficGenerator

        records = self._unique(list(TrafficGenerator(seed=seed).generate(n=n)))
        url = f"{self.bridge_url}/auth0/logs"
        headers = {"Authorization": self.log_token, "Content-Type": "application/json"}
        per_batch = max(1, min(SIM_BATCH, int(rate / 4) or 1))

        def post_all() -> None:
            start = time.monotonic()
            for i in range(0, len(records), per_batch):
                if self._stop.is_set():
                    return
                due = start + i / rate
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                batch = records[i:i + per_batch]
                body = "\n".join(json.dumps(r) for r in batch).encode()
                try:
                    _http("POST", url, body=body, headers=headers)
                    self.simulated += len(batch)
                except BridgeError as error:
                    self.sim_errors.append(str(error))
                    return

        thread = threading.Thread(target=post_all, name="authviz-simulator", daemon=True)
        self._sim_threads.append(thread)
        thread.start()
        if wait:
            thread.join()
        return thread

    # -- waiting and summaries --------------------------------------------------------------
    def wait_for(self, predicate: Any, timeout: float = 30.0) -> bool:
        """Tick the pump on this thread until ``predicate()`` holds (or ``timeout`` s); see Pump.wait_until."""
        return self.pump.wait_until(predicate, timeout=timeout)

    def wait_for_events(self, n: int, timeout: float = 30.0) -> bool:
        """Wait until ``n`` auth events arrived and the pump applied them to every widget."""
        return self.wait_for(lambda: self.received >= n and len(self.pump.buffer) == 0, timeout=timeout)

    def _unique(self, records: list[dict]) -> list[dict]:
        """In remote mode, prefix ``log_id``s per session so the bridge's de-duplication does not
        swallow a re-run of the notebook; local stores are new every session."""
        if self.mode != "remote":
            return records
        out = []
        for r in records:
            r = {**r, "log_id": f"{self._salt}{r.get('log_id', '')}"}
            if isinstance(r.get("data"), dict):
                r["data"] = {**r["data"], "log_id": r["log_id"]}
            out.append(r)
        return out

    def post_log_records(self, records: list[Mapping[str, Any]]) -> Any:
        """POST Log Streaming records to the bridge's webhook now (e.g. a hand-made event or an
        attack scenario of the simulator)."""
        if not (self.bridge_url and self.log_token):
            raise ConfigError("Posting records needs AUTHVIZ_BRIDGE_URL and AUTHVIZ_LOG_TOKEN (make demo sets both).")
        records = self._unique([dict(r) for r in records])
        body = "\n".join(json.dumps(r) for r in records).encode()
        return _http("POST", f"{self.bridge_url}/auth0/logs", body=body,
                     headers={"Authorization": self.log_token, "Content-Type": "application/json"})

    def stop(self) -> None:
        """Stop the simulator, close every client (joining their threads), the pump and the hub."""
        self._stop.set()
        for thread in self._sim_threads:
            thread.join(timeout=10)
        for sub in self._subs:
            try:
                sub.close()
            except Exception:
                pass
        for client in self._clients:
            client.close()
        self.pump.stop()
        if self.hub is not None:
            self.hub.stop()
            self.hub = None

    def __enter__(self) -> LiveSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def live_session(**options: Any) -> LiveSession:
    """Start a :class:`LiveSession` (local embedded hub unless Pusher settings are in the env)."""
    return LiveSession(**options)


def summary(counts: Mapping[str, int], countries: Mapping[str, int], *, top: int = 10) -> str:
    """A deterministic text table: events per category (schema order) and the ``top`` countries."""
    lines = ["events by category:"]
    for category, label in CATEGORY_LABELS.items():
        if counts.get(category):
            lines.append(f"  {label:<20} {counts[category]:>6}")
    lines.append(f"  {'total':<20} {sum(counts.values()):>6}")
    lines.append(f"top {top} countries:")
    for name, n in sorted(countries.items(), key=lambda t: (-t[1], t[0]))[:top]:
        lines.append(f"  {name:<20} {n:>6}")
    return "\n".join(lines)


def expected_counts(n: int, seed: int = 7) -> tuple[Counter[str], Counter[str]]:
    """What the seeded simulator sends: counts by category and by country name, parsed offline."""
    from authviz.auth0.parse import parse_event
    from authviz.simulator import TrafficGenerator

    categories: Counter[str] = Counter()
    countries: Counter[str] = Counter()
    for record in TrafficGenerator(seed=seed).generate(n=n):
        r = to_record(parse_event(record))
        categories[r.category] += 1
        if r.country_name:
            countries[r.country_name] += 1
    return categories, countries
