"""Exceptions that carry a sentence a person can act on.

Every boundary (CLI, HTTP, websocket, files) turns an :class:`AuthvizError` into that sentence
instead of a traceback.
"""


class AuthvizError(Exception):
    """Base class: ``str(error)`` is a complete, user-facing sentence."""


class ConfigError(AuthvizError):
    """A setting is missing or malformed."""


class UsageError(AuthvizError):
    """A command was called wrongly (exit status 2)."""
