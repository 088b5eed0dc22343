"""The bridge's options, shared by ``authviz serve`` (bridge mounted on the hub) and ``authviz
bridge`` (the bridge alone), and their translation into a typed
:class:`~authviz.config.BridgeSettings`.

Options left out fall back to the environment (and ``.env``) through
:meth:`BridgeSettings.from_env`, so a flag always wins over a variable.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from authviz.bridge.serve import MAX_LOG_BODY, MAX_PARSE_WORKERS, MIN_LOG_BODY
from authviz.cli.argtypes import whole_number
from authviz.config import DEFAULT_MAX_LOG_BODY, BridgeSettings
from authviz.topics import READ_EVENTS_PERMISSION

__all__ = ["add_bridge_arguments", "bridge_settings"]

_log_body_arg = whole_number(MIN_LOG_BODY, MAX_LOG_BODY, unit="bytes", note=" (1 GiB)")
_parse_workers_arg = whole_number(0, MAX_PARSE_WORKERS, unit="processes")


def _public_url_arg(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"must be an http(s) URL such as https://authviz.example.com/, not {value!r}")
    return value


def add_bridge_arguments(parser: argparse.ArgumentParser, *, standalone: bool = False) -> None:
    """The bridge's options (all prefixed so they cannot clash with the hub's). ``standalone``:
    for ``authviz bridge`` (no ``--no-bridge``: there is nothing else to serve)."""
    group = parser.add_argument_group("bridge (Auth0 log stream, auth endpoints, chat)")
    if not standalone:
        group.add_argument(
            "--no-bridge", action="store_true", help="do not mount the bridge routes (/auth0/*, /pusher/*, /chat/*)"
        )
    group.add_argument(
        "--state-dir",
        default=None,
        help="directory of the store, the log-stream token and the dev key (default: .authviz, env AUTHVIZ_STATE_DIR)",
    )
    group.add_argument(
        "--store",
        dest="bridge_store",
        default=None,
        help="SQLite file of the event history (default: STATE_DIR/bridge.sqlite3, env AUTHVIZ_BRIDGE_STORE)",
    )
    group.add_argument(
        "--log-token",
        default=None,
        help="token Auth0 sends in Authorization (env AUTHVIZ_LOG_TOKEN; default: "
        "generated once into STATE_DIR/log-token)",
    )
    group.add_argument(
        "--auth0-domain",
        default=None,
        help="Auth0 tenant domain or issuer URL that signs user tokens (env AUTH0_DOMAIN)",
    )
    group.add_argument(
        "--auth0-audience", default=None, help="API audience user tokens must carry (env AUTH0_AUDIENCE)"
    )
    group.add_argument(
        "--dev-identity",
        action="store_true",
        help="act as an offline token issuer: serve /.well-known/jwks.json and mint "
        "demo tokens (authviz token); never in production",
    )
    group.add_argument(
        "--public-url",
        default=None,
        type=_public_url_arg,
        metavar="URL",
        help="this server's URL as clients see it (the dev-identity issuer); "
        "default http://HOST:PORT/ (env AUTHVIZ_PUBLIC_URL)",
    )
    group.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        help="an origin allowed to call the auth, chat and history endpoints (repeatable; default: none)",
    )
    group.add_argument(
        "--csrf-header", default=None, help="require this header on POSTs to the auth and chat endpoints"
    )
    group.add_argument(
        "--max-log-body",
        type=_log_body_arg,
        default=DEFAULT_MAX_LOG_BODY,
        metavar="BYTES",
        help="largest accepted log-stream body in bytes (default 5 MiB; 413 beyond)",
    )
    group.add_argument(
        "--parse-workers",
        type=_parse_workers_arg,
        default=0,
        metavar="N",
        help="processes parsing webhook bodies beside the event loop (default 0: "
        "parse on the loop; 1 uses a second core)",
    )
    group.add_argument(
        "--public-feed",
        action="store_true",
        help="publish the tutorial feed (user-signedUp/user-loggedIn with emails, "
        "names and countries) on the PUBLIC channel 'auth0', readable by anyone "
        "who can connect (default: off; make demo turns it on)",
    )
    group.add_argument(
        "--events-permission",
        default=None,
        metavar="PERMISSION",
        help="permission a user token needs (in its permissions or scope claim) to "
        "read /auth0/events, /auth0/listeners and private-auth0-events "
        f"(default {READ_EVENTS_PERMISSION}, env AUTHVIZ_EVENTS_PERMISSION)",
    )
    group.add_argument(
        "--dev-token-behind-proxy",
        action="store_true",
        help="let POST /dev/token answer requests carrying X-Forwarded-For/"
        "Forwarded headers (default: refused: a proxy makes everyone loopback)",
    )
    group.add_argument(
        "--allow-channel",
        action="append",
        default=[],
        help="an extra private/presence channel any verified user may join (repeatable)",
    )


def bridge_settings(args: argparse.Namespace, *, base: BridgeSettings | None = None) -> BridgeSettings:
    """The :class:`BridgeSettings` of parsed options over ``base`` (default: the environment)."""
    base = BridgeSettings.from_env() if base is None else base
    return replace(
        base,
        state_dir=Path(args.state_dir) if args.state_dir else base.state_dir,
        store=Path(args.bridge_store) if args.bridge_store else base.store,
        log_token=args.log_token or base.log_token,
        auth0_domain=args.auth0_domain or base.auth0_domain,
        auth0_audience=args.auth0_audience or base.auth0_audience,
        dev_identity=bool(args.dev_identity),
        public_url=args.public_url or base.public_url,
        cors_origins=tuple(args.cors_origin),
        csrf_header=args.csrf_header,
        max_log_body=args.max_log_body,
        parse_workers=args.parse_workers,
        publish_feed=bool(args.public_feed),
        allowed_channels=tuple(args.allow_channel),
        events_permission=args.events_permission or base.events_permission,
        dev_token_behind_proxy=bool(args.dev_token_behind_proxy),
    )
