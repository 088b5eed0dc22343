"""The bridge's HTTP API as its callers see it: the one client every caller uses.

Callers: the live client's history (``GET /auth0/events``, ``/auth0/events/head``) and channel
authorization (``POST /pusher/auth``, ``/pusher/user-auth``), the notebook session (dev tokens,
chat, posting log records), ``authviz token --server``, ``authviz simulate`` and the demo's
readiness check. The server side and its contracts: :mod:`authviz.bridge`.

Two layers, the way the server keeps ``pusher/protocol.py`` apart from its sockets:

* pure request/answer functions for ``POST /auth0/logs`` (:func:`logs_body`,
  :func:`logs_headers`, :func:`read_logs_answer`), so the blocking client here and the
  simulator's asyncio poster post log records exactly one way;
* :class:`BridgeClient`, blocking (urllib; call it from a worker thread, never from a websocket
  thread or an event loop), which raises :class:`BridgeError` with the HTTP status (``None``
  when the bridge could not be reached) and one sentence.

Invariants: TLS is verified (``ssl_context`` when given, else the system's trust store);
credentials go only with the requests they are given for and, on a redirect, never to another
origin (scheme, host, port): there only ``Accept``, ``Content-Type`` and ``User-Agent`` follow.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from authviz.errors import AuthvizError

__all__ = ["LOGS_PATH", "BridgeClient", "BridgeError", "logs_body", "logs_headers", "read_logs_answer", "same_origin"]

#: The Auth0 Log Streaming webhook of the bridge.
LOGS_PATH = "/auth0/logs"
#: How log records are posted: JSON lines.
LOGS_CONTENT_TYPE = "application/x-ndjson"
#: Headers kept on a redirect to another origin (compared lower-case).
_HARMLESS = frozenset({"accept", "content-type", "user-agent"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BridgeError(AuthvizError):
    """The bridge refused a request (``status``: its HTTP status) or could not be reached
    (``status`` is None); ``reason`` is the bridge's own reason when it gave one."""

    def __init__(self, message: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


# ----------------------------------------------------------------------------- pure parts


def server_reason(status: int, body: bytes | str, fallback: str = "") -> str:
    """The server's reason from an error body: a JSON ``error``/``message``, else the text without
    aiohttp's ``"404: "`` prefix, on one line, at most 200 characters (``fallback`` when empty)."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        doc = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error") or doc.get("message"), str):
        text = doc.get("error") or doc.get("message")
    text = " ".join(text.split())
    prefix = f"{status}:"
    if text.startswith(prefix):
        text = text[len(prefix) :].strip()
    return text[:200] or fallback


def logs_body(records: Iterable[Any]) -> bytes:
    """Log records as the body of ``POST /auth0/logs``: one JSON line each."""
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def logs_headers(log_token: str) -> dict[str, str]:
    """The headers of ``POST /auth0/logs``: the log-stream token verbatim, as Auth0 sends it."""
    return {"Authorization": log_token, "Content-Type": LOGS_CONTENT_TYPE, "Accept": "application/json"}


def logs_url(target: str) -> str:
    """The webhook URL of ``target``: ``/auth0/logs`` of a bridge's base URL; a URL with a path is
    taken as the webhook's own URL."""
    if urllib.parse.urlsplit(target).path in ("", "/"):
        return target.rstrip("/") + LOGS_PATH
    return target


def read_logs_answer(status: int, body: bytes | str, url: str, *, target_setting: str | None = None) -> dict[str, Any]:
    """The bridge's answer to ``POST /auth0/logs``: its counts (``received``, ``stored``,
    ``duplicates``, ``quarantined``, ``last_seq``) on 200, else :class:`BridgeError`.

    A 5xx is a :class:`BridgeError` too (``status`` >= 500: worth a retry); 401, 404 and the
    refusals of the batch (400, 405, 413) are not worth one. ``target_setting`` names the setting
    that chose ``url`` (for the 404 sentence).
    """
    if status == 200:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            raise BridgeError(f"{url} answered 200 without the bridge's JSON counts; is it an authviz bridge?", 200)
        return doc
    reason = server_reason(status, body)
    if status == 401:
        raise BridgeError(
            f"{url} refused the token (HTTP 401); pass the log-stream token the bridge was started with.", 401, reason
        )
    if status == 404:
        error = BridgeError(
            f"{url} answered HTTP 404 (not found): no log-stream webhook there; give the "
            f"server's base URL or its {LOGS_PATH} URL" + (f" ({target_setting})." if target_setting else "."),
            404,
            reason,
        )
        raise error.naming(target_setting) if target_setting else error
    if status in (400, 405, 413):
        raise BridgeError(f"{url} refused the batch with HTTP {status} ({reason}).", status, reason)
    raise BridgeError(f"{url} answered HTTP {status}" + (f" ({reason})" if reason else "") + ".", status, reason)


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


# ----------------------------------------------------------------------------- blocking client


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirect handling (which copies every header), minus credentials on a redirect
    to another origin."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
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
    handlers: list[Any] = [_SameOriginRedirects()]
    if ssl_context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=ssl_context))
    return urllib.request.build_opener(*handlers)


@dataclass(frozen=True, slots=True)
class Answer:
    """A 2xx answer: its status and body."""

    status: int
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


class BridgeClient:
    """Requests to one bridge (``base_url``, e.g. ``http://127.0.0.1:6001``), blocking.

    ``bearer``: a user's token (``Authorization: Bearer ...``) for the routes that need one;
    ``headers``: more headers for every request; ``timeout`` seconds per request. ``requests``
    counts the requests made.
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        bearer: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        if bearer:
            self.headers["Authorization"] = f"Bearer {bearer}"
        self.timeout = timeout
        self.requests = 0
        self._opener = opener(ssl_context)

    def __repr__(self) -> str:  # never the token
        return f"BridgeClient({self.base_url!r})"

    def url(self, path: str) -> str:
        """``path`` on this bridge (an absolute URL is kept as it is)."""
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Answer:
        """One request; a 2xx :class:`Answer`, else :class:`BridgeError` (with the status, or
        None when the bridge could not be reached)."""
        url = self.url(path)
        request = urllib.request.Request(
            url, data=body, method=method, headers={"Accept": "application/json", **self.headers, **(headers or {})}
        )
        self.requests += 1
        try:
            with self._opener.open(request, timeout=self.timeout if timeout is None else timeout) as response:
                return Answer(response.status, response.read())
        except urllib.error.HTTPError as error:
            try:
                text = error.read()
            except OSError:
                text = b""
            reason = server_reason(error.code, text, str(error.reason or ""))
            where = urllib.parse.urlsplit(url).path or "/"
            raise BridgeError(
                f"the bridge answered {error.code} to {method} {where}: {reason}", error.code, reason
            ) from None
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            reason = str(getattr(error, "reason", None) or error)
            raise BridgeError(f"the bridge at {url} could not be reached ({reason})", None, reason) from None

    def post_form(self, path: str, fields: Mapping[str, str] | Sequence[tuple[str, str]]) -> Answer:
        """``POST`` of a form (``application/x-www-form-urlencoded``; pairs may repeat a name)."""
        return self.request(
            "POST",
            path,
            body=urllib.parse.urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def post_json(self, path: str, document: Any) -> Answer:
        return self.request("POST", path, body=orjson.dumps(document), headers={"Content-Type": "application/json"})

    # -- the bridge's routes -----------------------------------------------------------------
    def dev_token(self, user: str, permissions: Iterable[str] = ()) -> str:
        """A token for ``user`` (granted ``permissions``) from the dev identity (``POST /dev/token``;
        loopback only)."""
        fields = [("user", user), *(("permission", permission) for permission in permissions)]
        doc = self.post_form("/dev/token", fields).json()
        token = doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise BridgeError(f"{self.url('/dev/token')} answered without an access_token", 200)
        return token

    def post_logs(self, records: Iterable[Any], log_token: str, *, target: str | None = None) -> dict[str, Any]:
        """Post log records to ``POST /auth0/logs`` (of ``target``, a base or webhook URL, else of
        this bridge); the bridge's counts."""
        url = logs_url(target or self.base_url)
        request = urllib.request.Request(url, data=logs_body(records), method="POST", headers=logs_headers(log_token))
        self.requests += 1
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return read_logs_answer(response.status, response.read(), url)
        except urllib.error.HTTPError as error:
            return read_logs_answer(error.code, error.read(), url)
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            reason = str(getattr(error, "reason", None) or error)
            raise BridgeError(f"the bridge at {url} could not be reached ({reason})", None, reason) from None

    def chat_messages(self, limit: int = 100) -> list[Mapping[str, Any]]:
        doc = self.request("GET", f"/chat/messages?limit={int(limit)}").json()
        return list(doc.get("messages", [])) if isinstance(doc, dict) else []

    def send_chat(self, text: str) -> Any:
        return self.post_json("/chat/messages", {"text": text}).json()

    def ready(self, timeout: float = 1.0) -> bool:
        """Whether the bridge answers its history with these credentials now."""
        try:
            self.request("GET", "/auth0/events?limit=1", timeout=timeout)
        except BridgeError:
            return False
        return True
