"""Channel kinds and names: what a channel *is*, decided by its name alone.

Pusher gives a channel its behaviour through the prefix of its name (no registry, no state):

========================  =========================  ===============================
prefix                    kind                       subscription needs
========================  =========================  ===============================
``private-encrypted-``    PRIVATE_ENCRYPTED          a channel authorization
``private-``              PRIVATE                    a channel authorization
``presence-``             PRESENCE                   an authorization + channel_data
anything else             PUBLIC                     nothing
``#server-to-user-{id}``  (internal)                 ``pusher:signin`` only
========================  =========================  ===============================

Cache channels are an orthogonal property: ``cache-``, ``private-cache-``,
``private-encrypted-cache-`` and ``presence-cache-`` keep their last event.

Everything here is a pure function of a string; nothing validates (see :mod:`.limits`).
"""

from __future__ import annotations

import enum

__all__ = [
    "CACHE_PREFIXES",
    "CLIENT_EVENT_PREFIX",
    "ChannelKind",
    "ENCRYPTED_PREFIX",
    "PRESENCE_PREFIX",
    "PRIVATE_PREFIX",
    "SERVER_TO_USER_PREFIX",
    "channel_kind",
    "is_cache_channel",
    "is_client_event",
    "is_encrypted_channel",
    "is_presence_channel",
    "is_server_to_user_channel",
    "requires_auth",
    "server_to_user_channel",
]

PRIVATE_PREFIX = "private-"
ENCRYPTED_PREFIX = "private-encrypted-"
PRESENCE_PREFIX = "presence-"
#: The internal channel a signed-in user's server-to-user events arrive on; a client can never
#: subscribe to it with ``pusher:subscribe``, only be placed on it by ``pusher:signin``.
SERVER_TO_USER_PREFIX = "#server-to-user-"
#: Events a client may send itself (on private and presence channels only).
CLIENT_EVENT_PREFIX = "client-"
CACHE_PREFIXES: tuple[str, ...] = (
    "cache-",
    "private-cache-",
    "private-encrypted-cache-",
    "presence-cache-",
)


class ChannelKind(enum.Enum):
    """The four kinds of channel a client can subscribe to."""

    PUBLIC = "public"
    PRIVATE = "private"
    PRESENCE = "presence"
    PRIVATE_ENCRYPTED = "private-encrypted"


def channel_kind(name: str) -> ChannelKind:
    """Return the kind of channel *name* by its prefix (``private-encrypted-`` before ``private-``).

    ``#server-to-user-*`` channels report PUBLIC here: they are internal and never subscribable;
    use :func:`is_server_to_user_channel` / :func:`requires_auth` for them.
    """
    if name.startswith(ENCRYPTED_PREFIX):
        return ChannelKind.PRIVATE_ENCRYPTED
    if name.startswith(PRIVATE_PREFIX):
        return ChannelKind.PRIVATE
    if name.startswith(PRESENCE_PREFIX):
        return ChannelKind.PRESENCE
    return ChannelKind.PUBLIC


def is_cache_channel(name: str) -> bool:
    """True for ``cache-``, ``private-cache-``, ``private-encrypted-cache-``, ``presence-cache-``."""
    return name.startswith(CACHE_PREFIXES)


def is_encrypted_channel(name: str) -> bool:
    """True for ``private-encrypted-*`` (end-to-end encrypted; the server only relays ciphertext)."""
    return name.startswith(ENCRYPTED_PREFIX)


def is_presence_channel(name: str) -> bool:
    """True for ``presence-*``."""
    return name.startswith(PRESENCE_PREFIX)


def is_server_to_user_channel(name: str) -> bool:
    """True for the internal ``#server-to-user-{user_id}`` channels."""
    return name.startswith(SERVER_TO_USER_PREFIX)


def server_to_user_channel(user_id: str) -> str:
    """The internal channel that carries events sent to *user_id* (``#server-to-user-{id}``)."""
    return SERVER_TO_USER_PREFIX + user_id


def requires_auth(name: str) -> bool:
    """True when subscribing needs a signature: private, presence, encrypted and server-to-user."""
    return is_server_to_user_channel(name) or channel_kind(name) is not ChannelKind.PUBLIC


def is_client_event(event: str) -> bool:
    """True for events a client sends itself (``client-*``)."""
    return event.startswith(CLIENT_EVENT_PREFIX)
