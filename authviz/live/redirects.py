"""Following redirects without handing credentials to another origin.

urllib's default redirect handler copies every request header to wherever a ``Location`` points,
so an auth endpoint or history URL that redirects to another host receives the bearer token.
:class:`SameOriginRedirects` follows a redirect within the same origin (scheme, host, port) with
the headers unchanged, and one to another origin with only harmless headers (``Accept``,
``Content-Type``, ``User-Agent``): no ``Authorization``, no configured extra header.
"""

from __future__ import annotations

import ssl
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["SameOriginRedirects", "opener", "same_origin"]

#: Headers kept on a redirect to another origin (compared lower-case).
_HARMLESS = frozenset({"accept", "content-type", "user-agent"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def same_origin(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` share scheme, host and (effective) port."""
    return _origin(a) == _origin(b)


class SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirect handling, minus credentials on a redirect to another origin."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None or same_origin(req.full_url, new.full_url):
            return new
        for name in list(new.headers):
            if name.lower() not in _HARMLESS:
                del new.headers[name]
        for name in list(new.unredirected_hdrs):
            if name.lower() not in _HARMLESS:
                del new.unredirected_hdrs[name]
        return new


def opener(ssl_context: ssl.SSLContext | None = None) -> urllib.request.OpenerDirector:
    """A urllib opener that verifies TLS (``ssl_context`` when given) and redirects safely."""
    handlers: list[Any] = [SameOriginRedirects()]
    if ssl_context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=ssl_context))
    return urllib.request.build_opener(*handlers)
