"""Channel and event names shared by the bridge (publisher), the live client and the widgets.

The public feed keeps the original tutorial's names so its React feed works unchanged.
"""

from __future__ import annotations

import re

#: Public channel of the tutorial feed; events carry the Rule payload shape.
FEED_CHANNEL = "auth0"
SIGNED_UP_EVENT = "user-signedUp"
LOGGED_IN_EVENT = "user-loggedIn"

#: Private channel carrying every normalised event (``AuthEvent.to_dict()``) as ``auth-event``.
EVENTS_CHANNEL = "private-auth0-events"
AUTH_EVENT = "auth-event"

#: The permission (Auth0 RBAC, or an OAuth scope) that reads the event feed and its history.
READ_EVENTS_PERMISSION = "read:auth_events"

#: Presence channel of the chat; messages are ``message-added``.
CHAT_CHANNEL = "presence-chat"
MESSAGE_ADDED_EVENT = "message-added"

#: Session events sent to one user (logout, password change, blocked).
SESSION_EVENT = "session-event"
USER_CHANNEL_PREFIX = "private-user-"

#: Channels where only the server speaks: client events there are always refused by the hub and
#: ignored by the live client (exact names, and prefixes ending in "-").
SERVER_ONLY_CHANNELS = (EVENTS_CHANNEL, USER_CHANNEL_PREFIX)


def server_only(channel: str) -> bool:
    """True for a channel on which only the server publishes (see :data:`SERVER_ONLY_CHANNELS`)."""
    return channel == EVENTS_CHANNEL or channel.startswith(USER_CHANNEL_PREFIX)


# Channel names allow only A-Z a-z 0-9 _ - = @ , . ; but Auth0 user ids contain "|"
# (e.g. "auth0|abc"). Every other character is escaped as "=XX" (hex), which is reversible
# and never collides because "=" itself is escaped.
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-@,.;]")


def user_channel(user_id: str) -> str:
    """The private channel of one user: ``private-user-`` + the escaped user id."""
    escaped = _UNSAFE.sub(lambda m: "".join(f"={b:02X}" for b in m.group().encode()), user_id)
    return USER_CHANNEL_PREFIX + escaped


def user_id_from_channel(channel: str) -> str | None:
    """Inverse of :func:`user_channel`; ``None`` when ``channel`` is not a user channel."""
    if not channel.startswith(USER_CHANNEL_PREFIX):
        return None
    escaped = channel[len(USER_CHANNEL_PREFIX) :]
    try:
        return re.sub(
            r"(?:=[0-9A-F]{2})+",
            lambda m: bytes.fromhex(m.group().replace("=", "")).decode(),
            escaped,
        )
    except UnicodeDecodeError:
        return None
