"""Exceptions that carry a sentence a person can act on: the one exception tree of the package.

Every boundary (CLI, HTTP, websocket, files) turns an :class:`AuthvizError` into that sentence
instead of a traceback. Library code speaks in library words (``take must be ...``); only
:mod:`authviz.cli` names command-line flags. Every exception class of the package derives from
:class:`AuthvizError` (private control-flow signals excepted):

.. code-block:: text

    AuthvizError
    ├── ConfigError                      a setting is missing or malformed (authviz.errors)
    │   ├── ListenError                  a server cannot listen on its address (authviz.errors)
    │   └── StateError                   state files cannot be made or opened (authviz.errors)
    ├── UsageError                       called wrongly; exit status 2 (authviz.errors)
    │   ├── SettingError                 a value given to the library is not allowed (authviz.errors)
    │   └── ReplayError                  a replay file cannot be read (live.sources)
    ├── PusherValidationError, ValueError  a channel/event name or payload breaks Pusher's limits (pusher.limits)
    ├── EncryptionError, ValueError      end-to-end encryption (pusher.encryption)
    │   └── EncryptionKeyError           the master key is malformed
    ├── DecryptionError                  a payload cannot be decrypted (pusher.encryption)
    ├── SignatureError                   a signature does not verify (pusher.signing)
    ├── TriggerError                     a trigger is refused; carries the HTTP status (pusher.protocol)
    ├── ParseError                       an Auth0 log record cannot be read (auth0.model)
    │   └── TimestampError, ValueError   its timestamp (auth0.timestamps)
    ├── ShapeError, ValueError           a log body of no known shape (auth0.shapes)
    ├── LogInputError                    a log file cannot be read (auth0.bulk)
    ├── WireError                        the server broke the websocket framing rules (live.wire)
    ├── LiveError                        the live client (live.errors)
    │   ├── ConnectionRejected           the server closed with a 4000-4099 code
    │   ├── AuthorizationError           a channel authorization was refused
    │   ├── DecryptionFailed             an encrypted event cannot be decrypted
    │   ├── HistoryError                 the bridge's history cannot be read
    │   └── SubscriptionClosed           the subscription was closed
    ├── PublishError                     a publication to Pusher failed (bridge.publish)
    ├── BodyRefused                      a log-stream body is refused; carries the HTTP status (bridge.ingest)
    ├── InvalidToken                     a user token does not verify (bridge.identity)
    │   └── JwksError                    the issuer's keys cannot be fetched
    ├── StoreError                       the event store (bridge.store)
    ├── BridgeError                      the bridge's HTTP API refused or could not be reached (bridgeclient)
    ├── ManagementApiError               the Management API refused or failed (auth0.management)
    └── PullError                        an import of logs stopped (analytics.pull)
"""

from __future__ import annotations

from collections.abc import Mapping


class AuthvizError(Exception):
    """Base class: ``str(error)`` is a complete, user-facing sentence.

    When the sentence names settings (a function's parameters, in the library's words), they are
    listed in :attr:`settings` (see :meth:`naming`) so that the command line can say the same
    sentence with its flags in their place (:meth:`worded`).
    """

    #: The settings the sentence names, word for word.
    settings: tuple[str, ...] = ()

    def naming(self, *settings: str) -> AuthvizError:
        """This error, recorded as naming ``settings`` (``raise ConfigError(...).naming("key")``)."""
        self.settings = settings
        return self

    def worded(self, name_of: Mapping[str, str]) -> str:
        """The sentence with each named setting said as ``name_of`` says (others unchanged)."""
        import re

        text = str(self)
        for setting in self.settings:
            if setting in name_of:
                text = re.sub(rf"(?<![\w-]){re.escape(setting)}(?![\w-])", name_of[setting], text)
        return text


class ConfigError(AuthvizError):
    """A setting is missing or malformed."""


class UsageError(AuthvizError):
    """A command was called wrongly (exit status 2)."""


class SettingError(UsageError):
    """A value given to the library is not allowed. The sentence speaks in the library's words and
    names the settings (parameters) at fault (``page_size must be between 1 and 100``); the command
    line says it with its flags (``--take must be between 1 and 100``)."""

    def __init__(self, sentence: str, *settings: str) -> None:
        super().__init__(sentence)
        self.settings = settings


class ListenError(ConfigError):
    """A server could not listen on its address: ``host``, ``port`` and the ``cause``'s errno
    let a caller say what to change (the command line names its ``--port``/``--host``)."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        import errno
        import os

        self.host, self.port, self.cause = host, port, cause
        code = cause.errno
        if code == errno.EADDRINUSE:
            reason = "the port is already in use"
        elif code == errno.EACCES:
            reason = "permission denied"
        else:
            reason = (os.strerror(code) if code and code > 0 else (cause.strerror or str(cause))).lower()
        super().__init__(f"cannot listen on {host}:{port}: {reason}.")


class StateError(ConfigError):
    """State files (the store, the log-stream token, the dev identity's key) cannot be made or
    opened; ``cause`` is the operating system's error."""

    def __init__(self, cause: OSError) -> None:
        self.cause = cause
        where = f" {cause.filename}" if cause.filename else ""
        super().__init__(f"cannot prepare{where}: {(cause.strerror or str(cause)).lower()}.")
