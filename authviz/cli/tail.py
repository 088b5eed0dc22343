"""Sub-commands of this package (see authviz.cli for the contract): ``authviz tail``."""

from __future__ import annotations

import argparse
import functools
import gc
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from authviz import topics
from authviz.cli.argtypes import whole_number
from authviz.config import load_environment
from authviz.errors import ConfigError, UsageError
from authviz.live.alerts import format_alert
from authviz.live.events import LiveEvent

__all__ = ["ALERT_BATCH", "ALERT_INTERVAL", "ConnectionStatus", "add_commands", "format_line", "tail"]

#: live alerts: events are fed to the detector at most every ALERT_INTERVAL s or per ALERT_BATCH events
#: (a batch costs about 20 us per event and almost no fixed cost, so a short interval keeps rule
#: latency low: an event waits at most ALERT_INTERVAL for its batch; benchmarks/bench_alerts.py uses it)
ALERT_INTERVAL = 0.02
ALERT_BATCH = 200

#: feed event names -> category (the tutorial Rule payload has no category of its own)
_FEED_CATEGORIES = {topics.SIGNED_UP_EVENT: "signup", topics.LOGGED_IN_EVENT: "login_success"}
_CONTROL = dict.fromkeys([*range(0, 32), 127], None)


def add_commands(subparsers) -> None:
    """Register ``authviz tail``."""
    parser = subparsers.add_parser(
        "tail",
        help="print live Auth0 events as they arrive",
        description="Print Auth0 events as they arrive: one line per event (time, category, user, "
        "country) or one JSON object per line with --json (the replay format). Keeps running "
        "across server restarts (with AUTHVIZ_HISTORY_URL/AUTHVIZ_HISTORY_TOKEN, or an auth endpoint, "
        "the events missed meanwhile are backfilled from the bridge); Ctrl-C stops it. On "
        f"{topics.EVENTS_CHANNEL} it prints live security alerts too (--no-alerts). Settings: "
        "PUSHER_URL or PUSHER_* variables (or .env); AUTHVIZ_SOURCE picks live, replay:PATH or "
        "simulator. A server with its own TLS certificate (authviz serve --tls-cert): "
        "PUSHER_CA_FILE names the CA to trust (or SSL_CERT_FILE); verification stays on.",
    )
    parser.add_argument(
        "--channel",
        action="append",
        metavar="NAME",
        type=_channel_arg,
        help=f"channel to follow (repeatable; default {topics.FEED_CHANNEL}; "
        f"{topics.EVENTS_CHANNEL} carries every event but needs the secret or an "
        "auth endpoint)",
    )
    parser.add_argument(
        "--event", action="append", metavar="NAME", help="only events with this name (repeatable; default all)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--source", metavar="SPEC", help="live, replay:PATH or simulator[:SEED] (default: AUTHVIZ_SOURCE, else live)"
    )
    parser.add_argument(
        "--speed",
        type=_speed_arg,
        default=None,
        metavar="X",
        help="replay/simulator speed: 1 real time, 10 ten times, max (or 0) no waiting "
        "(default: AUTHVIZ_REPLAY_SPEED, else 1)",
    )
    parser.add_argument(
        "--limit", type=_positive_int, default=None, metavar="N", help="stop after N events (default: run until Ctrl-C)"
    )
    parser.add_argument(
        "--alerts",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the security detections on the events and print an ALERT line (or "
        '{"alert": ...} with --json) per new or growing incident (default: on when '
        f"following {topics.EVENTS_CHANNEL})",
    )
    parser.add_argument(
        "--alert-webhook",
        action="append",
        metavar="URL",
        type=_url_arg,
        default=None,
        help="also POST each alert to URL as one JSON document, signed with an HMAC-SHA256 "
        "X-Authviz-Signature header keyed with AUTHVIZ_ALERT_WEBHOOK_SECRET (required; see "
        "README 'Alert delivery'); repeatable",
    )
    parser.add_argument(
        "--alert-slack",
        action="append",
        metavar="URL",
        type=_url_arg,
        default=None,
        help="also post each alert to this Slack incoming-webhook URL (or set "
        "AUTHVIZ_ALERT_SLACK_URL: the URL is a secret); repeatable",
    )
    parser.add_argument(
        "--alert-throttle",
        type=_seconds_arg,
        default=None,
        metavar="SECONDS",
        help="at most one delivery per rule and group every SECONDS per receiver; newer news "
        "waits and replaces older (default 60)",
    )
    parser.set_defaults(func=tail)


def _url_arg(value: str) -> str:
    """``--alert-webhook`` / ``--alert-slack``: an http(s) URL with a host."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"must be an http:// or https:// URL, not {value!r}")
    return value


def _seconds_arg(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 <= number <= 86_400:
        raise argparse.ArgumentTypeError(f"must be a number of seconds from 0 to 86400, not {value!r}")
    return number


def _channel_arg(value: str) -> str:
    """``--channel``: a name the server accepts (refused here once instead of retried forever)."""
    from authviz.pusher.limits import PusherValidationError, validate_channel_name

    try:
        return validate_channel_name(value)
    except PusherValidationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _speed_arg(value: str) -> str:
    """``--speed``: a number >= 0 or ``max`` (checked here so the message names the flag)."""
    if value.strip().lower() in ("max", "inf"):
        return value
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be a number (1 real time, 10 ten times faster) or max, not {value!r}")
    return value


_positive_int = whole_number(1, unit="events")


def _clean(value: Any) -> str:
    """One terminal-safe token: control characters (escape sequences!) removed."""
    if value is None or value == "":
        return "-"
    return str(value).translate(_CONTROL)


def format_line(event: LiveEvent) -> str:
    """``time  category  user  country`` for one event (fields missing -> ``-``)."""
    auth = event.auth_event
    data = event.data if isinstance(event.data, dict) else {}
    if auth is not None:
        when = auth.timestamp.astimezone(UTC)
        category = _FEED_CATEGORIES.get(event.name) or auth.category  # the feed's name is authoritative
        user = auth.email or auth.user_name or auth.user_id
        country = auth.country_name or auth.country_code
    else:
        ts = event.timestamp
        when = datetime.fromtimestamp(ts if ts is not None else event.received_at, UTC)
        category = _FEED_CATEGORIES.get(event.name) or data.get("category") or event.name
        user = data.get("email") or data.get("name") or data.get("user_id")
        country = data.get("country") or data.get("country_name")
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + "Z"
    return f"{stamp}  {_clean(category):<16} {_clean(user):<32} {_clean(country)}"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class ConnectionStatus:
    """One status line on ``err`` (stderr, never the events' stdout) when a live feed loses its
    connection and one when it is back. Polled from the consumer loop (the websocket thread never
    prints). The client's count of established connections tells an outage that fell between two
    polls, or before the first one. Sources without a client (replay, simulator) print nothing."""

    def __init__(self, stream: Any, err: TextIO) -> None:
        self.client = getattr(stream, "client", None)
        self.err = err
        self._seen = 0  # connections established at the last poll
        self._down_after: int | None = None  # while an outage is announced: connections before it

    def _where(self) -> str:
        settings = getattr(self.client, "settings", None)
        host, port = getattr(settings, "host", None), getattr(settings, "port", None)
        return f" at {host}:{port}" if host else ""

    def _say(self, message: str) -> None:
        print(f"authviz: {message}", file=self.err, flush=True)

    def poll(self) -> None:
        client = self.client
        if client is None:
            return
        count = getattr(client, "connections", 0)
        up = client.connected.is_set()
        if count and self._down_after is None and (not up or 1 <= self._seen < count):
            # down now, or a new connection replaced the one seen last time
            self._down_after = count if not up else count - 1
            self._say(f"lost the connection to the Pusher server{self._where()}; reconnecting with back-off.")
        if up and self._down_after is not None and count > self._down_after:
            self._down_after = None
            self._say(f"reconnected to the Pusher server{self._where()}.")
        self._seen = count


def _with_demo_hint(error: ConfigError) -> ConfigError:
    """No Pusher settings at all: say where the demo keeps them (and the offline source)."""
    if "PUSHER_KEY is not set" not in str(error):
        return error
    state_dir = load_environment().get("AUTHVIZ_STATE_DIR", ".authviz")
    hint = ConfigError(
        f"{error} While `make demo` runs, load its settings first: "
        f"set -a; . {state_dir}/demo.env; set +a (or watch simulated traffic with "
        "--source simulator)."
    )
    hint.settings = error.settings
    return hint


def tail(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Handler of ``authviz tail``: returns 0 on Ctrl-C, SIGTERM or after ``--limit`` events.

    On the main thread SIGTERM (``kill``, ``timeout``, a service manager) stops the feed like
    Ctrl-C: the stream is closed and its threads joined; the previous handler is restored."""
    from authviz.live.sources import source_from_env

    out = out or sys.stdout
    err = err or sys.stderr
    channels = args.channel or [topics.FEED_CHANNEL]
    options: dict[str, Any] = {"channels": channels, "events": args.event}
    env = None
    if args.source:
        env = {**load_environment(), "AUTHVIZ_SOURCE": args.source}
    if args.speed is not None:
        options["speed"] = args.speed
    if args.limit is not None and (args.source or "").startswith("simulator"):
        options["limit"] = args.limit
    alerts = _alert_batcher(args, channels)
    delivery = _alert_delivery(args, alerts is not None)  # refused here, before anything starts
    try:
        stream = source_from_env(env, **options)
    except BaseException as error:
        if delivery is not None:
            delivery.close(flush_timeout=0)
        if isinstance(error, ConfigError):
            raise _with_demo_hint(error) from None
        raise
    render: Callable[[LiveEvent], str] = (
        (lambda e: orjson.dumps(e.to_dict(), default=str).decode()) if args.json else format_line
    )

    def show_alerts(batch: Callable[[], list]) -> None:
        nonlocal alerts
        try:
            found = batch()
        except Exception as error:  # a detector bug must not end the feed: report, go on without
            print(f"authviz: live alerts stopped ({type(error).__name__}: {error}).", file=err, flush=True)
            alerts = None
            return
        for alert in found:
            line = orjson.dumps({"alert": alert.to_dict()}, default=str).decode() if args.json else format_alert(alert)
            print(line, file=out, flush=True)
            if delivery is not None:
                delivery.submit(alert)  # never blocks: a bounded queue and its own thread
        if delivery is not None:
            for problem in delivery.problems():
                print(f"authviz: {problem}", file=err, flush=True)

    if alerts is not None:
        # the modules and rules loaded so far live as long as the process: kept out of the garbage
        # collector's full collections, which then scan only what the stream creates (a full
        # collection over them all took 100-300 ms, a pause every event of the moment waits for)
        gc.collect()
        gc.freeze()
    shown_errors = 0
    status = ConnectionStatus(stream, err)
    count = 0
    on_main = threading.current_thread() is threading.main_thread()
    previous_term = signal.signal(signal.SIGTERM, _interrupt) if on_main else None
    try:
        while args.limit is None or count < args.limit:
            event = stream.get(ALERT_INTERVAL if alerts is not None else 0.5)
            status.poll()
            if stream.error_count > shown_errors:
                fresh = min(stream.error_count - shown_errors, len(stream.errors))
                for error in list(stream.errors)[-fresh:]:
                    print(f"authviz: {error}", file=err, flush=True)
                shown_errors = stream.error_count
            if event is None:
                if alerts is not None:
                    show_alerts(alerts.poll)
                if stream.finished:
                    break
                continue
            print(render(event), file=out, flush=True)
            count += 1
            if alerts is not None:
                show_alerts(functools.partial(alerts.add, event))
        if alerts is not None:
            show_alerts(lambda: alerts.flush(final=True))
    except KeyboardInterrupt:
        return 0
    finally:
        try:
            stream.close()
            if delivery is not None:
                delivery.close(flush_timeout=5.0)  # what is queued gets five seconds to leave
                for problem in delivery.problems():
                    print(f"authviz: {problem}", file=err, flush=True)
        finally:
            if on_main:
                signal.signal(signal.SIGTERM, previous_term if previous_term is not None else signal.SIG_DFL)
    return 0


def _alert_batcher(args: argparse.Namespace, channels: list[str]):
    """An :class:`~authviz.live.alerts.AlertBatcher` when alerts are on (default: when following
    the normalised channel), else None."""
    enabled = args.alerts if getattr(args, "alerts", None) is not None else topics.EVENTS_CHANNEL in channels
    if not enabled:
        return None
    from authviz.live.alerts import AlertBatcher

    return AlertBatcher(interval=ALERT_INTERVAL, max_batch=ALERT_BATCH)


def _alert_delivery(args: argparse.Namespace, alerts_on: bool):
    """An :class:`~authviz.alerts.AlertDelivery` when ``--alert-webhook`` / ``--alert-slack`` (or
    AUTHVIZ_ALERT_SLACK_URL) name receivers, else None."""
    from authviz.config import AlertSettings

    settings = AlertSettings.from_env(
        webhook_urls=tuple(args.alert_webhook or ()) or None, throttle=args.alert_throttle
    )
    if args.alert_slack:
        settings = AlertSettings(
            webhook_urls=settings.webhook_urls,
            webhook_secret=settings.webhook_secret,
            slack_urls=tuple(args.alert_slack),
            throttle=settings.throttle,
        )
    if not settings.enabled:
        return None
    if not alerts_on:
        raise UsageError(
            f"--alert-webhook and --alert-slack deliver live alerts, which run on "
            f"{topics.EVENTS_CHANNEL}: add --channel {topics.EVENTS_CHANNEL} (and drop --no-alerts)."
        )
    from authviz.alerts import delivery_for

    return delivery_for(settings)
