"""``authviz serve``: run the embedded Pusher-compatible hub with the bridge mounted on it (see
authviz.cli for the contract). The stack is built and served by :mod:`authviz.stack`."""

from __future__ import annotations

import argparse
import errno
import gc
import os
import ssl
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from authviz import stack
from authviz.cli.bridge_options import add_bridge_arguments, bridge_settings
from authviz.errors import ConfigError, ListenError, StateError, UsageError
from authviz.hub.loop import run as run_event_loop
from authviz.config import HubSettings, app_secret_from_env
from authviz.hub.credentials import write_credentials
from authviz.hub.guard import ServerLimits
from authviz.hub.running import DEFAULT_APP_ID, DEFAULT_KEY
from authviz.hub.tls import server_ssl_context
from authviz.stack import build_hub
from authviz.pusher.protocol import App


def add_commands(subparsers: Any) -> None:
    """Register ``authviz serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="run the embedded Pusher-compatible hub (websockets + HTTP API + webhooks)",
        description="Run the embedded Pusher Channels compatible server on one port: websocket "
        "clients on /app/KEY, the HTTP API on /apps/ID/. Prints the credentials as "
        "PUSHER_URL. Stop with Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=6001, help="port (default: 6001)")
    parser.add_argument(
        "--app-id", default=DEFAULT_APP_ID, help=f"app id, numeric for the pusher library (default: {DEFAULT_APP_ID})"
    )
    parser.add_argument("--key", default=DEFAULT_KEY, help=f"app key (default: {DEFAULT_KEY})")
    parser.add_argument(
        "--secret",
        default=None,
        help="app secret (env PUSHER_SECRET; prefer --secret-file: the command "
        "line is visible to other users; default: generated once into "
        "STATE_DIR/app-secret)",
    )
    parser.add_argument(
        "--secret-file", type=Path, default=None, metavar="FILE", help="read the app secret from the first line of FILE"
    )
    parser.add_argument(
        "--client-events",
        type=_prefixes,
        default=(),
        metavar="PREFIX[,PREFIX...]",
        help="allow client-* events from websocket clients on private/presence "
        "channels starting with these prefixes, e.g. private-,presence- "
        "(default: none, as on Pusher Channels; never on "
        "private-auth0-events or private-user-*)",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="close a connection whose request headers take longer (default 30)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="answer 408 to an HTTP request not read and answered within this time after its headers (default 60)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=0,
        metavar="N",
        help="connections served at once; more are answered 503 or websocket "
        "close 4100 (default: the process's file limit less 64, at most "
        "10000)",
    )
    parser.add_argument(
        "--max-connections-per-address",
        type=int,
        default=256,
        metavar="N",
        help="connections served at once from one IP address (default 256)",
    )
    parser.add_argument("--no-user-auth", action="store_true", help="refuse pusher:signin (user authentication)")
    parser.add_argument(
        "--webhook-url",
        default=None,
        metavar="URL",
        help="POST signed, batched webhooks (channel_occupied, member_added, ...) to this URL",
    )
    parser.add_argument(
        "--webhook-debounce",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="hold a presence channel's member_removed/channel_vacated webhooks "
        "this long; a user back within it causes neither webhook "
        "(Pusher's behaviour; default 3, 0 = send at once)",
    )
    parser.add_argument(
        "--max-cache-channels",
        type=int,
        default=10_000,
        metavar="N",
        help="cache channels whose last event is kept; beyond it the least recently written is evicted (default 10000)",
    )
    parser.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        metavar="FILE",
        help="serve wss:// and https:// with this PEM certificate (chain, leaf first); PUSHER_URL is then https://",
    )
    parser.add_argument(
        "--tls-key",
        type=Path,
        default=None,
        metavar="FILE",
        help="the certificate's unencrypted PEM private key (default: inside --tls-cert)",
    )
    parser.add_argument(
        "--activity-timeout",
        type=int,
        default=120,
        metavar="SECONDS",
        help="seconds of silence before a ping (announced to clients; default 120)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help='JSON file with several apps: {"apps": [{"app_id", "key", '
        '"secret", ...}]} (replaces --app-id/--key/--secret)',
    )
    add_bridge_arguments(parser)
    parser.set_defaults(func=run_serve)


def _prefixes(value: str) -> tuple[str, ...]:
    prefixes = tuple(p.strip() for p in value.split(",") if p.strip())
    bad = [p for p in prefixes if not p.startswith(("private-", "presence-"))]
    if not prefixes or bad:
        raise argparse.ArgumentTypeError(
            "give channel prefixes starting with private- or presence- (client events exist only "
            f"there), separated by commas, e.g. private-,presence-; not {value!r}"
        )
    return prefixes


def limits_from_args(args: argparse.Namespace) -> ServerLimits:
    """Read timeouts and connection caps of ``--header-timeout`` ... ``--max-connections-per-address``."""
    try:
        return ServerLimits(
            header_timeout=getattr(args, "header_timeout", 30.0),
            body_timeout=getattr(args, "body_timeout", 60.0),
            max_connections=getattr(args, "max_connections", 0),
            max_connections_per_address=getattr(args, "max_connections_per_address", 256),
        )
    except ValueError as exc:
        name, _, rest = str(exc).partition(" ")
        raise UsageError(f"--{name.replace('_', '-')} {rest}.") from None


def _state_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "state_dir", None) or ".authviz")


def hub_settings(args: argparse.Namespace) -> HubSettings:
    """The typed hub settings of ``authviz serve``'s flags (the secret also from the environment)."""
    return HubSettings(
        app_id=str(args.app_id),
        key=args.key,
        secret=args.secret or app_secret_from_env(),
        secret_file=getattr(args, "secret_file", None),
        config_file=args.config,
        client_event_prefixes=tuple(getattr(args, "client_events", ()) or ()),
        enable_user_auth=not args.no_user_auth,
        activity_timeout=args.activity_timeout,
        webhook_url=args.webhook_url,
        webhook_debounce=getattr(args, "webhook_debounce", None),
        max_cache_channels=getattr(args, "max_cache_channels", None),
        state_dir=_state_dir(args),
    )


def apps_from_args(args: argparse.Namespace) -> list[App]:
    """The apps to serve, from ``--config`` or the single-app flags (see :func:`authviz.stack.hub_apps`)."""
    return stack.hub_apps(hub_settings(args))


def _state_error(error: StateError) -> str:
    """One sentence for state files (``--state-dir``, ``--store``) that cannot be made."""
    return f"{str(error).rstrip('.')}; check --state-dir and --store."


def tls_from_args(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The server TLS context of ``--tls-cert``/``--tls-key`` (None: plain ws/http)."""
    cert, key = getattr(args, "tls_cert", None), getattr(args, "tls_key", None)
    if cert is None:
        if key is not None:
            raise UsageError("--tls-key needs --tls-cert (the certificate it belongs to).")
        return None
    return server_ssl_context(cert, key)


async def serve(args: argparse.Namespace, *, ready: Any = None) -> None:
    """Serve until SIGINT/SIGTERM; clients are closed with 4100 on the way out."""
    ssl_context = tls_from_args(args)
    settings = None if getattr(args, "no_bridge", False) else bridge_settings(args)
    try:
        apps = apps_from_args(args)
        hub, _bridge = build_hub(
            apps, settings, host=args.host, port=args.port, tls=ssl_context is not None, limits=limits_from_args(args)
        )
        scheme = "https" if ssl_context is not None else "http"

        def listening(port: int) -> None:
            # A wildcard address is where the server listens, not where a client connects.
            shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(args.host, args.host)
            if ":" in shown and not shown.startswith("["):
                shown = f"[{shown}]"
            # The credentials go to a private file; the output says where, never the secret.
            urls = [
                (
                    f"PUSHER_URL_{app.app_id}" if i else "PUSHER_URL",
                    f"{scheme}://{quote(app.key, safe='')}:{quote(app.secret, safe='')}"
                    f"@{shown}:{port}/apps/{app.app_id}",
                )
                for i, app in enumerate(apps)
            ]
            env_file = write_credentials(_state_dir(args), urls)
            print(f"PUSHER_ENV_FILE={env_file}", flush=True)
            print(
                f"authviz hub listening on {scheme}://{args.host}:{port} (websocket /app/KEY); "
                f"credentials (PUSHER_URL) in {env_file}; Ctrl-C stops it",
                file=sys.stderr,
                flush=True,
            )
            # Everything allocated so far lives as long as the process: keep it out of the cyclic
            # garbage collector's full passes (shorter pauses while serving).
            gc.freeze()
            if ready is not None:
                ready(port)

        await stack.serve(hub.app, host=args.host, port=args.port, ssl_context=ssl_context, ready=listening)
    except (ListenError, StateError) as error:
        raise serving_error(error) from None


def serving_error(error: ListenError | StateError) -> ConfigError:
    """A server that could not start (``authviz serve``, ``authviz bridge``), said with the flags
    to change: one sentence for both commands."""
    if isinstance(error, StateError):
        return ConfigError(_state_error(error))
    return ConfigError(listen_error(error.host, error.port, error.cause))


def listen_error(host: str, port: int, exc: OSError) -> str:
    """One sentence for a failed listen: the cause without the library's wrapping, and what to
    change (the port when it is taken, the host when it cannot be bound)."""
    code = exc.errno
    if code == errno.EADDRINUSE:
        return (
            f"cannot listen on {host}:{port}: the port is already in use (another "
            f"`authviz serve`?); stop that server or choose another --port."
        )
    if code == errno.EACCES:
        return f"cannot listen on {host}:{port}: permission denied; choose a --port above 1023."
    reason = os.strerror(code) if code and code > 0 else (exc.strerror or str(exc))
    return f"cannot listen on {host}:{port}: {reason.lower()}; check --host (an address of this machine)."


def run_serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number (0-65535).")
    if args.activity_timeout <= 0:
        raise UsageError("--activity-timeout must be a positive number of seconds.")
    if not 0 <= args.webhook_debounce <= 3600:
        raise UsageError("--webhook-debounce must be from 0 to 3600 seconds.")
    if args.max_cache_channels < 1:
        raise UsageError("--max-cache-channels must be at least 1.")
    run_event_loop(serve(args))
    return 0
