"""The bridge's event history over HTTP: ``GET /auth0/events?after=SEQ&limit=N``.

Contract (``authviz.bridge``): ``{"events": [EVENT, ...], "last_seq": int, "more": bool}``, events
in ``seq`` order, each the very object the live ``auth-event`` carries (``AuthEvent.to_dict()`` plus
``seq`` and ``received_at``); ask again with ``after=last_seq`` while ``more``. The newest stored
seq comes from ``GET {url}/head`` (``{"last_seq": int, "event_id": str | null}``), one read of the
store; a bridge without that route (older, 404) is searched instead (see :meth:`HistoryClient.head`).

Blocking I/O (urllib, ``timeout`` per request): call it from a worker thread, never from the
websocket thread. Every failure is a :class:`HistoryError` with one sentence.
"""

from __future__ import annotations

import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from authviz.bridgeclient import BridgeClient, BridgeError
from authviz.live.errors import HistoryError

__all__ = ["HistoryClient", "HistoryPage", "head_url", "parse_head", "parse_page"]

#: the bridge refuses ``limit`` above this
MAX_PAGE = 1000
#: the largest ``after`` the bridge accepts (its seq is a SQLite integer)
MAX_SEQ = 2**63 - 1


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of the history: ``events`` (dicts, in seq order), the cursor, and whether more follow."""

    events: list[dict[str, Any]]
    last_seq: int
    more: bool


def parse_page(body: bytes, url: str) -> HistoryPage:
    """The page in ``body``; :class:`HistoryError` naming ``url`` when it is not the documented shape."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("events"), list)
        or not isinstance(doc.get("last_seq"), int)
        or isinstance(doc.get("last_seq"), bool)
        or not isinstance(doc.get("more"), bool)
        or not all(isinstance(e, dict) for e in doc["events"])
    ):
        raise HistoryError(
            f'The history {url} answered without the expected {{"events": [...], "last_seq", "more"}} object.'
        )
    return HistoryPage(doc["events"], doc["last_seq"], doc["more"])


def parse_head(body: bytes, url: str) -> int:
    """``last_seq`` of a ``/head`` answer; :class:`HistoryError` naming ``url`` for another shape."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    seq = doc.get("last_seq") if isinstance(doc, dict) else None
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
        raise HistoryError(f'The history head {url} answered without the expected {{"last_seq"}} object.')
    return seq


def head_url(url: str) -> str:
    """The head route of the history at ``url`` (``.../auth0/events`` -> ``.../auth0/events/head``),
    keeping its query string."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/head"))


class HistoryClient:
    """Reads the bridge's history at ``url`` with ``headers`` (``Authorization: Bearer ...``).

    ``page_size`` events per request (1..1000); ``timeout`` seconds per request.
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        page_size: int = 500,
        timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE}")
        self.url = url
        self.headers = dict(headers or {})
        self.page_size = page_size
        self.timeout = timeout
        self.requests = 0
        #: whether the bridge answers ``GET {url}/head`` (None: not asked yet; False: an older
        #: bridge without it, so :meth:`head` searches)
        self.head_endpoint: bool | None = None
        # https with ssl_context (e.g. trusting PUSHER_CA_FILE), else the system's trust store;
        # never the token to another origin on a redirect (authviz.bridgeclient)
        self._bridge = BridgeClient(headers=self.headers, timeout=timeout, ssl_context=ssl_context)

    def __repr__(self) -> str:  # never the token
        return f"HistoryClient(url={self.url!r}, page_size={self.page_size})"

    def fetch(self, after: int, limit: int | None = None) -> HistoryPage:
        """Events with ``seq > after`` (at most ``limit``, default ``page_size``)."""
        query = urllib.parse.urlencode({"after": max(0, int(after)), "limit": limit or self.page_size})
        sep = "&" if urllib.parse.urlsplit(self.url).query else "?"
        return parse_page(self._get(f"{self.url}{sep}{query}", self.url), self.url)

    def _get(self, url: str, label: str) -> bytes:
        self.requests += 1
        try:
            return self._bridge.request("GET", url, timeout=self.timeout).body
        except BridgeError as error:
            if error.status is None:
                raise HistoryError(
                    f"The history {label} could not be reached ({error.reason}); retrying with back-off."
                ) from None
            hint = {
                401: " (no credentials: set AUTHVIZ_HISTORY_TOKEN)",
                403: " (check AUTHVIZ_HISTORY_TOKEN)",
                404: " (is it an authviz bridge? set AUTHVIZ_HISTORY_URL)",
            }.get(error.status, "")
            raise HistoryError(
                f"The history {label} answered HTTP {error.status}{hint}; retrying with back-off.", status=error.status
            ) from None

    def head(self) -> int:
        """The highest seq stored now (0 for an empty history), read in ONE request.

        ``GET {url}/head`` is one read of the store: every event stored after the answer has a
        larger seq. A bridge without that route (an older one: 404) is searched instead, and
        remembered as such; the search spans several requests, so an event stored meanwhile
        may count as before its answer.
        """
        if self.head_endpoint is not False:
            url = head_url(self.url)
            try:
                seq = parse_head(self._get(url, url), url)
            except HistoryError as error:
                if error.status != 404:
                    raise
                self.head_endpoint = False
            else:
                self.head_endpoint = True
                return seq
        return self.search_head()

    def search_head(self) -> int:
        """:meth:`head` for a bridge without ``/head``: ``after=n`` returns an event iff the highest
        seq exceeds ``n`` (seqs only grow), so an exponential then binary search finds it with
        about ``2*log2(head)`` one-event requests (not atomic: the head may move meanwhile)."""
        if not self.fetch(0, 1).events:
            return 0
        low, high = 0, 1  # invariant: something above low; (after the loop) nothing above high
        while self.fetch(high, 1).events:
            low, high = high, min(MAX_SEQ, high * 2)
            if low == MAX_SEQ:
                return MAX_SEQ
        while high - low > 1:
            middle = (low + high) // 2
            if self.fetch(middle, 1).events:
                low = middle
            else:
                high = middle
        return high
