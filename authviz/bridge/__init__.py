"""authviz.bridge: where Auth0 activity enters the system and where identity is checked.

Auth0 Log Stream ──POST /auth0/logs──> parse ──> SQLite (committed) ──> publish (hub or Pusher API)

Mounted on ``authviz serve`` (same port as the hub; in-process publishing) or run alone with
``authviz bridge --pusher-url URL`` in front of Pusher Channels or soketi (signed HTTP API).

HTTP contracts
==============

``POST /auth0/logs`` (Auth0 Log Streaming custom webhook)
    ``Authorization: <token>`` (verbatim, as Auth0 sends it) or ``Authorization: Bearer <token>``;
    compared in constant time, else **401**. Body: JSON lines, a JSON array or one JSON object of
    log records (also EventBridge envelopes and Management API entries); larger than
    ``--max-log-body`` -> **413**; no readable record at all -> **400** ``{"error", "reasons"}``
    and nothing is written. Otherwise the good records are committed (fsynced) and the refused
    ones quarantined with their reason, in ONE transaction, *before* the answer
    **200** ``{"received", "stored", "duplicates", "quarantined", "last_seq"}``. Idempotent by
    ``log_id``: a retried batch stores nothing twice and publishes nothing twice. Events stored
    but not yet published when the process died are published at the next start (at least once;
    up to ~1 s of events may be published twice: drop repeats by ``seq``).

``GET /auth0/events?after=SEQ&limit=N`` (history; backfill after a reconnect)
    Authorized by the log-stream token (as above) or ``Authorization: Bearer <JWT>`` of a
    verified user granted ``read:auth_events`` (the token's ``permissions`` or ``scope`` claim;
    :attr:`ChannelPolicy.events_permission`); no credentials -> 401, bad ones or no permission
    -> 403. ``after`` defaults to 0, ``limit`` to
    100 (1..1000). Answer::

        {"events": [EVENT, ...], "last_seq": 42, "more": false}

    ``EVENT`` is ``AuthEvent.to_dict()`` (every column of :data:`authviz.auth0.schema.COLUMNS`,
    ``timestamp`` ISO 8601 ``...Z``, ``event_id`` = Auth0 ``log_id``, ``raw`` = the record as a
    JSON object) plus ``seq`` (int, strictly increasing, gaps possible: the cursor) and ``received_at``. Events
    come in ``seq`` order; ask again with ``after=last_seq`` while ``more`` is true. The live
    ``auth-event`` on ``private-auth0-events`` carries exactly the same object (``raw`` is
    ``null`` with ``"raw_truncated": true`` when the event would exceed Pusher's 10 KB), so a
    client drops duplicates by ``seq`` (or ``event_id``) and backfills with ``after=<last seq seen>``.

``GET /auth0/events/head`` (where "now" is in the history)
    Same authorization. ``{"last_seq": 42, "event_id": "<log_id>"}`` of the newest stored event
    (``0`` and ``null`` when the history is empty), read once: every event stored after the answer
    has a larger ``seq``. A live client that starts "from now" subscribes to the live channel
    first, then asks this once, then reads ``/auth0/events?after=last_seq`` after any drop.

``GET /auth0/listeners``
    Same authorization. ``{"channels": {name: {"subscription_count", "users"?}}, "publishing":
    {"pending", "published", "dropped", "failed"}}``.

``POST /pusher/auth``, ``POST /pusher/user-auth`` (form-encoded ``socket_id``, ``channel_name``)
    ``Authorization: Bearer <JWT>``: RS256 only, key from the issuer's
    ``/.well-known/jwks.json``, issuer, audience and expiry checked; anything else -> bare 403.
    Channel policy (:mod:`.policy`): ``private-user-{escaped id}`` only for that user,
    ``presence-chat``/``presence-chat-*`` for any verified user, ``private-auth0-events`` for a
    verified user granted ``read:auth_events``, everything else refused. Presence ``user_info`` = ``{name, picture}`` from the token's claims.
    Sign-in (user-auth) ids are the Auth0 id escaped like the user channel (``auth0|abc`` ->
    ``auth0=7Cabc``; see :func:`.publications.signin_user_id`), because Pusher allows only
    channel characters there; session events are sent to that id. JSONP: ``GET`` with
    ``callback`` (a strict JS identifier, else 400) and the token in ``Authorization`` or the
    ``access_token`` query parameter.

``POST /chat/messages`` (``{"text"}`` JSON or form) / ``GET /chat/messages?after=ID&limit=N``
    Verified JWT only; the author is the token's subject. Text is stored raw (never escaped here:
    renderers escape). Published as ``message-added`` on ``presence-chat``.

Dev identity (``authviz serve --dev-identity``): ``GET /.well-known/jwks.json`` and
``POST /dev/token`` (loopback only, ``user=alice``); ``authviz token --user alice`` signs with the
key in ``.authviz/dev-identity.pem``. Tokens go through the very same verifier.
"""

from .app import Bridge, BridgeConfig, valid_callback
from .devidentity import DevIdentity, dev_user_claims
from .identity import Identity, InvalidToken, TokenVerifier
from .policy import ChannelPolicy, Decision
from .publications import Publication, feed_payload, publications_for, session_payload, signin_user_id
from .publish import (
    HttpPublisher,
    HubPublisher,
    PublishError,
    PublishQueue,
    PublishRefused,
    PusherCredentials,
)
from .store import EventStore, StoredEvent, StoreError

__all__ = [
    "Bridge",
    "BridgeConfig",
    "ChannelPolicy",
    "Decision",
    "DevIdentity",
    "EventStore",
    "HttpPublisher",
    "HubPublisher",
    "Identity",
    "InvalidToken",
    "Publication",
    "PublishError",
    "PublishQueue",
    "PublishRefused",
    "PusherCredentials",
    "StoreError",
    "StoredEvent",
    "TokenVerifier",
    "dev_user_claims",
    "feed_payload",
    "publications_for",
    "session_payload",
    "signin_user_id",
    "valid_callback",
]
