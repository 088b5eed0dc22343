"""Who may join which channel: a pure decision from a verified user id, the permissions of the
verified token, and a channel name.

Default policy (deny unless a rule allows):

===============================  ===============================================
channel                          allowed for
===============================  ===============================================
``private-user-{id}``            only the user whose (escaped) id it names
``presence-chat``,               any verified user (chat)
``presence-chat-*``
``private-auth0-events``         a verified user granted ``events_permission``
                                 (``read:auth_events`` by default)
any other private/presence/      nobody (add it to ``extra_channels`` to open it
encrypted channel                to every verified user)
public channels                  nobody asks: they need no authorization
===============================  ===============================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from authviz.pusher import PusherValidationError, is_presence_channel, validate_channel_name
from authviz.topics import CHAT_CHANNEL, READ_EVENTS_PERMISSION, EVENTS_CHANNEL, USER_CHANNEL_PREFIX, user_channel

__all__ = ["ChannelPolicy", "Decision"]

ENCRYPTED_PREFIX = "private-encrypted-"


@dataclass(frozen=True, slots=True)
class Decision:
    """``allowed`` and, for logs and tests only, why."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class ChannelPolicy:
    """The channel rules above; ``extra_channels`` are exact names open to any verified user."""

    chat_channel: str = CHAT_CHANNEL
    events_channel: str = EVENTS_CHANNEL
    extra_channels: frozenset[str] = field(default_factory=frozenset)
    #: The permission that reads the event feed and its history (Auth0 RBAC permission name).
    events_permission: str = READ_EVENTS_PERMISSION

    def __post_init__(self) -> None:
        encrypted = sorted(c for c in self.extra_channels if c.startswith(ENCRYPTED_PREFIX))
        if encrypted:
            raise ValueError(
                f"{encrypted[0]} is an encrypted channel: its authorization needs the encryption "
                "master key, which the bridge does not hold; open a private- or presence- "
                "channel instead"
            )

    @classmethod
    def with_extra(cls, channels: Iterable[str], *, events_permission: str = READ_EVENTS_PERMISSION) -> ChannelPolicy:
        """The default rules plus ``channels``; ValueError (one sentence) for an encrypted one."""
        return cls(extra_channels=frozenset(channels), events_permission=events_permission)

    def may_read_events(self, permissions: Iterable[str]) -> bool:
        """True when ``permissions`` (verified) include :attr:`events_permission`."""
        return bool(self.events_permission) and self.events_permission in frozenset(permissions)

    def decide(self, user_id: str, channel: str, permissions: Iterable[str] = frozenset()) -> Decision:
        try:
            validate_channel_name(channel)
        except PusherValidationError as error:
            return Decision(False, f"invalid channel name: {error}")
        if not user_id:
            return Decision(False, "no verified user")
        if channel.startswith(USER_CHANNEL_PREFIX):
            # Canonical form only: another spelling of the same id ("=61" for "a") is refused.
            if channel == user_channel(user_id):
                return Decision(True, "the user's own channel")
            return Decision(False, "another user's channel")
        if channel == self.chat_channel or (
            is_presence_channel(channel) and channel.startswith(self.chat_channel + "-")
        ):
            return Decision(True, "chat channel")
        if channel == self.events_channel:
            if self.may_read_events(permissions):
                return Decision(True, "event feed")
            return Decision(False, f"the event feed needs the permission {self.events_permission}")
        if channel in self.extra_channels:
            return Decision(True, "configured channel")
        return Decision(False, "no rule allows this channel")
