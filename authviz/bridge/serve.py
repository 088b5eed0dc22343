"""Mounting the bridge: as an ``authviz serve`` plugin (in-process hub) or standalone.

``authviz serve`` calls :func:`add_arguments` on its parser and ``await setup(app, hub, args)``
before it starts: the bridge's routes then share the hub's port and publish in-process
(:class:`~authviz.bridge.publish.HubPublisher`). ``authviz bridge --pusher-url URL`` runs the same
routes on their own port in front of real Pusher Channels or soketi
(:class:`~authviz.bridge.publish.HttpPublisher`).

Settings come from options or the environment: ``AUTHVIZ_LOG_TOKEN`` (the log-stream token; when
absent one is generated once and kept in ``{state_dir}/log-token``), ``AUTH0_DOMAIN`` (or
``AUTH0_ISSUER``) and ``AUTH0_AUDIENCE`` (who issues user tokens), ``AUTHVIZ_STATE_DIR``.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from authviz.argtypes import whole_number
from authviz.errors import ConfigError

from .app import Bridge, BridgeConfig
from .devidentity import DEFAULT_AUDIENCE, DEFAULT_STATE_DIR, KEY_FILE, DevIdentity, write_dev_settings
from .identity import TokenVerifier, normalise_issuer
from .policy import ChannelPolicy
from .publish import HttpPublisher, HubPublisher, PublishQueue, PusherCredentials
from .store import EventStore

__all__ = ["add_arguments", "build_bridge", "ensure_log_token", "setup"]

log = logging.getLogger(__name__)

LOG_TOKEN_FILE = "log-token"
#: Where the mounted :class:`Bridge` is kept on the application.
BRIDGE_KEY: web.AppKey[Bridge] = web.AppKey("authviz.bridge", Bridge)


#: Bounds of ``--max-log-body`` (bytes): one Auth0 record needs about a kilobyte.
MIN_LOG_BODY, MAX_LOG_BODY = 1024, 1024 * 1024 * 1024
#: Most ``--parse-workers`` (processes); more than the cores only adds contention.
MAX_PARSE_WORKERS = 64


_log_body_arg = whole_number(MIN_LOG_BODY, MAX_LOG_BODY, unit="bytes", note=" (1 GiB)")
_parse_workers_arg = whole_number(0, MAX_PARSE_WORKERS, unit="processes")


def _public_url_arg(value: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(
            f"must be an http(s) URL such as https://authviz.example.com/, not {value!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser, *, standalone: bool = False) -> None:
    """The bridge's options (all prefixed so they cannot clash with the hub's). ``standalone``:
    for ``authviz bridge`` (no ``--no-bridge``: there is nothing else to serve)."""
    env = os.environ.get
    group = parser.add_argument_group("bridge (Auth0 log stream, auth endpoints, chat)")
    if not standalone:
        group.add_argument("--no-bridge", action="store_true",
                           help="do not mount the bridge routes (/auth0/*, /pusher/*, /chat/*)")
    group.add_argument("--state-dir", default=env("AUTHVIZ_STATE_DIR", str(DEFAULT_STATE_DIR)),
                       help="directory of the store, the log-stream token and the dev key "
                            "(default: .authviz, env AUTHVIZ_STATE_DIR)")
    group.add_argument("--store", dest="bridge_store", default=env("AUTHVIZ_BRIDGE_STORE"),
                       help="SQLite file of the event history (default: STATE_DIR/bridge.sqlite3)")
    group.add_argument("--log-token", default=env("AUTHVIZ_LOG_TOKEN"),
                       help="token Auth0 sends in Authorization (env AUTHVIZ_LOG_TOKEN; default: "
                            "generated once into STATE_DIR/log-token)")
    group.add_argument("--auth0-domain", default=env("AUTH0_ISSUER") or env("AUTH0_DOMAIN"),
                       help="Auth0 tenant domain or issuer URL that signs user tokens (env AUTH0_DOMAIN)")
    group.add_argument("--auth0-audience", default=env("AUTH0_AUDIENCE"),
                       help="API audience user tokens must carry (env AUTH0_AUDIENCE)")
    group.add_argument("--dev-identity", action="store_true",
                       help="act as an offline token issuer: serve /.well-known/jwks.json and mint "
                            "demo tokens (authviz token); never in production")
    group.add_argument("--public-url", default=env("AUTHVIZ_PUBLIC_URL"), type=_public_url_arg, metavar="URL",
                       help="this server's URL as clients see it (the dev-identity issuer); "
                            "default http://HOST:PORT/")
    group.add_argument("--cors-origin", action="append", default=[],
                       help="an origin allowed to call the auth, chat and history endpoints "
                            "(repeatable; default: none)")
    group.add_argument("--csrf-header", default=None,
                       help="require this header on POSTs to the auth and chat endpoints")
    group.add_argument("--max-log-body", type=_log_body_arg, default=5 * 1024 * 1024, metavar="BYTES",
                       help="largest accepted log-stream body in bytes (default 5 MiB; 413 beyond)")
    group.add_argument("--parse-workers", type=_parse_workers_arg, default=0, metavar="N",
                       help="processes parsing webhook bodies beside the event loop (default 0: "
                            "parse on the loop; 1 uses a second core)")
    group.add_argument("--no-feed", action="store_true",
                       help="do not publish the tutorial feed (user-signedUp/user-loggedIn on "
                            "'auth0') from the log stream: the Auth0 Action publishes it")
    group.add_argument("--allow-channel", action="append", default=[],
                       help="an extra private/presence channel any verified user may join (repeatable)")


def ensure_log_token(state_dir: Path, given: str | None) -> str:
    """``given``, or the token kept in ``state_dir/log-token`` (created once, mode 0600)."""
    if given:
        return given
    path = state_dir / LOG_TOKEN_FILE
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def _local_url(host: str | None, port: int | None, tls: bool = False) -> str | None:
    if not port:
        return None
    if not host or host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}/"


def build_bridge(
    args: argparse.Namespace,
    *,
    publisher: Any,
    app_key: str,
    app_secret: str,
    host: str | None,
    port: int | None,
) -> Bridge:
    """A :class:`Bridge` from parsed options (see :func:`add_arguments`)."""
    state_dir = Path(args.state_dir)
    store_path = Path(args.bridge_store) if args.bridge_store else state_dir / "bridge.sqlite3"
    dev = None
    if args.dev_identity:
        if args.auth0_domain:
            raise ConfigError("Use either --dev-identity or --auth0-domain, not both.")
        dev = DevIdentity.load_or_create(state_dir / KEY_FILE)
        issuer = args.public_url or _local_url(host, port, tls=bool(getattr(args, "tls_cert", None)))
        audience = args.auth0_audience or DEFAULT_AUDIENCE
    else:
        issuer = args.auth0_domain
        audience = args.auth0_audience or ""
        if issuer and not audience:
            raise ConfigError("--auth0-audience (AUTH0_AUDIENCE) is required with --auth0-domain.")
    try:
        verifier = TokenVerifier(normalise_issuer(issuer) if issuer else None, audience)
    except ValueError as error:
        raise ConfigError(f"The Auth0 issuer is invalid: {error}.") from error
    if dev is not None and verifier.issuer:
        write_dev_settings(state_dir, issuer=verifier.issuer, audience=audience)
    config = BridgeConfig(
        store_path=store_path,
        log_token=ensure_log_token(state_dir, args.log_token),
        issuer=verifier.issuer,
        audience=audience,
        app_key=app_key,
        app_secret=app_secret,
        max_body_bytes=args.max_log_body,
        cors_origins=frozenset(args.cors_origin),
        csrf_header=args.csrf_header,
        policy=ChannelPolicy.with_extra(args.allow_channel),
        publish_feed=not args.no_feed,
        parse_workers=max(0, args.parse_workers),
    )
    listeners = getattr(publisher, "listeners", None)
    bridge = Bridge(
        config,
        EventStore(store_path, synchronous=config.synchronous),
        PublishQueue(publisher, backoff_cap=float(getattr(args, "publish_retry_max", 30.0))),
        verifier,
        dev_identity=dev,
        listeners=listeners,
        state_dir=state_dir,
        log_token_source="--log-token/AUTHVIZ_LOG_TOKEN" if args.log_token else str(state_dir / LOG_TOKEN_FILE),
    )
    return bridge


def _learn_issuer_from_socket(bridge: Bridge, state_dir: Path) -> Any:
    """For a dev identity on an ephemeral port (``--port 0``): take the issuer from the first
    request's socket, and record it for ``authviz token`` then.

    The local socket address (never the Host header) gives the bound port.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if bridge.verifier.issuer is None and request.transport is not None:
            sockname = request.transport.get_extra_info("sockname")
            if sockname:
                tls = request.transport.get_extra_info("sslcontext") is not None
                url = _local_url(sockname[0], sockname[1], tls=tls)
                if url:
                    bridge.verifier.set_issuer(url)
                    write_dev_settings(state_dir, issuer=url, audience=bridge.verifier.audience)
        return await handler(request)

    return middleware


def install(app: web.Application, bridge: Bridge) -> None:
    """Add the routes and tie the bridge's start/stop to the application's life cycle."""
    bridge.install(app)
    if bridge.dev_identity is not None and bridge.verifier.issuer is None:
        app.middlewares.append(_learn_issuer_from_socket(bridge, bridge.state_dir or DEFAULT_STATE_DIR))

    async def on_startup(_app: web.Application) -> None:
        await bridge.start()
        token_source = bridge.log_token_source
        print(
            f"authviz bridge: POST /auth0/logs (token: {token_source}), GET /auth0/events, "
            f"/pusher/auth, /chat/messages; store {bridge.config.store_path}"
            + ("; dev identity ON (/.well-known/jwks.json)" if bridge.dev_identity else ""),
            file=sys.stderr, flush=True,
        )

    async def on_cleanup(_app: web.Application) -> None:
        await bridge.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app[BRIDGE_KEY] = bridge


async def setup(app: web.Application, hub: Any, args: argparse.Namespace) -> Bridge | None:
    """The ``authviz serve`` plugin hook: mount the bridge on the hub's application."""
    if getattr(args, "no_bridge", False):
        return None
    state = next(iter(hub.hub.apps.values()))
    publisher = HubPublisher(hub, state.app.app_id)
    bridge = build_bridge(
        args,
        publisher=publisher,
        app_key=state.app.key,
        app_secret=state.app.secret,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )
    install(app, bridge)
    return bridge


def pusher_targets(urls: Sequence[str]) -> list[PusherCredentials]:
    """The nodes of one cluster from their Pusher URLs: the same app (id, key, secret) on each."""
    targets = [PusherCredentials.from_url(url) for url in urls]
    first = targets[0]
    for other in targets[1:]:
        if (other.app_id, other.key, other.secret) != (first.app_id, first.key, first.secret):
            raise ConfigError("Every Pusher URL must name the same app (app id, key and secret): "
                              "they are nodes of one cluster.")
    return targets


def standalone_app(args: argparse.Namespace) -> tuple[web.Application, Bridge]:
    """The bridge alone, publishing to ``args.pusher_url`` through the Pusher HTTP API."""
    urls = [args.pusher_url] if isinstance(args.pusher_url, str) else list(args.pusher_url or ())
    if not urls:
        raise ConfigError("Give --pusher-url (or PUSHER_URL) as http(s)://KEY:SECRET@HOST[:PORT]/apps/APP_ID.")
    targets = pusher_targets(urls)
    app = web.Application()
    bridge = build_bridge(
        args,
        publisher=HttpPublisher(targets, max_concurrency=getattr(args, "publish_concurrency", 8)),
        app_key=targets[0].key,
        app_secret=targets[0].secret,
        host=args.host,
        port=args.port,
    )
    install(app, bridge)
    return app, bridge
