"""Mounting the bridge: on the hub's application (in-process hub) or standalone.

:func:`mount` adds the bridge's routes to the hub's application: they share the hub's port and
publish in-process (:class:`~authviz.bridge.publish.HubPublisher`). :func:`standalone_app` runs the
same routes on their own application in front of real Pusher Channels or soketi
(:class:`~authviz.bridge.publish.HttpPublisher`). Both are built from a typed
:class:`~authviz.config.BridgeSettings`; when it names no log-stream token one is generated once
and kept in ``{state_dir}/log-token``.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from authviz.config import BridgeSettings
from authviz.errors import ConfigError
from authviz.hub.guard import ConnectionGuard, ServerLimits, guarded_application
from authviz.statefiles import private_dir, read_or_create_secret

from .app import Bridge, BridgeConfig
from .devidentity import DEFAULT_AUDIENCE, DEFAULT_STATE_DIR, KEY_FILE, DevIdentity, write_dev_settings
from .identity import TokenVerifier, normalise_issuer
from .policy import ChannelPolicy
from .publish import HttpPublisher, HubPublisher, PublishQueue, PusherCredentials
from .store import EventStore

__all__ = [
    "MAX_LOG_BODY",
    "MAX_PARSE_WORKERS",
    "MIN_LOG_BODY",
    "build_bridge",
    "ensure_log_token",
    "mount",
    "standalone_app",
]

log = logging.getLogger(__name__)

LOG_TOKEN_FILE = "log-token"
#: Where the mounted :class:`Bridge` is kept on the application.
BRIDGE_KEY: web.AppKey[Bridge] = web.AppKey("authviz.bridge", Bridge)

#: Bounds of :attr:`BridgeSettings.max_log_body` (bytes): one Auth0 record needs about a kilobyte.
MIN_LOG_BODY, MAX_LOG_BODY = 1024, 1024 * 1024 * 1024
#: Most :attr:`BridgeSettings.parse_workers` (processes); more than the cores only adds contention.
MAX_PARSE_WORKERS = 64


def ensure_log_token(state_dir: Path, given: str | None) -> str:
    """``given``, or the token kept in ``state_dir/log-token`` (created once, mode 0600, never
    through a symlink; a looser mode is tightened with a notice)."""
    if given:
        return given
    return read_or_create_secret(Path(state_dir) / LOG_TOKEN_FILE)


def _loopback_host(host: str | None) -> bool:
    """True when ``host`` (a listen address or name) is loopback only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _local_url(host: str | None, port: int | None, tls: bool = False) -> str | None:
    if not port:
        return None
    if not host or host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}/"


def build_bridge(
    settings: BridgeSettings,
    *,
    publisher: Any,
    app_key: str,
    app_secret: str,
    host: str | None,
    port: int | None,
    tls: bool = False,
) -> Bridge:
    """A :class:`Bridge` from its settings; ``host``/``port``/``tls`` say where it is served
    (the dev identity's default issuer)."""
    state_dir = private_dir(settings.state_dir)
    store_path = settings.store_path
    dev = None
    if settings.dev_identity:
        if settings.auth0_domain:
            raise ConfigError("Use either dev_identity or auth0_domain, not both.").naming(
                "dev_identity", "auth0_domain"
            )
        dev = DevIdentity.load_or_create(state_dir / KEY_FILE)
        issuer = settings.public_url or _local_url(host, port, tls=tls)
        audience = settings.auth0_audience or DEFAULT_AUDIENCE
    else:
        issuer = settings.auth0_domain
        audience = settings.auth0_audience or ""
        if issuer and not audience:
            raise ConfigError("auth0_audience (AUTH0_AUDIENCE) is required with auth0_domain.").naming(
                "auth0_audience", "auth0_domain"
            )
    try:
        verifier = TokenVerifier(normalise_issuer(issuer) if issuer else None, audience)
    except ValueError as error:
        raise ConfigError(f"The Auth0 issuer is invalid: {error}.") from error
    if dev is not None and verifier.issuer:
        write_dev_settings(state_dir, issuer=verifier.issuer, audience=audience)
    try:
        policy = ChannelPolicy.with_extra(list(settings.allowed_channels), events_permission=settings.events_permission)
    except ValueError as error:
        raise ConfigError(f"allowed_channels {error}.").naming("allowed_channels") from None
    config = BridgeConfig(
        store_path=store_path,
        log_token=ensure_log_token(state_dir, settings.log_token),
        issuer=verifier.issuer,
        audience=audience,
        app_key=app_key,
        app_secret=app_secret,
        max_body_bytes=settings.max_log_body,
        cors_origins=frozenset(settings.cors_origins),
        csrf_header=settings.csrf_header,
        policy=policy,
        publish_feed=settings.publish_feed,
        dev_token_behind_proxy=settings.dev_token_behind_proxy,
        parse_workers=max(0, settings.parse_workers),
    )
    listeners = getattr(publisher, "listeners", None)
    bridge = Bridge(
        config,
        EventStore(store_path, synchronous=config.synchronous),
        PublishQueue(publisher, backoff_cap=settings.publish_retry_max),
        verifier,
        dev_identity=dev,
        listeners=listeners,
        state_dir=state_dir,
        log_token_source="--log-token/AUTHVIZ_LOG_TOKEN" if settings.log_token else str(state_dir / LOG_TOKEN_FILE),
    )
    bridge.listen_host = host
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
            + ("; dev identity ON (/.well-known/jwks.json)" if bridge.dev_identity else "")
            + (f"; history and private-auth0-events need the permission {bridge.config.policy.events_permission}"),
            file=sys.stderr,
            flush=True,
        )
        if bridge.config.publish_feed and not _loopback_host(bridge.listen_host):
            print(
                f"authviz bridge: WARNING: the public feed is on and the server listens on "
                f"{bridge.listen_host or 'all addresses'}: anyone who can connect sees every "
                "log-in's email, name and country on the public channel 'auth0'.",
                file=sys.stderr,
                flush=True,
            )

    async def on_cleanup(_app: web.Application) -> None:
        await bridge.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app[BRIDGE_KEY] = bridge


def mount(
    app: web.Application,
    hub: Any,
    settings: BridgeSettings,
    *,
    host: str | None = None,
    port: int | None = None,
    tls: bool = False,
) -> Bridge:
    """Mount the bridge on the hub's application, publishing in-process to the hub's first app."""
    state = next(iter(hub.hub.apps.values()))
    publisher = HubPublisher(hub, state.app.app_id)
    bridge = build_bridge(
        settings,
        publisher=publisher,
        app_key=state.app.key,
        app_secret=state.app.secret,
        host=host,
        port=port,
        tls=tls,
    )
    install(app, bridge)
    return bridge


def pusher_targets(urls: Sequence[str]) -> list[PusherCredentials]:
    """The nodes of one cluster from their Pusher URLs: the same app (id, key, secret) on each."""
    targets = [PusherCredentials.from_url(url) for url in urls]
    first = targets[0]
    for other in targets[1:]:
        if (other.app_id, other.key, other.secret) != (first.app_id, first.key, first.secret):
            raise ConfigError(
                "Every Pusher URL must name the same app (app id, key and secret): they are nodes of one cluster."
            )
    return targets


def standalone_app(
    settings: BridgeSettings,
    pusher_url: str | Sequence[str],
    *,
    host: str | None,
    port: int | None,
    limits: ServerLimits | None = None,
) -> tuple[web.Application, Bridge]:
    """The bridge alone, publishing through the Pusher HTTP API to ``pusher_url``: one URL, or
    the URLs of the nodes of one cluster (failed over in turn)."""
    urls = [pusher_url] if isinstance(pusher_url, str) else [url for url in pusher_url if url]
    if not urls or not urls[0]:
        raise ConfigError("A Pusher URL (PUSHER_URL) is needed: http(s)://KEY:SECRET@HOST[:PORT]/apps/APP_ID.")
    targets = pusher_targets(urls)
    # timeouts, connection caps and no version banner, as on `authviz serve` (default limits)
    app = guarded_application(ConnectionGuard(limits or ServerLimits()))
    bridge = build_bridge(
        settings,
        publisher=HttpPublisher(targets, max_concurrency=settings.publish_concurrency),
        app_key=targets[0].key,
        app_secret=targets[0].secret,
        host=host,
        port=port,
    )
    install(app, bridge)
    return app, bridge
