"""``LiveSession``: the running pieces behind a notebook's widgets, live until you say stop.

    session = live_session()          # embedded hub + bridge in-process, unless settings are set
    feed = session.feed()             # a LiveFeed fed by the private auth-event channel
    session.simulate(n=400, seed=7)   # seeded traffic through the real log-stream webhook

Nothing stops by itself: every widget the session makes carries a status line (live, events per
second, last event N s ago; reconnecting; stopped) with a Stop button, and :meth:`LiveSession.stop`
stops everything. Kernel shutdown or restart stops every session of the kernel (``atexit``), so a
notebook needs no ``session.stop()`` cell and nothing leaks when nbval or CI end the kernel.

Where events come from:

- **local** (no ``PUSHER_URL``/``PUSHER_KEY`` in the environment, or ``AUTHVIZ_NOTEBOOK_MODE=local``):
  :class:`~authviz.widgets.local.LocalHub` runs the embedded hub with the bridge and a dev identity
  on a free loopback port.
- **remote** (Pusher settings present, e.g. from ``make demo``): the live client uses them
  (``PUSHER_AUTH_ENDPOINT`` + ``PUSHER_AUTH_TOKEN`` or the secret); ``AUTHVIZ_BRIDGE_URL`` names
  the bridge for chat and simulated traffic (``AUTHVIZ_LOG_TOKEN``).

Threads: the live client's websocket thread hands events straight to :meth:`Pump.submit` (one
bounded queue, one drop counter); the simulator's poster only posts;
the pump (an asyncio task on the kernel's loop) is the only writer to widgets; nothing prints.
"""

from __future__ import annotations

import atexit
import itertools
import secrets
import threading
import time
import weakref
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from authviz.bridgeclient import BridgeClient, BridgeError
from authviz.config import NOTEBOOK_MODE_ENV, NotebookSettings, PusherSettings
from authviz.errors import ConfigError
from authviz.live import EndpointAuthorizer, LiveClient
from authviz.topics import (
    AUTH_EVENT,
    CHAT_CHANNEL,
    EVENTS_CHANNEL,
    MESSAGE_ADDED_EVENT,
    READ_EVENTS_PERMISSION,
)
from authviz.widgets.chat import ChatWidget
from authviz.widgets.countries import CountryChart
from authviz.widgets.feed import LiveFeed
from authviz.widgets.pump import Pump
from authviz.widgets.records import CATEGORY_LABELS, to_record
from authviz.widgets.session_events import SessionEvents
from authviz.widgets.status import StatusLine

MODE_ENV = NOTEBOOK_MODE_ENV
#: Largest webhook batch the simulator posts (the bridge accepts far more; small batches keep the
#: feed smooth).
SIM_BATCH = 25


class BridgeChat:
    """:class:`~authviz.widgets.ChatBackend` over the bridge's ``/chat/messages`` with a bearer token."""

    def __init__(self, bridge_url: str, token: str, *, history_limit: int = 100, timeout: float = 10.0) -> None:
        self.bridge_url = bridge_url.rstrip("/")
        self.history_limit = history_limit
        self._bridge = BridgeClient(self.bridge_url, bearer=token, timeout=timeout)

    def history(self) -> list[Mapping[str, Any]]:
        return self._bridge.chat_messages(self.history_limit)

    def send(self, text: str) -> Mapping[str, Any] | None:
        return self._bridge.send_chat(text)


def _token_subject(token: str) -> str | None:
    """The ``sub`` of our own bearer token, read without verifying it: used only to draw this
    person's chat messages apart, never to decide anything (the bridge verifies every request)."""
    try:
        import jwt

        sub = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except Exception:
        return None
    return str(sub) if sub else None


def _duration(span: Any) -> str:
    seconds = span.total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _record_time(record: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(record["data"]["date"]).replace("Z", "+00:00"))


def settings_in_environment(env: Mapping[str, str] | None = None) -> bool:
    """Whether Pusher settings are given (``PUSHER_URL`` or ``PUSHER_KEY``) and not overridden to local."""
    return NotebookSettings.from_env(env, dotenv_path=".env" if env is None else None).remote


#: Every session not yet stopped in this process; stopped at interpreter exit (kernel shutdown or
#: restart) so no thread, client, hub or temporary store outlives the kernel.
_RUNNING: "weakref.WeakSet[LiveSession]" = weakref.WeakSet()


def _stop_all_sessions() -> None:
    for session in list(_RUNNING):
        try:
            session.stop(final_refresh=False)
        except Exception:  # at exit: never let one session keep the others running
            pass


# Sessions must stop while thread pools still take work (the bridge's store flushes through one):
# threading's exit hooks run before concurrent.futures shuts its pools (registered earlier, run
# later: last in, first out), plain atexit hooks only after. atexit stays as the fallback.
import concurrent.futures.thread  # noqa: E402,F401  (its pools' exit hook must be registered first)

_register_early = getattr(threading, "_register_atexit", None)
if _register_early is not None:
    _register_early(_stop_all_sessions)
atexit.register(_stop_all_sessions)


#: Messages of chat history loaded when a chat widget opens (the rest stay in the bridge's store).
CHAT_HISTORY = 20


class LiveSession:
    """The pump, the live clients and (in local mode) the embedded hub of one notebook.

    Live until :meth:`stop` (or a Stop button, or the kernel's end). ``history`` is how many recent
    chat messages a chat widget loads when it opens.
    """

    def __init__(
        self, *, hz: float = 4.0, mode: str | None = None, connect_timeout: float = 15.0, history: int = CHAT_HISTORY
    ) -> None:
        if history < 0:
            raise ValueError(f"history must be 0 or more messages, got {history}")
        self.history = history
        self.stopped = False
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
        self._events_client: LiveClient | None = None
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
        _RUNNING.add(self)

    def __repr__(self) -> str:
        return f"<LiveSession {self.describe()}>"

    def describe(self) -> str:
        """One sentence: where the events come from and whether the session is live."""
        if self.mode == "local":
            where = "the embedded hub and bridge in this kernel (local mode, nothing else posts to it)"
        else:
            where = f"the hub at {self.settings.host}:{self.settings.port} (remote mode)"
        return f"{'Stopped' if self.stopped else 'Live'}: events come from {where}."

    # -- state --------------------------------------------------------------------------------
    def state(self) -> str:
        """``starting``, ``live``, ``reconnecting``, ``failed`` or ``stopped``: the auth-event
        connection's state as a person reads it."""
        if self.stopped:
            return "stopped"
        client = self._events_client
        if client is None:
            return "starting"
        if client.fatal_error is not None or client.state == "failed":
            return "failed"
        if client.state == "connected":
            return "live"
        return "reconnecting" if client.connections else "starting"

    def status_line(self) -> StatusLine:
        """A new :class:`StatusLine` of this session (its Stop button stops the session)."""
        line = StatusLine(self.state, on_stop=self.stop)
        self.pump.add(line)
        return line

    def _drop_status(self, widget: Any) -> None:
        status = getattr(widget, "status", None)
        if status is not None:
            widget.children = tuple(c for c in widget.children if c is not status)
            self.pump.remove(status)
            status.close()
            widget.status = None

    def _with_status(self, widget: Any) -> Any:
        """Put a status line under the widget's title (every session widget is a VBox)."""
        line = self.status_line()
        children = list(widget.children)
        at = getattr(widget, "status_index", 1)  # under the title; widgets without one say 0
        widget.children = children[:at] + [line] + children[at:]
        widget.status = line
        return widget

    # -- identity ---------------------------------------------------------------------------
    def token(self, user: str | None = None) -> str:
        """A bearer token: for ``user`` from the dev identity (``POST /dev/token``, loopback only),
        else ``PUSHER_AUTH_TOKEN`` (remote) or one for the local default user."""
        if user is None and self.mode == "remote":
            token = NotebookSettings.from_env().auth_token
            if token:
                return token
            raise ConfigError(
                "PUSHER_AUTH_TOKEN is not set: give a user token, or a demo user name "
                "(chat(user='bob')) when the bridge runs with a dev identity."
            )
        user = user or self.default_user or "analyst"
        if user not in self._tokens:
            if not self.bridge_url:
                raise ConfigError("AUTHVIZ_BRIDGE_URL is not set: the bridge mints and checks chat tokens.")
            # the notebook's own user reads the event feed and its history
            permissions = [READ_EVENTS_PERMISSION] if user == (self.default_user or "analyst") else []
            self._tokens[user] = BridgeClient(self.bridge_url).dev_token(user, permissions)
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
        client = (
            self._client(token)
            if self.mode == "local"
            else LiveClient(self.settings, connect_timeout=self.connect_timeout)
        )
        if client not in self._clients:
            self._clients.append(client)
        self._events_client = client
        pump = self.pump

        def hand_over(ev: Any) -> None:  # the websocket thread: hand over only, into the pump's queue
            pump.submit(ev.data if isinstance(ev.data, Mapping) else ev.auth_event)
            self.received += 1  # after submit: received >= n implies n items are in the pump

        # one bounded queue (the pump's) and one drop counter between the socket and the widgets
        sub = client.subscribe(EVENTS_CHANNEL, events=[AUTH_EVENT], sink=hand_over)
        if not sub.wait_subscribed(timeout=self.connect_timeout):
            raise ConfigError(
                f"Could not subscribe to {EVENTS_CHANNEL} within {self.connect_timeout:g} s "
                f"at {self.settings.host}:{self.settings.port}; is the hub running?"
            )
        self._events_sub = sub
        self._subs.append(sub)

    def feed(self, **options: Any) -> LiveFeed:
        """A :class:`LiveFeed` attached to the pump and fed the live auth events."""
        return self.attach(LiveFeed(**options))

    def country_chart(self, **options: Any) -> Any:
        """Log-ins, sign-ups and failed log-ins by country: live bars and a log-scale world map
        (:class:`~authviz.widgets.worldmap.CountryBoard`, plain HTML and SVG: it draws from its
        first update in JupyterLab and Voila alike, offline)."""
        from authviz.widgets.worldmap import CountryBoard

        return self.attach(CountryBoard(**options))

    def plotly_country_chart(self, **options: Any) -> CountryChart:
        """The same counts as plotly ``FigureWidget``s (zoomable; heavier, and their updates can be
        lost while plotly's bundle loads)."""
        return self.attach(CountryChart(**options))

    def session_events(self, **options: Any) -> SessionEvents:
        return self.attach(SessionEvents(**options))

    def alerts(self, detector: Any = None, **options: Any) -> Any:
        """An :class:`~authviz.widgets.alerts.AlertsPanel`: the live detections over this stream."""
        from authviz.widgets.alerts import AlertsPanel

        return self.attach(AlertsPanel(detector, **options))

    def launch_attack(self, name: str, *, seed: int | None = None) -> str:
        """Post one attack scenario of the simulator (``authviz.simulator.SCENARIOS``) through the
        bridge's webhook now; returns one sentence saying what was sent.

        The attack's records end now (they are stamped over the minutes before), so the detections
        see a complete attack at once and its rows read as recent, simulated events.
        """
        from authviz.simulator import SCENARIOS, TrafficGenerator

        if name not in SCENARIOS:
            raise ConfigError(f"{name!r} is not a scenario; choose from {', '.join(SCENARIOS)}.")
        generator = TrafficGenerator(seed=secrets.randbelow(2**31) if seed is None else seed)
        # made at a fixed reference time (same records for the same seed), then moved so that the
        # last one happened a second ago: never an event from the future
        records = generator.scenario(name, at=datetime(2000, 1, 1, tzinfo=timezone.utc))
        first, last = min(map(_record_time, records)), max(map(_record_time, records))
        span = last - first
        shift = datetime.now(timezone.utc) - timedelta(seconds=1) - last
        for record in records:
            moved = (_record_time(record) + shift).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            record["data"]["date"] = moved
        self.post_log_records(records)
        return f"Launched {name}: {len(records)} events over {_duration(span)}, ending now."

    def dashboard(self, *, background_rate: float | None = 3.0, **options: Any) -> Any:
        """The one-page :class:`~authviz.widgets.dashboard.Dashboard`: feed, log-ins by country (bars
        and map), alerts, session events, the status line and the attack control.

        In local mode nothing else posts, so ``background_rate`` events per second of ordinary
        simulated traffic keep it alive (``None``: none)."""
        from authviz.simulator import SCENARIOS
        from authviz.widgets.dashboard import Dashboard

        from authviz.widgets.worldmap import CountryBoard

        feed = self.attach(LiveFeed(max_rows=100, title="Live feed"))
        chart = self.attach(CountryBoard(top_n=10))
        alerts = self.alerts()
        events = self.attach(SessionEvents(max_rows=50))
        status = self.status_line()
        for widget in (feed, chart, alerts, events):  # one status line for the whole page
            self._drop_status(widget)
        board = Dashboard(
            feed=feed,
            bars=chart.bars,
            map_=chart.map,
            alerts=alerts,
            session_events=events,
            status=status,
            scenarios=SCENARIOS,
            launch=self.launch_attack,
            **options,
        )
        board.feed, board.chart, board.alerts, board.session_events = feed, chart, alerts, events
        board.status = status
        if self.mode == "local" and background_rate:
            self.simulate(n=None, rate=background_rate, seed=secrets.randbelow(2**31))
        return board

    def attach(self, widget: Any) -> Any:
        """Register an auth-event widget with the pump, give it a status line with a Stop button,
        and make sure the stream is subscribed."""
        self._check_live()
        self._ensure_events()
        self.pump.add(widget)
        return self._with_status(widget)

    def _check_live(self) -> None:
        if self.stopped:
            raise ConfigError("This session is stopped; start a new one with live_session().")

    # -- chat -------------------------------------------------------------------------------
    def chat(self, user: str | None = None, **options: Any) -> ChatWidget:
        """A :class:`ChatWidget` on the presence chat as ``user`` (dev identity) or the token's user."""
        if not self.bridge_url:
            raise ConfigError("AUTHVIZ_BRIDGE_URL is not set: the chat needs the bridge.")
        self._check_live()
        token = self.token(user)
        self._chat_count += 1
        topic = f"chat:{self._chat_count}"
        options.setdefault("me", _token_subject(token))
        widget = ChatWidget(BridgeChat(self.bridge_url, token, history_limit=self.history), **options)
        widget.topics = frozenset({topic})
        self.pump.add(widget)
        client = self._client(token)
        pump = self.pump
        # messages straight into the pump's queue; member changes (control notices) on callbacks
        sub = client.subscribe(CHAT_CHANNEL, events=[MESSAGE_ADDED_EVENT], sink=lambda ev: pump.submit(ev.data, topic))

        def members_changed(*_args: Any) -> None:
            members = client.members(CHAT_CHANNEL)
            names = [
                (info or {}).get("name") or uid if isinstance(info, Mapping) else uid for uid, info in members.items()
            ]
            pump.submit({"members": names}, topic)

        sub.on_subscribed(members_changed)
        sub.on_member_added(members_changed)
        sub.on_member_removed(members_changed)
        self._subs.append(sub)
        if not sub.wait_subscribed(timeout=self.connect_timeout):
            widget._show_error(
                f"Could not join the chat within {self.connect_timeout:g} s; "
                "check the token and that the bridge is running."
            )
        members_changed()
        self._with_status(widget)
        return widget

    # -- simulated traffic through the real webhook -----------------------------------------
    def simulate(
        self, n: int | None = 400, *, rate: float = 50.0, seed: int = 7, wait: bool = False
    ) -> threading.Thread:
        """Post ``n`` seeded simulator records (``None``: until the session stops) to the bridge's
        ``/auth0/logs`` at ``rate`` per second from a background thread (which never prints; errors
        land in :attr:`sim_errors`).

        The records carry the real time they are posted (the simulator starts at now, at ``rate``),
        and each is posted once its time has come. In remote mode their ``log_id``s get a
        per-session prefix so a re-run is not swallowed by the bridge's de-duplication.
        """
        if not (self.bridge_url and self.log_token):
            raise ConfigError("Simulated traffic needs AUTHVIZ_BRIDGE_URL and AUTHVIZ_LOG_TOKEN (make demo sets both).")
        if (n is not None and n < 0) or rate <= 0:
            raise ValueError(f"n must be >= 0 and rate > 0, got n={n}, rate={rate}")
        self._check_live()
        from authviz.simulator import TrafficGenerator

        # Without the day/night cycle the seeded choices (who, what, where) do not depend on the
        # start time: the same counts every run, whatever the clock says.
        begin = datetime.now(timezone.utc)
        records = TrafficGenerator(seed=seed, start=begin, rate_per_s=rate, diurnal=False).generate(n=n)
        bridge = BridgeClient(self.bridge_url)
        per_batch = max(1, min(SIM_BATCH, int(rate / 4) or 1))

        def post_all() -> None:
            start = time.monotonic()
            while not self._stop.is_set():
                batch = self._unique(list(itertools.islice(records, per_batch)))
                if not batch:
                    return
                # posted once all of the batch has happened
                due = start + (_record_time(batch[-1]) - begin).total_seconds()
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                try:
                    bridge.post_logs(batch, self.log_token)
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
        return BridgeClient(self.bridge_url).post_logs(records, self.log_token)

    def stop(self, *, final_refresh: bool = True) -> None:
        """Stop the simulator, close every client (joining their threads), the pump and the hub.

        Idempotent. ``final_refresh`` draws the widgets once more (their status lines then read
        "stopped"); at kernel exit there is nobody to draw for."""
        if self.stopped:
            return
        self.stopped = True
        _RUNNING.discard(self)
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
        try:
            self.pump.stop(final_tick=final_refresh)
        except RuntimeError:  # the kernel's event loop is already closed (interpreter exit)
            pass
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


def expected_counts(n: int, seed: int = 7, rate: float = 50.0) -> tuple[Counter[str], Counter[str]]:
    """What :meth:`LiveSession.simulate` sends: counts by category and by country name, parsed offline."""
    from authviz.auth0.parse import parse_event
    from authviz.simulator import TrafficGenerator

    categories: Counter[str] = Counter()
    countries: Counter[str] = Counter()
    for record in TrafficGenerator(seed=seed, rate_per_s=rate, diurnal=False).generate(n=n):
        r = to_record(parse_event(record))
        categories[r.category] += 1
        if r.country_name:
            countries[r.country_name] += 1
    return categories, countries
