"""The bridge's HTTP endpoints, mounted on an aiohttp application (the hub's, or its own).

Routes (contracts in :mod:`authviz.bridge`'s docstring):

=========================  ======================================  =============================
route                      who may call                            does
=========================  ======================================  =============================
POST /auth0/logs           the log-stream token                    store, then publish
GET  /auth0/events         the log-stream token, or a JWT granting history after a seq
                           ``read:auth_events`` (the setting
                           ``ChannelPolicy.events_permission``)
GET  /auth0/events/head    the same                                the newest stored seq
GET  /auth0/listeners      the same                                channels and their listeners
GET  /auth0/quarantine     the log-stream token                    latest refused records
POST /pusher/auth          a verified JWT (Bearer)                 channel authorization
POST /pusher/user-auth     a verified JWT (Bearer)                 user authentication (sign-in)
GET  /pusher/auth,         a verified JWT (Bearer or               JSONP variants (``callback``)
     /pusher/user-auth     ``access_token`` query parameter)
POST /chat/messages        a verified JWT                          store, then ``message-added``
GET  /chat/messages        a verified JWT                          chat history
GET  /.well-known/jwks.json  anyone (dev identity only)            the dev signing key
POST /dev/token            loopback clients (dev identity only)    mint a demo token
=========================  ======================================  =============================

Identity failures answer a bare 403 (no body); the reason goes to the debug log only.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from authviz.pusher import (
    PusherValidationError,
    authenticate_user,
    authorize_channel,
    is_presence_channel,
    presence_channel_data,
)
from authviz.topics import CHAT_CHANNEL, MESSAGE_ADDED_EVENT

from .devidentity import DEFAULT_AUDIENCE, DevIdentity
from .identity import Identity, InvalidToken, TokenVerifier, bearer_token
from .ingest import BodyRefused, prepare, warm_up
from .policy import ChannelPolicy
from .publications import (
    DEFAULT_MAX_DATA_BYTES,
    Publication,
    feed_drafts,
    publications_for,
    signin_user_id,
)
from .publish import PublishQueue
from .store import EventStore, StoreError

__all__ = ["Bridge", "BridgeConfig", "JSONP_CALLBACK", "valid_callback"]

log = logging.getLogger(__name__)

#: A JSONP callback: a JS identifier, or a dotted path of at most 4 identifiers (<= 64 chars each).
JSONP_CALLBACK = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]{0,63}(?:\.[A-Za-z_$][A-Za-z0-9_$]{0,63}){0,3}$")
_RESERVED = frozenset(
    "break case catch class const continue debugger default delete do else export extends "
    "finally for function if import in instanceof new return super switch this throw try "
    "typeof var void while with yield let static enum await implements package protected "
    "interface private public null true false".split()
)

PREFIXES = ("/auth0/", "/pusher/", "/chat/", "/dev/")

#: Headers a reverse proxy adds; their presence means "loopback" is not the real client.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP", "X-Forwarded-Proto", "Via")
#: A permission name (Auth0 allows letters, digits and ``: _ . -``; e.g. ``read:auth_events``).
_PERMISSION = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


def valid_callback(callback: str) -> bool:
    """True when ``callback`` is a strict JS identifier or dotted path (no keywords)."""
    if not isinstance(callback, str) or not JSONP_CALLBACK.match(callback):
        return False
    return not any(part in _RESERVED for part in callback.split("."))


@dataclass
class BridgeConfig:
    """Every bridge setting; every limit is a named field."""

    store_path: Path = Path(".authviz/bridge.sqlite3")
    #: The token Auth0 sends in ``Authorization`` (verbatim or as ``Bearer``). None refuses all.
    log_token: str | None = None
    #: Auth0 issuer (``https://TENANT.auth0.com/``) and API audience for user tokens.
    issuer: str | None = None
    audience: str = DEFAULT_AUDIENCE
    #: Pusher app credentials used to sign channel authorizations.
    app_key: str = ""
    app_secret: str = ""
    #: Largest webhook body accepted (bytes); more answers 413.
    max_body_bytes: int = 5 * 1024 * 1024
    #: Largest form / chat body accepted (bytes).
    max_form_bytes: int = 16 * 1024
    #: Bodies larger than this are parsed on a worker thread, not on the event loop.
    parse_offload_bytes: int = 256 * 1024
    #: Processes that parse webhook bodies (0: parse on the event loop). Parsing is most of the
    #: CPU per event; a worker process lets it run on another core than the loop and SQLite.
    parse_workers: int = 0
    history_default_limit: int = 100
    history_max_limit: int = 1000
    chat_max_chars: int = 1000
    chat_history_default: int = 50
    chat_history_max: int = 500
    max_data_bytes: int = DEFAULT_MAX_DATA_BYTES
    #: Origins allowed by CORS (exact ``scheme://host[:port]``); empty = no CORS headers at all.
    cors_origins: frozenset[str] = field(default_factory=frozenset)
    #: When set, POSTs to the auth and chat endpoints must carry this header (non-empty).
    csrf_header: str | None = None
    policy: ChannelPolicy = field(default_factory=ChannelPolicy)
    #: How often the publishing progress is recorded (seconds): after a crash, at most this much
    #: of already-published events is published again (at least once; clients dedupe by seq).
    mark_interval: float = 1.0
    #: Publish the tutorial feed (``user-signedUp``/``user-loggedIn`` on ``auth0``) from the logs.
    publish_feed: bool = True
    #: Let ``POST /dev/token`` answer requests carrying forwarding headers (``X-Forwarded-For``,
    #: ``Forwarded``, ...): only when a trusted proxy on this host fronts a demo on purpose.
    dev_token_behind_proxy: bool = False
    #: ``synchronous`` pragma of the store ("FULL": every commit is fsynced).
    synchronous: str = "FULL"


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return _json({"error": message, **extra}, status=status)


class _Misconfigured(Exception):
    """The server's own settings make a request impossible: answered 501 with one sentence."""


def _forbidden() -> web.Response:
    return web.Response(status=403)


def _is_loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """The body, or HTTPRequestEntityTooLarge when it exceeds ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    # StreamReader.read(n) returns whatever is buffered (at most n bytes), not n bytes:
    # keep reading until EOF, refusing as soon as the body passes the limit.
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)


class Bridge:
    """Holds the store, verifier and publish queue, and serves the routes above."""

    def __init__(
        self,
        config: BridgeConfig,
        store: EventStore,
        queue: PublishQueue,
        verifier: TokenVerifier,
        *,
        dev_identity: DevIdentity | None = None,
        listeners: Callable[[], Awaitable[Any]] | None = None,
        state_dir: Path | None = None,
        log_token_source: str = "",
    ) -> None:
        self.config = config
        self.store = store
        self.queue = queue
        self.verifier = verifier
        self.dev_identity = dev_identity
        self._listeners = listeners
        #: Where the dev-identity settings are recorded (the state directory).
        self.state_dir = state_dir
        #: Where the log-stream token came from, for the start-up message (never the token).
        self.log_token_source = log_token_source
        #: The address the server listens on (for the --public-feed warning); None: unknown.
        self.listen_host: str | None = None
        self._log_token = config.log_token.encode() if config.log_token else None
        self._parse_pool: Any = None
        self._marker: asyncio.Task[None] | None = None
        self._marked = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        """Add the routes and CORS handling to ``app``; the caller runs :meth:`start`/:meth:`stop`."""
        r = app.router
        r.add_post("/auth0/logs", self.post_logs)
        r.add_get("/auth0/events", self.get_events)
        r.add_get("/auth0/events/head", self.get_events_head)
        r.add_get("/auth0/listeners", self.get_listeners)
        r.add_get("/auth0/quarantine", self.get_quarantine)
        r.add_post("/pusher/auth", self.post_channel_auth)
        r.add_get("/pusher/auth", self.get_channel_auth_jsonp)
        r.add_post("/pusher/user-auth", self.post_user_auth)
        r.add_get("/pusher/user-auth", self.get_user_auth_jsonp)
        r.add_post("/chat/messages", self.post_chat)
        r.add_get("/chat/messages", self.get_chat)
        for path in (
            "/auth0/events",
            "/auth0/events/head",
            "/auth0/listeners",
            "/pusher/auth",
            "/pusher/user-auth",
            "/chat/messages",
        ):
            r.add_route("OPTIONS", path, self.preflight)
        if self.dev_identity is not None:
            r.add_get("/.well-known/jwks.json", self.get_jwks)
            r.add_post("/dev/token", self.post_dev_token)
        app.on_response_prepare.append(self._cors_headers)

    async def start(self) -> None:
        await self.store.open()
        if self.queue.reload is None:
            self.queue.reload = self._reload
        await self._resume_publishing()
        self.queue.start()
        self._marker = asyncio.get_running_loop().create_task(self._mark_published_loop())
        if self.config.parse_workers > 0:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: never fork a process that runs threads and an event loop
            self._parse_pool = ProcessPoolExecutor(
                self.config.parse_workers, mp_context=multiprocessing.get_context("spawn")
            )
            await asyncio.get_running_loop().run_in_executor(self._parse_pool, warm_up)

    async def stop(self) -> None:
        if self._marker is not None:
            self._marker.cancel()
            try:
                await self._marker
            except asyncio.CancelledError:
                pass
            self._marker = None
        await self.queue.stop()
        await self._mark_published()
        await self.store.close()
        if self._parse_pool is not None:
            self._parse_pool.shutdown(wait=True, cancel_futures=True)
            self._parse_pool = None

    # -- publishing progress (at least once across crashes) ------------------------------------

    async def _resume_publishing(self) -> None:
        """Publish, from the store, what was stored but not published before the last stop or
        crash (or during an outage of the Pusher server): everything after ``published_seq``."""
        published = await self.store.published_seq()
        self._marked = published
        last = await self.store.last_seq()
        self.queue.resume(published, last)
        if last > published:
            log.info("publishing events %d..%d stored before the last stop", published + 1, last)

    async def _reload(self, after: int, limit: int) -> tuple[list[Publication], int]:
        """The queue's ``reload``: publications of stored events after ``after``."""
        rows = await self.store.events_after(after, limit)
        if not rows:
            return [], after
        return (
            publications_for(rows, max_data_bytes=self.config.max_data_bytes, feed=self.config.publish_feed),
            rows[-1].seq,
        )

    async def _mark_published(self) -> None:
        handled = self.queue.handled_seq
        if handled > self._marked:
            await self.store.mark_published(handled)
            self._marked = handled

    async def _mark_published_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.mark_interval)
            try:
                await self._mark_published()
            except StoreError as error:
                log.warning("%s", error)

    # -- helpers -------------------------------------------------------------------------------

    def _log_token_ok(self, request: web.Request) -> bool:
        if self._log_token is None:
            return False
        header = request.headers.get("Authorization", "").strip()
        if not header:
            return False
        candidates = [header]
        token = bearer_token(header)
        if token is not None:
            candidates.append(token)
        ok = False
        for candidate in candidates:  # constant time per candidate, no early exit
            ok |= hmac.compare_digest(candidate.encode(), self._log_token)
        return ok

    async def _identity(self, request: web.Request, *, allow_query: bool = False) -> Identity | None:
        token = bearer_token(request.headers.get("Authorization"))
        if token is None and allow_query:
            token = request.query.get("access_token") or None
        if token is None:
            return None
        try:
            return await self.verifier.verify(token)
        except InvalidToken as error:
            log.debug("token refused: %s", error)
            return None

    def _csrf_ok(self, request: web.Request) -> bool:
        name = self.config.csrf_header
        return name is None or bool(request.headers.get(name, "").strip())

    async def _history_refusal(self, request: web.Request) -> web.Response | None:
        """None when the caller may read the history (the log-stream token, or a verified token
        granting the events permission); else the answer: 401 without credentials, 403 otherwise."""
        if self._log_token_ok(request):
            return None
        identity = await self._identity(request)
        if identity is not None and self.config.policy.may_read_events(identity.permissions):
            return None
        if identity is not None:
            log.debug(
                "history refused for %s: no %s permission", identity.user_id, self.config.policy.events_permission
            )
        return _forbidden() if request.headers.get("Authorization") else _error(401, "authorization required")

    def _int_param(self, request: web.Request, name: str, default: int, low: int, high: int) -> int:
        value = request.query.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise web.HTTPBadRequest(
                text=orjson.dumps({"error": f"{name} must be an integer, not {value[:40]!r}"}).decode(),
                content_type="application/json",
            ) from None
        if not low <= number <= high:
            raise web.HTTPBadRequest(
                text=orjson.dumps({"error": f"{name} must be between {low} and {high}"}).decode(),
                content_type="application/json",
            )
        return number

    # -- CORS ------------------------------------------------------------------------------------

    def _allowed_origin(self, request: web.Request) -> str | None:
        origin = request.headers.get("Origin")
        if origin and origin in self.config.cors_origins:
            return origin
        return None

    async def _cors_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        if not request.path.startswith(PREFIXES):
            return
        origin = self._allowed_origin(request)
        if origin is None:
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"

    async def preflight(self, request: web.Request) -> web.Response:
        origin = self._allowed_origin(request)
        if origin is None:
            return web.Response(status=403)
        allow = ["Authorization", "Content-Type"]
        if self.config.csrf_header:
            allow.append(self.config.csrf_header)
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": ", ".join(allow),
                "Access-Control-Max-Age": "600",
            },
        )

    # -- log stream --------------------------------------------------------------------------------

    async def post_logs(self, request: web.Request) -> web.Response:
        """Auth0 Log Streaming webhook: authorize, parse, store (committed), then publish."""
        if not self._log_token_ok(request):
            return _error(401, "the Authorization header does not carry the log-stream token")
        body = await _read_limited(request, self.config.max_body_bytes)
        try:
            if self._parse_pool is not None:
                ingest = await asyncio.get_running_loop().run_in_executor(self._parse_pool, prepare, body)
            elif len(body) > self.config.parse_offload_bytes:
                ingest = await asyncio.get_running_loop().run_in_executor(None, prepare, body)
            else:
                ingest = prepare(body)
        except BodyRefused as refused:
            return _error(400, str(refused), reasons=refused.reasons)
        config = self.config
        inserted: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            committed = self.store.submit_batch(ingest.events, ingest.rejects, inserted=inserted)
            # While the writer thread inserts: the feed payloads (they need no seq). While it
            # fsyncs: the publications (the seqs are known). Published only once committed.
            feeds = feed_drafts(ingest.events) if config.publish_feed else None
            try:
                written = await inserted
            except StoreError:
                await committed  # fails the same way (and its outcome is consumed)
                raise
            publications = publications_for(
                written.stored, max_data_bytes=config.max_data_bytes, feed=config.publish_feed, feeds=feeds
            )
            batch = await committed  # the same result object, now durable
        except StoreError as error:
            log.error("%s", error)
            return _error(503, "the event store is unavailable; retry later")
        self.queue.submit(publications)
        return _json(
            {
                "received": ingest.received,
                "stored": len(batch.stored),
                "duplicates": batch.duplicates + ingest.body_duplicates,
                "quarantined": batch.quarantined,
                "last_seq": batch.stored[-1].seq if batch.stored else None,
            }
        )

    async def get_events(self, request: web.Request) -> web.Response:
        refusal = await self._history_refusal(request)
        if refusal is not None:
            return refusal
        after = self._int_param(request, "after", 0, 0, 2**63 - 1)
        limit = self._int_param(request, "limit", self.config.history_default_limit, 1, self.config.history_max_limit)
        rows = await self.store.events_after(after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        body = b'{"events":[' + b",".join(row.to_json().encode() for row in rows) + b"]"
        last = rows[-1].seq if rows else after
        body += b',"last_seq":' + str(last).encode() + b',"more":' + (b"true" if more else b"false") + b"}"
        return web.Response(body=body, content_type="application/json")

    async def get_events_head(self, request: web.Request) -> web.Response:
        """``{"last_seq", "event_id"}`` of the newest stored event (``0``/``null`` when empty).

        One read of the store: every event stored after it has a larger seq, so a client that
        subscribed to the live channel before asking misses nothing after this point.
        """
        refusal = await self._history_refusal(request)
        if refusal is not None:
            return refusal
        seq, log_id = await self.store.head()
        return _json({"last_seq": seq, "event_id": log_id})

    async def get_listeners(self, request: web.Request) -> web.Response:
        refusal = await self._history_refusal(request)
        if refusal is not None:
            return refusal
        publishing = await self.publishing_status()
        channels: Any = {}
        if self._listeners is not None:
            try:
                channels = await self._listeners()
            except Exception as error:  # noqa: BLE001 - report, do not crash the endpoint
                return _error(502, f"cannot read the channel list: {error}", publishing=publishing)
        return _json({"channels": channels, "publishing": publishing})

    async def publishing_status(self) -> dict[str, Any]:
        """The queue's counts plus how far publishing is behind the store, and since when.

        ``stored_seq``: the newest stored event; ``behind``: stored events not yet published;
        ``behind_since``: when the oldest of them was received (null when none is behind).
        """
        status = self.queue.stats()
        stored_seq, _ = await self.store.head()
        published = status["published_seq"]
        status["stored_seq"] = stored_seq
        status["behind"] = max(0, stored_seq - published)
        status["behind_since"] = None
        if stored_seq > published:
            oldest = await self.store.events_after(published, 1, include_raw=False)
            if oldest:
                status["behind_since"] = oldest[0].received_at
        return status

    async def get_quarantine(self, request: web.Request) -> web.Response:
        if not self._log_token_ok(request):
            return _error(401, "the Authorization header does not carry the log-stream token")
        limit = self._int_param(request, "limit", 100, 1, 1000)
        return _json({"quarantine": await self.store.quarantine(limit)})

    # -- Pusher auth -------------------------------------------------------------------------------

    def _sign_channel(self, identity: Identity, socket_id: str, channel: str) -> dict[str, str] | None:
        decision = self.config.policy.decide(identity.user_id, channel, identity.permissions)
        if not decision:
            log.debug("channel %s refused for %s: %s", channel, identity.user_id, decision.reason)
            return None
        if channel.startswith("private-encrypted-"):
            # never allowed by ChannelPolicy; a hand-built policy gets a sentence, not a 500
            raise _Misconfigured(
                f"{channel} is an encrypted channel, which this bridge cannot "
                "authorize (it holds no encryption master key)"
            )
        channel_data = None
        if is_presence_channel(channel):
            channel_data = presence_channel_data(identity.user_id, identity.user_info() or None)
        return authorize_channel(
            self.config.app_key, self.config.app_secret, socket_id, channel, channel_data=channel_data
        )

    def _sign_user(self, identity: Identity, socket_id: str) -> dict[str, str]:
        user_data: dict[str, Any] = {"id": signin_user_id(identity.user_id)}
        info = identity.user_info()
        if info:
            user_data["user_info"] = info
        return authenticate_user(self.config.app_key, self.config.app_secret, socket_id, user_data)

    async def _form(self, request: web.Request) -> dict[str, str]:
        body = await _read_limited(request, self.config.max_form_bytes)
        return await self._form_from(request, body)

    async def _form_from(self, request: web.Request, body: bytes) -> dict[str, str]:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise web.HTTPBadRequest(text="the form is not UTF-8") from None
        ctype = request.content_type
        if ctype == "application/json":
            try:
                data = orjson.loads(text or "{}")
            except orjson.JSONDecodeError:
                raise web.HTTPBadRequest(text="the body is not JSON") from None
            if not isinstance(data, dict):
                raise web.HTTPBadRequest(text="the body is not a JSON object")
            return {k: v for k, v in data.items() if isinstance(v, str)}
        return dict(parse_qsl(text, keep_blank_values=True))

    async def post_channel_auth(self, request: web.Request) -> web.Response:
        if not self._csrf_ok(request):
            return _forbidden()
        form = await self._form(request)
        identity = await self._identity(request)
        if identity is None:
            return _forbidden()
        try:
            response = self._sign_channel(identity, form.get("socket_id", ""), form.get("channel_name", ""))
        except PusherValidationError as error:
            return _error(400, str(error))
        except _Misconfigured as error:
            log.warning("%s", error)
            return _error(501, str(error))
        return _forbidden() if response is None else _json(response)

    async def post_user_auth(self, request: web.Request) -> web.Response:
        if not self._csrf_ok(request):
            return _forbidden()
        form = await self._form(request)
        identity = await self._identity(request)
        if identity is None:
            return _forbidden()
        try:
            return _json(self._sign_user(identity, form.get("socket_id", "")))
        except PusherValidationError as error:
            return _error(400, str(error))

    def _jsonp(self, callback: str, payload: Mapping[str, Any] | None, status: int = 200) -> web.Response:
        # The callback was validated as a strict identifier; the payload is JSON (orjson escapes
        # nothing dangerous inside a script, and "</" cannot close a tag in application/javascript).
        body = callback.encode() + b"(" + (orjson.dumps(payload) if payload is not None else b"null") + b");"
        return web.Response(
            body=body,
            status=status,
            content_type="application/javascript",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    async def _jsonp_request(self, request: web.Request, sign: Callable[[Identity], Any]) -> web.Response:
        callback = request.query.get("callback", "")
        if not valid_callback(callback):
            return _error(
                400, "callback must be a JavaScript identifier (letters, digits, _ and $; dotted paths allowed)"
            )
        identity = await self._identity(request, allow_query=True)
        if identity is None:
            return self._jsonp(callback, None, status=403)
        try:
            response = sign(identity)
        except PusherValidationError as error:
            return _error(400, str(error))
        except _Misconfigured as error:
            log.warning("%s", error)
            return _error(501, str(error))
        if response is None:
            return self._jsonp(callback, None, status=403)
        return self._jsonp(callback, response)

    async def get_channel_auth_jsonp(self, request: web.Request) -> web.Response:
        q = request.query
        return await self._jsonp_request(
            request, lambda ident: self._sign_channel(ident, q.get("socket_id", ""), q.get("channel_name", ""))
        )

    async def get_user_auth_jsonp(self, request: web.Request) -> web.Response:
        q = request.query
        return await self._jsonp_request(request, lambda ident: self._sign_user(ident, q.get("socket_id", "")))

    # -- chat --------------------------------------------------------------------------------------

    async def post_chat(self, request: web.Request) -> web.Response:
        """A chat message: author from the verified token only; text stored raw."""
        if not self._csrf_ok(request):
            return _forbidden()
        identity = await self._identity(request)
        if identity is None:
            return _forbidden()
        form = await self._form(request)
        text = form.get("text")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "the message needs a non-empty text field")
        if len(text) > self.config.chat_max_chars:
            return _error(400, f"the message is {len(text)} characters; the limit is {self.config.chat_max_chars}")
        try:
            message = await self.store.add_chat_message(identity.user_id, identity.name, identity.picture, text)
        except StoreError as error:
            log.error("%s", error)
            return _error(503, "the chat store is unavailable; retry later")
        data = orjson.dumps(message.to_dict()).decode()
        self.queue.submit([Publication(MESSAGE_ADDED_EVENT, data, (CHAT_CHANNEL,))])
        return _json(message.to_dict(), status=201)

    async def get_chat(self, request: web.Request) -> web.Response:
        identity = await self._identity(request)
        if identity is None:
            return _forbidden()
        after = self._int_param(request, "after", 0, 0, 2**63 - 1)
        limit = self._int_param(request, "limit", self.config.chat_history_default, 1, self.config.chat_history_max)
        messages = await self.store.chat_messages(after=after, limit=limit)
        return _json({"messages": [m.to_dict() for m in messages]})

    # -- dev identity ------------------------------------------------------------------------------

    async def get_jwks(self, request: web.Request) -> web.Response:
        assert self.dev_identity is not None
        return _json(self.dev_identity.jwks(), headers={"Cache-Control": "public, max-age=300"})

    async def post_dev_token(self, request: web.Request) -> web.Response:
        """Mint a demo token: dev identity only, loopback clients only (and, unless
        ``dev_token_behind_proxy``, no forwarding headers: a reverse proxy on this host makes every
        remote client look like loopback). ``permission`` fields (repeatable) are granted."""
        assert self.dev_identity is not None
        if not _is_loopback(request) or self.verifier.issuer is None:
            return _forbidden()
        if not self.config.dev_token_behind_proxy and any(name in request.headers for name in FORWARDING_HEADERS):
            log.debug("/dev/token refused: the request carries forwarding headers")
            return _forbidden()
        body = await _read_limited(request, self.config.max_form_bytes)
        if request.content_type == "application/json":
            form = await self._form_from(request, body)
            fields = list(form.items())
            permissions = form.get("permissions", "").split()
        else:
            fields = parse_qsl(body.decode(errors="replace"), keep_blank_values=True)
            permissions = []
        permissions += [value for name, value in fields if name == "permission"]
        user = (dict(fields).get("user") or "").strip()
        if not user or len(user) > 64 or not re.fullmatch(r"[A-Za-z0-9_.@|-]+", user):
            return _error(400, "user must be 1-64 characters of letters, digits, _ . @ | -")
        if any(not _PERMISSION.fullmatch(p) for p in permissions) or len(permissions) > 32:
            return _error(400, "a permission is 1-128 characters of letters, digits and _ . : - (at most 32)")
        token = self.dev_identity.mint(
            user, issuer=self.verifier.issuer, audience=self.verifier.audience, permissions=permissions
        )
        return _json(
            {"access_token": token, "token_type": "Bearer", "user": user, "permissions": sorted(set(permissions))}
        )
