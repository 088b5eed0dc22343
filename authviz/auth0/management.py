"""A client of Auth0's Management API logs endpoint: ``GET /api/v2/logs`` with checkpoint paging.

Protocol facts (Auth0 docs, "Retrieve log events using the Management API"): ``from=<log_id>&take=<=100``
returns a bare JSON array of the logs *after* that id, ordered by ``log_id``; the next page is the
``rel="next"`` URL of the ``Link`` header, and an empty array means caught up (its next link
repeats the request). Without ``from`` the first page starts at the oldest retained log. Rate
limits answer 429 with ``x-ratelimit-limit/remaining/reset`` (reset = epoch seconds) and may carry
``Retry-After``. A client-credentials token comes from ``POST https://DOMAIN/oauth/token`` with
audience ``https://DOMAIN/api/v2/``.

Invariants: the token is sent only to the configured origin (a ``Link`` to another host is
refused) and never logged; plain http is accepted only on loopback (a local test server). Errors
are :class:`ManagementApiError` sentences in library words (``token``, ``client_id``...).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp

from authviz import __version__
from authviz.errors import AuthvizError, SettingError

__all__ = [
    "LOOPBACK_HOSTS",
    "MAX_PAGE_SIZE",
    "ManagementApiError",
    "ManagementClient",
    "base_url_for",
    "normalise_domain",
    "retry_delay",
]

MAX_PAGE_SIZE = 100  # Auth0's limit for `take`
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class ManagementApiError(AuthvizError):
    """The Management API refused a request or could not be reached; the sentence says what to do."""


def normalise_domain(domain: str) -> str:
    """``tenant.eu.auth0.com`` from what a user may paste (scheme and trailing slash removed)."""
    text = (domain or "").strip()
    for prefix in ("https://", "http://"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    text = text.rstrip("/")
    host = urlsplit("//" + text).hostname if text else None
    if not text or "/" in text or not host or any(c.isspace() for c in text):
        raise SettingError(f"domain {domain!r} is not a tenant domain such as acme.eu.auth0.com", "domain")
    return text


def base_url_for(domain: str, base_url: str | None = None) -> str:
    """``https://DOMAIN`` or a validated override (http is only allowed on loopback, for tests)."""
    if not base_url:
        return f"https://{domain}"
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError(f"base_url {base_url!r} must be an http(s) URL", "base_url")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise SettingError("base_url may use plain http only on 127.0.0.1 (a local test server); use https", "base_url")
    return f"{parts.scheme}://{parts.netloc}"


def retry_delay(headers: Mapping[str, str], now: float, attempt: int) -> float:
    """Seconds to wait after a 429/5xx: ``Retry-After`` (seconds or HTTP date), else
    ``x-ratelimit-reset`` (epoch seconds), else exponential backoff 1, 2, 4... s."""
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = headers.get("x-ratelimit-reset") or headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            pass
    return float(2 ** min(attempt, 6))


async def _json(response: aiohttp.ClientResponse) -> Any:
    text = await response.text()
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


class ManagementClient:
    """The logs endpoint of one tenant, over an open :class:`aiohttp.ClientSession`.

    Authenticates with ``token``, or with ``client_id``/``client_secret`` (client-credentials
    grant, renewed once on a 401). ``max_retries`` bounds the retries of one request after 429,
    5xx or a network error; ``max_wait`` is the longest rate-limit pause sat out. ``pages`` and
    ``retries`` count what was done; ``caught_up`` says the last page reached the newest log.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        domain: str,
        *,
        token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        base_url: str | None = None,
        max_retries: int = 5,
        max_wait: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not token and not (client_id and client_secret):
            raise SettingError("give token, or client_id and client_secret", "token", "client_id", "client_secret")
        self.session = session
        self.domain = normalise_domain(domain)
        self.base = base_url_for(self.domain, base_url)
        self.client_id, self.client_secret = client_id, client_secret
        self.max_retries, self.max_wait, self._sleep = max_retries, max_wait, sleep
        self._bearer = token
        self.pages = 0
        self.retries = 0
        self.caught_up = False

    async def fetch_token(self) -> str:
        """A Management API token by the client-credentials grant."""
        body = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "audience": f"https://{self.domain}/api/v2/",
        }
        try:
            async with self.session.post(f"{self.base}/oauth/token", json=body) as response:
                payload = await _json(response)
                if response.status != 200:
                    reason = (
                        payload.get("error_description") or payload.get("error") if isinstance(payload, dict) else None
                    )
                    raise ManagementApiError(
                        f"{self.domain} refused the client credentials ({response.status}"
                        f"{': ' + str(reason) if reason else ''}); check client_id and client_secret and that "
                        "the application is authorized for the Management API"
                    ).naming("client_id", "client_secret")
        except aiohttp.ClientError as error:
            raise ManagementApiError(
                f"cannot reach {self.base}/oauth/token ({error.__class__.__name__}); check domain and the network"
            ).naming("domain") from error
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise ManagementApiError(f"{self.domain}'s token endpoint answered without an access_token")
        return token

    async def log_pages(
        self, from_log_id: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> AsyncIterator[list[Any]]:
        """Each non-empty page of logs after ``from_log_id`` (else from the oldest), in order, until
        caught up or no next link; a page is the JSON array Auth0 sent."""
        if not 1 <= int(page_size) <= MAX_PAGE_SIZE:
            raise SettingError(
                f"page_size must be between 1 and {MAX_PAGE_SIZE} (Auth0's page limit), not {page_size}", "page_size"
            )
        query: dict[str, Any] = {"take": int(page_size)}
        if from_log_id:
            query["from"] = from_log_id
        url = f"{self.base}/api/v2/logs?{urlencode(query)}"
        if self._bearer is None:
            self._bearer = await self.fetch_token()
        while True:
            payload, next_url = await self._get_page(url)
            self.pages += 1
            if not payload:
                self.caught_up = True
                return
            yield payload
            if not next_url:
                return  # nothing to follow: the caller's checkpoint is where to resume
            if next_url == url:
                self.caught_up = True
                return
            if not _same_origin(next_url, self.base):
                raise ManagementApiError(
                    f"refusing to follow a next-page link to another host ({urlsplit(next_url).hostname})"
                )
            url = next_url

    async def _get_page(self, url: str) -> tuple[list[Any], str | None]:
        """One page with its retries: ``(logs, next link)``."""
        headers = {"Accept": "application/json", "User-Agent": f"authviz/{__version__}"}
        domain = self.domain
        attempt = 0
        refreshed = False
        while True:
            try:
                async with self.session.get(
                    url, headers={**headers, "Authorization": f"Bearer {self._bearer}"}
                ) as response:
                    status = response.status
                    payload = await _json(response)
                    link = response.links.get("next", {}).get("url")
                    next_url = str(link) if link is not None else None
                    response_headers: Mapping[str, str] = response.headers
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                status, payload, next_url, response_headers = -1, None, None, {}
                network_error: Exception | None = error
            else:
                network_error = None
            if status == 200:
                if not isinstance(payload, list):
                    raise ManagementApiError(
                        f"{domain} answered the checkpoint request without a JSON array; is domain an Auth0 tenant?"
                    ).naming("domain")
                return payload, next_url
            if status == 401 and self.client_id and self.client_secret and not refreshed:
                self._bearer, refreshed = await self.fetch_token(), True
                continue
            if status in (401, 403):
                message = payload.get("message") if isinstance(payload, dict) else None
                raise ManagementApiError(
                    f"{domain} refused the token ({status}{': ' + message if message else ''}); "
                    "check that it is a Management API token with the read:logs scope"
                )
            if status == 429 or status == -1 or status >= 500:
                attempt += 1
                self.retries += 1
                delay = retry_delay(response_headers, time.time(), attempt - 1)
                if attempt > self.max_retries:
                    what = (
                        "the rate limit"
                        if status == 429
                        else ("the network" if status == -1 else f"server errors ({status})")
                    )
                    raise ManagementApiError(
                        f"gave up after {self.max_retries} retries because of {what}; "
                        "run the same command again later: it resumes from the last saved log"
                    )
                if delay > self.max_wait:
                    raise ManagementApiError(
                        f"{domain}'s rate limit resets in {math.ceil(delay)} s (more than max_wait "
                        f"{self.max_wait:g} s); run the same command again later: it resumes from the last saved log"
                    ).naming("max_wait")
                await self._sleep(delay)
                continue
            message = payload.get("message") if isinstance(payload, dict) else None
            raise ManagementApiError(
                f"{domain} answered {status} to the logs request"
                + (f": {message}" if message else "")
                + (f" ({network_error})" if network_error else "")
            )
