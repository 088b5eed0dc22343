"""What a stored event publishes, as pure data (no I/O): the bridge's publishing rules.

For each newly stored event:

1. ``auth-event`` on ``private-auth0-events``: the normalised event (``AuthEvent.to_dict()``) plus
   ``seq`` (the history cursor) and ``received_at``. ``raw`` is included while the encoded
   payload stays within ``max_data_bytes`` (Pusher refuses data over 10 KB); beyond that ``raw``
   is ``null`` and ``"raw_truncated": true`` (the full record stays in the history).
2. On the tutorial feed channel ``auth0``: ``user-signedUp`` for a sign-up (``ss``) and
   ``user-loggedIn`` for a successful login (category ``login_success``), with the payload the
   original Rule sent (the user profile plus ``country``): ``email``, ``updated_at``, ``country``,
   ``app_metadata.signedUp`` (absent for a sign-up, ``true`` for a log-in: the feed prints
   "Sign Up:" / "Log In:" from it), ``user_id``, ``name``/``nickname``/``picture`` where known.
3. Session events (logout, password change, user blocked) with a ``user_id``: ``session-event``
   on ``user_channel(user_id)`` AND sent to the user (``#server-to-user-{id}``), as the
   auth0-session-events sample does for single sign-out.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import orjson

from authviz.topics import (
    AUTH_EVENT,
    EVENTS_CHANNEL,
    FEED_CHANNEL,
    LOGGED_IN_EVENT,
    SESSION_EVENT,
    SIGNED_UP_EVENT,
    USER_CHANNEL_PREFIX,
    user_channel,
)

from .store import StoredEvent

__all__ = [
    "DEFAULT_MAX_DATA_BYTES",
    "Publication",
    "SESSION_CATEGORIES",
    "feed_drafts",
    "feed_payload",
    "feed_publication",
    "publications_for",
    "session_payload",
    "signin_user_id",
]

#: Pusher's limit on one event's data (bytes of the JSON string).
DEFAULT_MAX_DATA_BYTES = 10_000

#: Categories that are session events for the affected user -> the ``kind`` they are sent as.
SESSION_CATEGORIES: dict[str, str] = {
    "logout": "logout",
    "password_change": "password_change",
    "blocked": "blocked",
}
#: Type codes treated as session events whatever their category.
SESSION_TYPES: dict[str, str] = {
    "slo": "logout",
    "scp": "password_change",
    "limit_wc": "blocked",
    "limit_mu": "blocked",
    "limit_sul": "blocked",
}
SIGNUP_TYPES = frozenset({"ss"})


class Publication(NamedTuple):
    """One event to publish. ``user_id`` set means "send to this user" (channels is empty).

    A named tuple (immutable, and built several times per event on the webhook's hot path).
    """

    event: str
    data: str
    channels: tuple[str, ...] = ()
    user_id: str | None = None
    #: The stored event this publishes (None for chat): lets the queue report progress.
    seq: int | None = None


def signin_user_id(user_id: str) -> str:
    """The id a user signs in to Pusher with (``pusher:signin``) and receives send-to-user on.

    Pusher only accepts channel-name characters in sign-in ids, and Auth0 ids contain ``|``:
    the id is escaped exactly as in :func:`authviz.topics.user_channel` (``auth0|abc`` ->
    ``auth0=7Cabc``).
    """
    return user_channel(user_id)[len(USER_CHANNEL_PREFIX) :]


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def feed_payload(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The tutorial Rule's payload for a sign-up or log-in event; ``None`` for anything else.

    Built from the normalised event alone (log entries carry no profile picture: the picture is
    the e-mail's Gravatar, Auth0's default for database users).
    """
    type_ = event.get("type")
    if type_ in SIGNUP_TYPES:
        signed_up = False
    elif event.get("category") == "login_success":
        signed_up = True
    else:
        return None
    user_name = event.get("user_name")
    email = event.get("email") or (user_name if isinstance(user_name, str) and "@" in user_name else None)
    payload: dict[str, Any] = {
        "user_id": event.get("user_id"),
        "email": email,
        "name": user_name or email,
        "nickname": (email.split("@")[0] if isinstance(email, str) else user_name),
        "updated_at": event.get("timestamp"),
        "country": event.get("country_name"),
        "app_metadata": {"signedUp": True} if signed_up else {},
    }
    if isinstance(email, str) and email:
        payload["picture"] = gravatar_url(email)
    return payload


@lru_cache(maxsize=4096)
def gravatar_url(email: str) -> str:
    """The Gravatar picture of an e-mail address (Auth0's default picture for database users)."""
    digest = hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
    return f"https://s.gravatar.com/avatar/{digest}?s=480&r=pg&d=identicon"


def session_payload(stored: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """``(user_id, payload)`` when the event is a session event for one user, else ``None``."""
    user_id = stored.get("user_id")
    if not user_id:
        return None
    kind = SESSION_TYPES.get(stored.get("type") or "") or SESSION_CATEGORIES.get(stored.get("category") or "")
    if kind is None:
        return None
    return user_id, {
        "kind": kind,
        "type": stored.get("type"),
        "user_id": user_id,
        "timestamp": stored.get("timestamp"),
        "description": stored.get("description"),
        "event_id": stored.get("event_id"),
        "seq": stored.get("seq"),
    }


def feed_publication(event: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(event name, data)`` of the tutorial feed publication of an event, or ``None``."""
    if event.get("type") not in SIGNUP_TYPES and event.get("category") != "login_success":
        return None
    payload = feed_payload(event)
    if payload is None:
        return None
    return (LOGGED_IN_EVENT if payload["app_metadata"] else SIGNED_UP_EVENT), _dumps(payload)


def feed_drafts(events: Iterable[Any]) -> dict[str, tuple[str, str] | None]:
    """:func:`feed_publication` of rows not stored yet (``log_id`` -> it): the feed does not
    depend on the seq, so it can be built while the store commits (see :func:`publications_for`)."""
    return {row.log_id: feed_publication(row.event) for row in events}


_NOT_DRAFTED = object()


def publications_for(
    stored_events: Iterable[StoredEvent],
    *,
    max_data_bytes: int = DEFAULT_MAX_DATA_BYTES,
    feed: bool = True,
    feeds: Mapping[str, tuple[str, str] | None] | None = None,
) -> list[Publication]:
    """Every publication for the given newly stored events, in their order.

    ``feed=False`` leaves out the tutorial feed (when the Auth0 Action publishes it instead).
    ``feeds``: the events' feed publications built beforehand by :func:`feed_drafts` (the same
    result; events missing from it get theirs built here).
    """
    out: list[Publication] = []
    append = out.append
    received_json: dict[str, str] = {}  # received_at -> its JSON text (one per commit)
    for stored in stored_events:
        seq = stored.seq
        event_json, raw = stored.event_json, stored.raw
        if event_json is not None and len(event_json) > 2 and raw is not None:
            # StoredEvent.to_json(), spelled out with the batch's received_at encoded once
            received = received_json.get(stored.received_at)
            if received is None:
                received = received_json[stored.received_at] = _dumps(stored.received_at)
            data = f'{event_json[:-1]},"seq":{int(seq)},"received_at":{received},"raw":{raw}}}'
        else:
            data = stored.to_json()
        # a code point is at most 4 bytes of UTF-8: only long texts need encoding to be sized
        if len(data) * 4 > max_data_bytes and len(data.encode()) > max_data_bytes:
            slim = stored.to_json_dict(include_raw=False)
            slim["raw"] = None
            slim["raw_truncated"] = True
            data = _dumps(slim)
            if len(data.encode()) > max_data_bytes:
                data = None  # too big even without raw: the history has it
        if data is not None:
            append(Publication(AUTH_EVENT, data, (EVENTS_CHANNEL,), seq=seq))
        event = stored.event
        type_ = event.get("type")
        category = event.get("category")
        if feed and (type_ in SIGNUP_TYPES or category == "login_success"):
            drafted = _NOT_DRAFTED if feeds is None else feeds.get(stored.log_id, _NOT_DRAFTED)
            publication = feed_publication(event) if drafted is _NOT_DRAFTED else drafted
            if publication is not None:
                append(Publication(publication[0], publication[1], (FEED_CHANNEL,), seq=seq))
        if event.get("user_id") and (type_ in SESSION_TYPES or category in SESSION_CATEGORIES):
            session = session_payload({**event, "seq": seq})
            if session is not None:
                user_id, payload = session
                body = _dumps(payload)
                append(Publication(SESSION_EVENT, body, (user_channel(user_id),), seq=seq))
                append(Publication(SESSION_EVENT, body, user_id=signin_user_id(user_id), seq=seq))
    return out
