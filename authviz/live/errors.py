"""Errors of the live client; ``str(error)`` is one sentence a user can act on."""

from __future__ import annotations

from authviz.errors import AuthvizError

__all__ = [
    "AuthorizationError",
    "ConnectionRejected",
    "DecryptionFailed",
    "HistoryError",
    "LiveError",
    "SubscriptionClosed",
]


class LiveError(AuthvizError):
    """Base class of the live client's errors."""


class ConnectionRejected(LiveError):
    """The server closed with a 4000-4099 code: reconnecting unchanged cannot succeed."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class AuthorizationError(LiveError):
    """A channel authorization or user sign-in could not be obtained (retried with back-off)."""

    def __init__(self, message: str, channel: str | None = None) -> None:
        super().__init__(message)
        self.channel = channel


class DecryptionFailed(LiveError):
    """An event on a ``private-encrypted-`` channel could not be decrypted (wrong master key?)."""


class HistoryError(LiveError):
    """The bridge's history could not be read for a backfill (retried with back-off).

    ``status`` is the HTTP status when the server answered, else None.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SubscriptionClosed(LiveError):
    """The subscription was closed."""
