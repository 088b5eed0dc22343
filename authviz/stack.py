"""Build and serve the server stack: the embedded hub, the bridge on it, the dev identity.

One way for every entry point (``authviz serve``, ``authviz bridge``, the notebooks' local mode,
tests): :func:`build_hub` makes the hub with the bridge mounted from a typed
:class:`~authviz.config.BridgeSettings`; an aiohttp application is served either in the
foreground by :func:`serve` (until SIGINT/SIGTERM: the commands) or from a background thread with
its own event loop by :class:`ServerThread` (no signal handlers: ``running_hub()``, the notebooks,
tests). Both start the same way (:func:`listen`): listen failures raise
:class:`~authviz.errors.ListenError`, failures of the start-up hooks, such as a store that cannot
be opened, raise :class:`~authviz.errors.StateError`. The serving itself lives in
:mod:`authviz.hub.serving` (below the bridge, so ``running_hub()`` uses it too); this module is
where the entry points reach it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from authviz.bridge.app import Bridge
from authviz.bridge.serve import mount
from authviz.config import BridgeSettings, HubSettings
from authviz.errors import ConfigError, SettingError, StateError
from authviz.hub.credentials import app_secret
from authviz.hub.guard import ServerLimits
from authviz.statefiles import StateFileError
from authviz.hub.server import HubServer
from authviz.hub.serving import ServerThread, listen, serve
from authviz.pusher.protocol import App

__all__ = ["ServerThread", "build_hub", "hub_apps", "listen", "serve"]

#: The fields an app of a hub config file may have.
APP_FIELDS = frozenset(
    {
        "app_id",
        "key",
        "secret",
        "enable_client_events",
        "client_event_prefixes",
        "enable_user_auth",
        "activity_timeout",
        "max_connections",
        "webhook_url",
        "webhook_debounce",
        "cache_ttl",
        "max_cache_channels",
    }
)


def _is_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def hub_apps(settings: HubSettings) -> list[App]:
    """The apps ``settings`` describe, every value checked (:class:`~authviz.errors.SettingError`
    naming the setting, :class:`~authviz.errors.ConfigError` naming the config file's entry,
    :class:`~authviz.errors.StateError` when the generated secret cannot be kept)."""
    prefixes = tuple(settings.client_event_prefixes)
    common: dict[str, Any] = {
        "enable_client_events": bool(prefixes),
        "enable_user_auth": settings.enable_user_auth,
        "activity_timeout": settings.activity_timeout,
        "webhook_url": settings.webhook_url,
    }
    if settings.webhook_debounce is not None:
        common["webhook_debounce"] = settings.webhook_debounce
    if settings.max_cache_channels is not None:
        common["max_cache_channels"] = settings.max_cache_channels
    if settings.webhook_url is not None and not _is_http_url(settings.webhook_url):
        raise SettingError(
            f"webhook_url must be an http(s) URL such as http://127.0.0.1:8000/pusher/"
            f"webhooks, not {settings.webhook_url!r}.",
            "webhook_url",
        )
    if settings.config_file is None:
        if not str(settings.app_id).isdigit():
            raise SettingError(
                f"app_id must be numeric (clients and the pusher library read it "
                f"from PUSHER_URL as a number), not {str(settings.app_id)!r}.",
                "app_id",
            )
        if prefixes:
            common["client_event_prefixes"] = prefixes
        try:
            secret, _source = app_secret(settings.state_dir, secret=settings.secret, secret_file=settings.secret_file)
        except StateFileError:
            raise
        except OSError as exc:
            raise StateError(exc) from None
        try:
            return [App(str(settings.app_id), settings.key, secret, **common)]
        except ValueError as exc:
            raise SettingError(f"{exc}.") from None
    return _apps_of_config_file(settings, common)


def _apps_of_config_file(settings: HubSettings, common: dict[str, Any]) -> list[App]:
    path = settings.config_file
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}.") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}).") from None
    entries = doc.get("apps") if isinstance(doc, dict) else doc
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f'{path} must hold {{"apps": [{{"app_id", "key", "secret"}}}}, ...]}}.')
    apps = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: apps[{i}] is not an object.")
        unknown = set(entry) - APP_FIELDS
        if unknown:
            raise ConfigError(
                f"{path}: apps[{i}] has unknown fields "
                f"{', '.join(sorted(unknown))}; known: {', '.join(sorted(APP_FIELDS))}."
            )
        fields = {**common, **entry}
        if fields.get("webhook_url") is not None and not _is_http_url(fields["webhook_url"]):
            raise ConfigError(f"{path}: apps[{i}]: webhook_url must be an http(s) URL, not {fields['webhook_url']!r}.")
        if not str(fields.get("app_id", "")).isdigit():
            raise ConfigError(f"{path}: apps[{i}]: app_id must be numeric, not {fields.get('app_id')!r}.")
        try:
            apps.append(App(str(fields.pop("app_id", "")), fields.pop("key", ""), fields.pop("secret", ""), **fields))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: apps[{i}]: {exc}.") from None
    return apps


def build_hub(
    apps: Sequence[App],
    bridge: BridgeSettings | None,
    *,
    host: str | None = None,
    port: int | None = None,
    tls: bool = False,
    limits: ServerLimits | None = None,
) -> tuple[HubServer, Bridge | None]:
    """The hub serving ``apps``, with the bridge mounted on it unless ``bridge`` is None;
    ``limits``: its read timeouts and connection caps (default :class:`ServerLimits`)."""
    try:
        hub = HubServer(list(apps), limits=limits)
    except ValueError as exc:
        raise ConfigError(f"{exc}.") from None
    mounted = None
    if bridge is not None:
        try:
            mounted = mount(hub.app, hub, bridge, host=host, port=port, tls=tls)
        except OSError as exc:
            raise StateError(exc) from None
    return hub, mounted
