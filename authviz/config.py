"""Settings read from the environment or a ``.env`` file (never from code).

One code path serves Pusher Channels, soketi and the embedded hub; only these settings differ:

==============================  ==========================================================
variable                        meaning
==============================  ==========================================================
``PUSHER_URL``                  ``http[s]://KEY:SECRET@HOST[:PORT]/apps/APP_ID`` (all in one)
``PUSHER_APP_ID``               numeric app id (needed to publish, not to subscribe)
``PUSHER_KEY``                  app key (always needed)
``PUSHER_SECRET``               app secret (signs private/presence channels locally)
``PUSHER_CLUSTER``              Pusher Channels cluster, e.g. ``eu`` -> ``ws-eu.pusher.com``
``PUSHER_HOST``                 host of soketi / the embedded hub (instead of a cluster)
``PUSHER_PORT``                 port (default 443 with TLS, else 80)
``PUSHER_TLS``                  ``true``/``false`` (default true for a cluster, false for a host)
``PUSHER_CA_FILE``              PEM CA certificate(s) to trust besides the system's (a self-hosted
                                server with its own CA or a self-signed certificate)
``SSL_CERT_FILE``               the standard OpenSSL variable: replaces the system's trust store
``PUSHER_AUTH_ENDPOINT``        authorize channels by POSTing to this URL instead of the secret
``PUSHER_USER_AUTH_ENDPOINT``   user sign-in endpoint (default: ``.../user-auth`` next to it)
``PUSHER_AUTH_TOKEN``           bearer token sent to the auth endpoints
``PUSHER_AUTH_HEADERS``         extra headers for the auth endpoints, a JSON object
``PUSHER_ENCRYPTION_MASTER_KEY`` base64 of 32 bytes, for ``private-encrypted-`` channels
``AUTHVIZ_HISTORY_URL``         the bridge's history (``.../auth0/events``) for gap-free backfill
``AUTHVIZ_HISTORY_TOKEN``       token for it (the log-stream token or a user's JWT)
==============================  ==========================================================

Without ``AUTHVIZ_HISTORY_URL`` the history is derived (see :attr:`PusherSettings.history_endpoint`):
``/auth0/events`` on the auth endpoint's origin, else, when ``AUTHVIZ_HISTORY_TOKEN`` is set, on the
server itself (``authviz serve`` mounts the bridge on the hub's port).

``PUSHER_URL`` and the single variables combine: a single variable wins over the URL's part.
Values in the real environment win over the ``.env`` file (it never overrides them). Every
problem raises :class:`~authviz.errors.ConfigError` with one sentence naming the variable.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from authviz.errors import ConfigError
from authviz.topics import READ_EVENTS_PERMISSION

__all__ = [
    "AlertSettings",
    "BridgeSettings",
    "NotebookSettings",
    "PusherSettings",
    "event_loop_choice",
    "load_environment",
    "parse_pusher_url",
    "process_environment",
    "url_host",
]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_APP_PATH = re.compile(r"^/apps/([^/]+)/?$")
_PUSHER_API_HOST = re.compile(r"^api-([a-z0-9-]+)\.pusher\.com$")
_CLUSTER = re.compile(r"^[a-z0-9-]+$")
#: websocket protocol announced to the server (errors arrive as close codes since 6).
PROTOCOL_VERSION = 7


def load_environment(
    env: Mapping[str, str] | None = None, dotenv_path: str | os.PathLike[str] | None = ".env"
) -> dict[str, str]:
    """The effective variables: ``.env`` file values overlaid by ``env`` (default ``os.environ``).

    A missing ``.env`` file is not an error; a real environment variable always wins. A file that
    is not UTF-8 text or has a line that is not ``NAME=value`` raises :class:`ConfigError` naming
    the line (python-dotenv would only log a warning and drop the line's setting).
    """
    values: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        values.update({k: v for k, v in _read_dotenv(Path(dotenv_path)).items() if v is not None})
    values.update(os.environ if env is None else env)
    return values


def _read_dotenv(path: Path) -> dict[str, str | None]:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; write it as NAME=value lines.") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raw = binding.original.string
            line = binding.original.line + len(raw) - len(raw.lstrip("\n"))
            # the line itself is not shown: it may hold a secret
            raise ConfigError(f"{path} line {line} is not NAME=value; fix or remove it.")
    return dotenv_values(stream=io.StringIO(text))


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}.")


def _port(name: str, value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a port number from 1 to 65535, not {value!r}.") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name} must be a port number from 1 to 65535, not {value!r}.")
    return port


@dataclass(frozen=True)
class PusherSettings:
    """Where and how to reach a Pusher-compatible server.

    Invariants (checked by ``__post_init__``): ``key`` is non-empty; ``app_id`` is empty or numeric;
    ``host`` is set (derived from ``cluster`` for Pusher Channels); ``1 <= port <= 65535``;
    ``encryption_master_key`` is ``None`` or exactly 32 bytes.
    """

    key: str
    secret: str = ""
    app_id: str = ""
    cluster: str = ""
    host: str = ""
    port: int = 0
    tls: bool = False
    auth_endpoint: str | None = None
    user_auth_endpoint: str | None = None
    auth_headers: Mapping[str, str] = field(default_factory=dict)
    encryption_master_key: bytes | None = None
    #: the bridge's ``GET /auth0/events`` (None: derived, see :attr:`history_endpoint`)
    history_url: str | None = None
    #: bearer token for the history (empty: the auth endpoint's headers are sent)
    history_token: str = ""
    #: PEM CA certificate(s) trusted besides the system's (``PUSHER_CA_FILE``)
    ca_file: str | None = None
    #: replaces the system's trust store (``SSL_CERT_FILE``, also honoured from ``.env``)
    ssl_cert_file: str | None = None

    def __post_init__(self) -> None:
        if not self.key:
            raise ConfigError("PUSHER_KEY is not set: give the app key (or PUSHER_URL).")
        if self.app_id and not self.app_id.isdigit():
            raise ConfigError(f"PUSHER_APP_ID must be numeric, not {self.app_id!r}.")
        if self.cluster and not _CLUSTER.match(self.cluster):
            raise ConfigError(f"PUSHER_CLUSTER must be a cluster name such as 'eu', not {self.cluster!r}.")
        if self.history_url and urlsplit(self.history_url).scheme not in ("http", "https"):
            raise ConfigError(
                f"AUTHVIZ_HISTORY_URL must be an http(s) URL such as "
                f"http://127.0.0.1:6001/auth0/events, not {self.history_url!r}."
            )
        if not self.host:
            if not self.cluster:
                raise ConfigError(
                    "Set PUSHER_HOST (soketi or the embedded hub) or PUSHER_CLUSTER (Pusher Channels), or PUSHER_URL."
                )
            object.__setattr__(self, "host", f"ws-{self.cluster}.pusher.com")
        if not self.port:
            object.__setattr__(self, "port", 443 if self.tls else 80)
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"PUSHER_PORT must be a port number from 1 to 65535, not {self.port!r}.")
        key = self.encryption_master_key
        if key is not None and len(key) != 32:
            raise ConfigError("PUSHER_ENCRYPTION_MASTER_KEY must be the base64 encoding of exactly 32 bytes.")
        object.__setattr__(self, "auth_headers", dict(self.auth_headers))
        for name, path in (("PUSHER_CA_FILE", self.ca_file), ("SSL_CERT_FILE", self.ssl_cert_file)):
            if path and not os.path.isfile(path):
                raise ConfigError(f"{name} {path}: no such file (give a PEM CA certificate).")

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying TLS client context: the system's trust store (or ``SSL_CERT_FILE``) plus
        ``PUSHER_CA_FILE``. Verification is never turned off; host names are checked."""
        try:
            context = ssl.create_default_context(cafile=self.ssl_cert_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"SSL_CERT_FILE {self.ssl_cert_file}: no PEM CA certificate could be "
                f"loaded ({getattr(exc, 'reason', None) or exc})."
            ) from None
        if self.ca_file:
            try:
                context.load_verify_locations(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"PUSHER_CA_FILE {self.ca_file}: no PEM CA certificate could be "
                    f"loaded ({getattr(exc, 'reason', None) or exc})."
                ) from None
        return context

    # ------------------------------------------------------------------ derived addresses
    @property
    def ws_url(self) -> str:
        """The websocket URL (protocol 7) of this app."""
        scheme = "wss" if self.tls else "ws"
        from authviz import __version__

        return (
            f"{scheme}://{url_host(self.host)}:{self.port}/app/{self.key}"
            f"?protocol={PROTOCOL_VERSION}&client=authviz-python&version={__version__}"
        )

    @property
    def http_host(self) -> str:
        """Host of the HTTP API: ``api-{cluster}.pusher.com`` for Pusher Channels, else ``host``."""
        return f"api-{self.cluster}.pusher.com" if self.cluster and self.host.endswith(".pusher.com") else self.host

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP API (``.../apps/{app_id}`` is appended by callers)."""
        return f"{'https' if self.tls else 'http'}://{url_host(self.http_host)}:{self.port}"

    @property
    def history_endpoint(self) -> str | None:
        """Where the live client backfills ``private-auth0-events`` after a reconnect, or None.

        ``history_url`` when set; else ``/auth0/events`` on the origin of ``auth_endpoint`` (the
        bridge serves both); else, with a ``history_token`` and a host that is not Pusher Channels,
        ``/auth0/events`` on :attr:`http_url` (``authviz serve``).
        """
        if self.history_url:
            return self.history_url
        if self.auth_endpoint:
            parts = urlsplit(self.auth_endpoint)
            if parts.scheme in ("http", "https") and parts.netloc:
                return f"{parts.scheme}://{parts.netloc}/auth0/events"
        if self.history_token and not self.host.endswith(".pusher.com"):
            return f"{self.http_url}/auth0/events"
        return None

    @property
    def history_headers(self) -> dict[str, str]:
        """Headers for the history: the auth endpoint's, with ``history_token`` as the bearer."""
        headers = dict(self.auth_headers)
        if self.history_token:
            headers["Authorization"] = f"Bearer {self.history_token}"
        return headers

    @property
    def can_sign(self) -> bool:
        """True when private/presence channels can be authorized locally (the secret is known)."""
        return bool(self.secret)

    def __repr__(self) -> str:  # never print the secret or the token
        return (
            f"PusherSettings(key={self.key!r}, app_id={self.app_id!r}, host={self.host!r}, "
            f"port={self.port}, tls={self.tls}, secret={'***' if self.secret else ''!r}, "
            f"{f'ca_file={self.ca_file!r}, ' if self.ca_file else ''}"
            f"auth_endpoint={self.auth_endpoint!r})"
        )

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_url(cls, url: str, **overrides) -> "PusherSettings":
        """Settings from ``http[s]://KEY:SECRET@HOST[:PORT]/apps/APP_ID``."""
        return cls(**{**_parse_url(url), **overrides})

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, dotenv_path: str | os.PathLike[str] | None = ".env"
    ) -> "PusherSettings":
        """Settings from the environment (``env`` or ``os.environ``) and a ``.env`` file."""
        values = {k: v for k, v in load_environment(env, dotenv_path).items() if v != ""}
        fields: dict[str, object] = {}
        if "PUSHER_URL" in values:
            fields.update(_parse_url(values["PUSHER_URL"]))
        for name, attr in (
            ("PUSHER_APP_ID", "app_id"),
            ("PUSHER_KEY", "key"),
            ("PUSHER_SECRET", "secret"),
            ("PUSHER_CLUSTER", "cluster"),
            ("PUSHER_HOST", "host"),
            ("PUSHER_AUTH_ENDPOINT", "auth_endpoint"),
            ("PUSHER_USER_AUTH_ENDPOINT", "user_auth_endpoint"),
            ("AUTHVIZ_HISTORY_URL", "history_url"),
            ("AUTHVIZ_HISTORY_TOKEN", "history_token"),
            ("PUSHER_CA_FILE", "ca_file"),
            ("SSL_CERT_FILE", "ssl_cert_file"),
        ):
            if name in values:
                fields[attr] = values[name].strip()
        if "PUSHER_PORT" in values:
            fields["port"] = _port("PUSHER_PORT", values["PUSHER_PORT"])
        if "PUSHER_TLS" in values:
            fields["tls"] = _bool("PUSHER_TLS", values["PUSHER_TLS"])
        elif "tls" not in fields:
            fields["tls"] = bool(fields.get("cluster")) and not fields.get("host")
        headers: dict[str, str] = {}
        if "PUSHER_AUTH_HEADERS" in values:
            try:
                parsed = json.loads(values["PUSHER_AUTH_HEADERS"])
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
                raise ConfigError('PUSHER_AUTH_HEADERS must be a JSON object of strings such as {"X-Team": "blue"}.')
            headers.update(parsed)
        if "PUSHER_AUTH_TOKEN" in values:
            headers["Authorization"] = f"Bearer {values['PUSHER_AUTH_TOKEN'].strip()}"
        fields["auth_headers"] = headers
        if "PUSHER_ENCRYPTION_MASTER_KEY" in values:
            try:
                fields["encryption_master_key"] = base64.b64decode(
                    values["PUSHER_ENCRYPTION_MASTER_KEY"], validate=True
                )
            except (binascii.Error, ValueError):
                raise ConfigError(
                    "PUSHER_ENCRYPTION_MASTER_KEY must be the base64 encoding of exactly 32 bytes."
                ) from None
        if not fields.get("key"):
            raise ConfigError("PUSHER_KEY is not set: give the app key (or PUSHER_URL).")
        return cls(**fields)  # type: ignore[arg-type]


def url_host(host: str) -> str:
    """``host`` as written in a URL: an IPv6 address in brackets (``[::1]``), anything else as is."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def parse_pusher_url(url: str) -> dict[str, object]:
    """Fields of a ``PUSHER_URL`` (``key``, ``secret``, ``app_id``, ``tls``, ``host`` bare, without
    brackets; ``port`` and ``cluster`` when given); every malformed part is reported by name. The
    one parser of the URL form: :class:`PusherSettings` and the bridge's publisher use it."""
    return _parse_url(url)


def _parse_url(url: str) -> dict[str, object]:
    """Fields of a ``PUSHER_URL``; every malformed part is reported by name."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ConfigError("PUSHER_URL must look like http://KEY:SECRET@HOST:PORT/apps/APP_ID.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("PUSHER_URL must look like http://KEY:SECRET@HOST:PORT/apps/APP_ID.")
    if not parts.username or not parts.password:
        raise ConfigError("PUSHER_URL must carry the app key and secret as KEY:SECRET@ before the host.")
    match = _APP_PATH.match(parts.path)
    if not match:
        raise ConfigError("PUSHER_URL must end with /apps/APP_ID.")
    fields: dict[str, object] = {
        "key": unquote(parts.username),
        "secret": unquote(parts.password),
        "app_id": match.group(1),
        "tls": parts.scheme == "https",
        "host": parts.hostname,
    }
    if port:
        fields["port"] = port
    cluster = _PUSHER_API_HOST.match(parts.hostname)
    if cluster:  # the HTTP API host of Pusher Channels: the websocket host differs
        fields["cluster"] = cluster.group(1)
        fields["host"] = f"ws-{cluster.group(1)}.pusher.com"
    return fields


#: Default state directory of the bridge (store, log-stream token, dev identity key).
DEFAULT_STATE_DIR = Path(".authviz")
#: Default largest log-stream body (bytes).
DEFAULT_MAX_LOG_BODY = 5 * 1024 * 1024


@dataclass(frozen=True)
class HubSettings:
    """What the hub serves (``authviz serve``): one app from ``app_id``/``key``/``secret``, or the
    apps of a JSON ``config_file`` (``{"apps": [{"app_id", "key", "secret", ...}]}``) with the
    options below as their defaults. Without ``secret`` or ``secret_file`` the secret is generated
    once into ``state_dir/app-secret`` (there is no default secret). Turned into apps by
    :func:`authviz.stack.hub_apps`, which checks every value."""

    app_id: str = "1"
    key: str = "authviz-key"
    secret: str | None = None
    #: a file whose first line is the secret
    secret_file: Path | None = None
    config_file: Path | None = None
    #: client events (``client-*``) accepted with these name prefixes; none: client events off
    client_event_prefixes: tuple[str, ...] = ()
    enable_user_auth: bool = True
    activity_timeout: int = 120
    webhook_url: str | None = None
    #: None: the App defaults
    webhook_debounce: float | None = None
    max_cache_channels: int | None = None
    state_dir: Path = DEFAULT_STATE_DIR


@dataclass(frozen=True)
class BridgeSettings:
    """How the bridge runs (typed; the command line and :meth:`from_env` build it).

    Variables read by :meth:`from_env`: ``AUTHVIZ_STATE_DIR``, ``AUTHVIZ_BRIDGE_STORE``,
    ``AUTHVIZ_LOG_TOKEN``, ``AUTH0_ISSUER`` (or ``AUTH0_DOMAIN``), ``AUTH0_AUDIENCE``,
    ``AUTHVIZ_PUBLIC_URL``, ``AUTHVIZ_EVENTS_PERMISSION``.
    """

    #: Directory of the store, the log-stream token and the dev identity's key.
    state_dir: Path = DEFAULT_STATE_DIR
    #: SQLite file of the event history (None: ``state_dir/bridge.sqlite3``).
    store: Path | None = None
    #: The token Auth0 sends in Authorization (None: generated once into ``state_dir/log-token``).
    log_token: str | None = None
    #: Auth0 tenant domain or issuer URL that signs user tokens.
    auth0_domain: str | None = None
    #: API audience user tokens must carry.
    auth0_audience: str | None = None
    #: Act as an offline token issuer (JWKS + minted demo tokens); never in production.
    dev_identity: bool = False
    #: This server's URL as clients see it (the dev identity's issuer).
    public_url: str | None = None
    #: Origins allowed to call the auth, chat and history endpoints.
    cors_origins: tuple[str, ...] = ()
    #: A header required on POSTs to the auth and chat endpoints.
    csrf_header: str | None = None
    #: Largest accepted log-stream body in bytes.
    max_log_body: int = DEFAULT_MAX_LOG_BODY
    #: Processes parsing webhook bodies beside the event loop (0: on the loop).
    parse_workers: int = 0
    #: Publish the tutorial feed (user-signedUp/user-loggedIn on the PUBLIC channel 'auth0',
    #: with emails, names and countries) from the log stream. Off by default (issue #11).
    publish_feed: bool = False
    #: Extra private/presence channels any verified user may join.
    allowed_channels: tuple[str, ...] = ()
    #: The permission a user token needs to read the history and ``private-auth0-events``.
    events_permission: str = READ_EVENTS_PERMISSION
    #: Let ``POST /dev/token`` answer requests carrying forwarding headers.
    dev_token_behind_proxy: bool = False
    #: Publishing requests (of at most 10 events) in flight at once to a Pusher HTTP API.
    publish_concurrency: int = 8
    #: Longest wait between attempts while the Pusher server fails (seconds; doubles up to it).
    publish_retry_max: float = 30.0

    @property
    def store_path(self) -> Path:
        return self.store if self.store is not None else self.state_dir / "bridge.sqlite3"

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, dotenv_path: str | os.PathLike[str] | None = ".env"
    ) -> BridgeSettings:
        """The settings the environment (and ``.env``) gives; everything else at its default."""
        values = load_environment(env, dotenv_path)
        store = values.get("AUTHVIZ_BRIDGE_STORE")
        return cls(
            state_dir=Path(values.get("AUTHVIZ_STATE_DIR") or DEFAULT_STATE_DIR),
            store=Path(store) if store else None,
            log_token=values.get("AUTHVIZ_LOG_TOKEN") or None,
            auth0_domain=values.get("AUTH0_ISSUER") or values.get("AUTH0_DOMAIN") or None,
            auth0_audience=values.get("AUTH0_AUDIENCE") or None,
            public_url=values.get("AUTHVIZ_PUBLIC_URL") or None,
            events_permission=values.get("AUTHVIZ_EVENTS_PERMISSION") or READ_EVENTS_PERMISSION,
        )


#: Variables of live alert delivery.
ALERT_WEBHOOK_SECRET_ENV = "AUTHVIZ_ALERT_WEBHOOK_SECRET"
ALERT_SLACK_URL_ENV = "AUTHVIZ_ALERT_SLACK_URL"


@dataclass(frozen=True)
class AlertSettings:
    """Where live alerts are delivered (typed; the command line and :meth:`from_env` build it).

    Variables read by :meth:`from_env`: ``AUTHVIZ_ALERT_WEBHOOK_SECRET`` (the key signing webhook
    documents; no default: a webhook without it is refused) and ``AUTHVIZ_ALERT_SLACK_URL`` (a Slack
    incoming-webhook URL, which is itself a secret: better in the environment than on a command line).
    """

    #: Receivers of the signed JSON document (one per alert).
    webhook_urls: tuple[str, ...] = ()
    #: The HMAC key of the webhook signature.
    webhook_secret: str | None = field(default=None, repr=False)
    #: Slack incoming-webhook URLs.
    slack_urls: tuple[str, ...] = field(default=(), repr=False)
    #: Seconds between two deliveries about one (rule, group) per receiver.
    throttle: float = 60.0

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_urls or self.slack_urls)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, dotenv_path: str | os.PathLike[str] | None = ".env", **overrides: Any
    ) -> AlertSettings:
        """The settings the environment (and ``.env``) gives, with ``overrides`` (command-line values)."""
        values = load_environment(env, dotenv_path)
        slack = values.get(ALERT_SLACK_URL_ENV)
        settings = cls(
            webhook_secret=values.get(ALERT_WEBHOOK_SECRET_ENV) or None, slack_urls=(slack,) if slack else ()
        )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def app_secret_from_env(
    env: Mapping[str, str] | None = None, dotenv_path: str | os.PathLike[str] | None = ".env"
) -> str | None:
    """``PUSHER_SECRET`` (environment or ``.env``): the app secret ``authviz serve`` signs with
    when no other is given; None when unset (the server then generates one)."""
    return load_environment(env, dotenv_path).get("PUSHER_SECRET") or None


def process_environment(**overrides: str) -> dict[str, str]:
    """A copy of this process's environment with ``overrides``: the environment of a child
    process (the demo's server and simulator, a replay source)."""
    return {**os.environ, **overrides}


#: Variable choosing the event loop: ``uvloop`` (default when installed) or ``asyncio``.
EVENT_LOOP_ENV = "AUTHVIZ_EVENT_LOOP"


def event_loop_choice(env: Mapping[str, str] | None = None, dotenv_path: str | os.PathLike[str] | None = ".env") -> str:
    """``"asyncio"`` when ``AUTHVIZ_EVENT_LOOP`` says so, else ``"uvloop"`` (used when installed)."""
    value = load_environment(env, dotenv_path).get(EVENT_LOOP_ENV, "uvloop")
    return "asyncio" if value.strip().lower() == "asyncio" else "uvloop"


#: Variable forcing the notebooks' mode: ``local`` runs the embedded hub even when Pusher
#: settings are given.
NOTEBOOK_MODE_ENV = "AUTHVIZ_NOTEBOOK_MODE"
#: Variable naming the folder URL of the world map's TopoJSON files.
TOPOJSON_URL_ENV = "AUTHVIZ_TOPOJSON_URL"
#: Variables giving the Jupyter server's base URL, first found wins.
JUPYTER_BASE_URL_ENVS = ("AUTHVIZ_JUPYTER_BASE_URL", "JUPYTERHUB_SERVICE_PREFIX")


@dataclass(frozen=True)
class NotebookSettings:
    """What the notebooks' live session and widgets read from the environment (and ``.env``)."""

    #: Pusher settings are given (``PUSHER_URL`` or ``PUSHER_KEY``) and the mode is not forced
    #: to local (``AUTHVIZ_NOTEBOOK_MODE=local``): connect to them instead of an embedded hub.
    remote: bool = False
    #: The bridge's base URL (``AUTHVIZ_BRIDGE_URL``), remote mode.
    bridge_url: str | None = None
    #: The log-stream token (``AUTHVIZ_LOG_TOKEN``), remote mode.
    log_token: str | None = None
    #: A user's bearer token for the auth endpoints (``PUSHER_AUTH_TOKEN``), remote mode.
    auth_token: str | None = None
    #: ``AUTHVIZ_TOPOJSON_URL``: where the map's TopoJSON files are served.
    topojson_url: str | None = None
    #: The Jupyter server's base URL (``AUTHVIZ_JUPYTER_BASE_URL`` / ``JUPYTERHUB_SERVICE_PREFIX``).
    jupyter_base_url: str | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, dotenv_path: str | os.PathLike[str] | None = ".env"
    ) -> NotebookSettings:
        values = load_environment(env, dotenv_path)
        forced_local = values.get(NOTEBOOK_MODE_ENV, "").strip().lower() == "local"
        given = bool(values.get("PUSHER_URL") or values.get("PUSHER_KEY"))
        return cls(
            remote=given and not forced_local,
            bridge_url=values.get("AUTHVIZ_BRIDGE_URL", "").rstrip("/") or None,
            log_token=values.get("AUTHVIZ_LOG_TOKEN") or None,
            auth_token=values.get("PUSHER_AUTH_TOKEN", "").strip() or None,
            topojson_url=values.get(TOPOJSON_URL_ENV) or None,
            jupyter_base_url=next((values[n] for n in JUPYTER_BASE_URL_ENVS if values.get(n)), None),
        )
