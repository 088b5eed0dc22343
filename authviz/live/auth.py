"""Where channel authorizations and user sign-ins come from: the app secret, or an auth endpoint.

Both return the documented auth responses: ``{"auth", "channel_data"?, "shared_secret"?}`` for
channels and ``{"auth", "user_data"}`` for sign-in. They are called for every (re)connection with
the *current* socket_id: an authorization is never reused across connections.

* :class:`SecretAuthorizer` signs locally (``authviz.pusher.signing``); right for trusted processes
  (notebooks run by the app owner, tests, the bridge).
* :class:`EndpointAuthorizer` POSTs form fields to the app's auth endpoints, like pusher-js, with
  extra headers (``Authorization: Bearer ...``). A failure raises :class:`AuthorizationError` with one
  sentence; the client retries with back-off.
"""

from __future__ import annotations

import json
import ssl
import urllib.parse
from collections.abc import Mapping
from typing import Any, Protocol

from authviz.bridgeclient import BridgeClient, BridgeError
from authviz.errors import AuthvizError
from authviz.live.errors import AuthorizationError
from authviz.pusher.channels import ChannelKind, channel_kind

__all__ = ["Authorizer", "EndpointAuthorizer", "SecretAuthorizer", "authorizer_from_settings"]


class Authorizer(Protocol):
    def authorize(self, socket_id: str, channel: str, channel_data: str | None) -> dict[str, Any]:
        """The auth response for subscribing ``socket_id`` to ``channel``."""

    def authenticate_user(self, socket_id: str, user_data: str) -> dict[str, Any]:
        """The auth response for ``pusher:signin`` of ``socket_id`` as ``user_data`` (JSON text)."""


class SecretAuthorizer:
    """Signs with the app secret (never leaves this process)."""

    def __init__(self, key: str, secret: str, encryption_master_key: bytes | None = None) -> None:
        self.key = key
        self._secret = secret
        self._master_key = encryption_master_key

    def authorize(self, socket_id: str, channel: str, channel_data: str | None) -> dict[str, Any]:
        from authviz.pusher.signing import authorize_channel

        if channel_kind(channel) is ChannelKind.PRESENCE and channel_data is None:
            raise AuthorizationError(
                f"Subscribing to presence channel {channel} needs a user: pass user={{'id': ...}} to the client.",
                channel,
            )
        try:
            return authorize_channel(
                self.key,
                self._secret,
                socket_id,
                channel,
                channel_data=channel_data,
                encryption_master_key=self._master_key,
            )
        except AuthvizError as error:
            raise AuthorizationError(f"Channel {channel} could not be authorized: {error}.", channel) from None

    def authenticate_user(self, socket_id: str, user_data: str) -> dict[str, Any]:
        from authviz.pusher.signing import authenticate_user

        try:
            return authenticate_user(self.key, self._secret, socket_id, user_data)
        except AuthvizError as error:
            raise AuthorizationError(f"The user could not be signed in: {error}.") from None


class EndpointAuthorizer:
    """POSTs to auth endpoints (form fields, as pusher-js does), with extra headers.

    ``timeout`` bounds each request; ``user_url`` defaults to ``user-auth`` next to ``url``
    (``/pusher/auth`` -> ``/pusher/user-auth``).
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        user_url: str | None = None,
        timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self.user_url = user_url or urllib.parse.urljoin(url, "user-auth")
        self.headers = dict(headers or {})
        self.timeout = timeout
        # ssl_context: whom https endpoints must prove to be (PUSHER_CA_FILE, see config.py);
        # never the token to another origin on a redirect (authviz.bridgeclient)
        self._bridge = BridgeClient(headers=self.headers, timeout=timeout, ssl_context=ssl_context)

    def _post(self, url: str, fields: Mapping[str, str], what: str, channel: str | None) -> dict[str, Any]:
        try:
            payload = self._bridge.post_form(url, fields).body
        except BridgeError as error:
            if error.status is None:
                raise AuthorizationError(
                    f"The auth endpoint {url} could not be reached ({error.reason}); retrying with back-off.", channel
                ) from None
            hint = " (check the token in PUSHER_AUTH_TOKEN)" if error.status in (401, 403) else ""
            raise AuthorizationError(
                f"The auth endpoint {url} refused {what} with HTTP {error.status}{hint}.", channel
            ) from None
        try:
            doc = json.loads(payload)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("auth"), str):
            raise AuthorizationError(
                f"The auth endpoint {url} answered {what} without a JSON object holding 'auth'.", channel
            )
        return doc

    def authorize(self, socket_id: str, channel: str, channel_data: str | None) -> dict[str, Any]:
        return self._post(self.url, {"socket_id": socket_id, "channel_name": channel}, f"channel {channel}", channel)

    def authenticate_user(self, socket_id: str, user_data: str) -> dict[str, Any]:
        return self._post(self.user_url, {"socket_id": socket_id}, "the user sign-in", None)


def authorizer_from_settings(settings) -> Authorizer | None:
    """The endpoint when ``auth_endpoint`` is set, else the secret when known, else None."""
    if settings.auth_endpoint:
        context = None
        if getattr(settings, "ca_file", None) or getattr(settings, "ssl_cert_file", None):
            context = settings.client_ssl_context()
        return EndpointAuthorizer(
            settings.auth_endpoint, settings.auth_headers, settings.user_auth_endpoint, ssl_context=context
        )
    if settings.secret:
        return SecretAuthorizer(settings.key, settings.secret, settings.encryption_master_key)
    return None
