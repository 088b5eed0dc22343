"""authviz.live: a dependable Pusher Channels client (built on pysher) and event sources.

>>> from authviz.live import subscribe                               # doctest: +SKIP
>>> with subscribe("private-auth0-events", events=["auth-event"]) as sub:
...     for event in sub.events(timeout=10):
...         print(event.auth_event)

See :class:`LiveClient` for presence, sign-in, encrypted channels and auth endpoints, and
:func:`open_source` / :func:`source_from_env` to switch between live, replay and simulator. With the bridge's history
(``AUTHVIZ_HISTORY_URL``/``AUTHVIZ_HISTORY_TOKEN``, see :class:`Backfill`) nothing published on
``private-auth0-events`` is missed across reconnects, and nothing is delivered twice.
"""

from __future__ import annotations

from authviz.config import PusherSettings
from authviz.live.auth import Authorizer, EndpointAuthorizer, SecretAuthorizer
from authviz.live.backfill import Backfill
from authviz.live.buffer import OVERFLOW_POLICIES, EventBuffer
from authviz.live.client import WATCHLIST_OFFLINE, WATCHLIST_ONLINE, LiveClient, subscribe
from authviz.live.errors import (
    AuthorizationError,
    ConnectionRejected,
    DecryptionFailed,
    HistoryError,
    LiveError,
    SubscriptionClosed,
)
from authviz.live.events import ControlNotice, LiveEvent
from authviz.live.history import HistoryClient, HistoryPage
from authviz.live.reconnect import Backoff, CloseAction, close_action
from authviz.live.sources import (
    Recorder,
    ReplaySource,
    SimulatorSource,
    open_source,
    parse_source_spec,
    source_from_env,
)
from authviz.live.stream import EventStream, StreamStats
from authviz.live.subscription import Subscription

__all__ = [
    "OVERFLOW_POLICIES",
    "AuthorizationError",
    "Authorizer",
    "Backfill",
    "Backoff",
    "CloseAction",
    "ConnectionRejected",
    "ControlNotice",
    "DecryptionFailed",
    "EndpointAuthorizer",
    "EventBuffer",
    "EventStream",
    "HistoryClient",
    "HistoryError",
    "HistoryPage",
    "LiveClient",
    "LiveError",
    "LiveEvent",
    "PusherSettings",
    "Recorder",
    "ReplaySource",
    "SecretAuthorizer",
    "SimulatorSource",
    "StreamStats",
    "Subscription",
    "SubscriptionClosed",
    "WATCHLIST_OFFLINE",
    "WATCHLIST_ONLINE",
    "close_action",
    "open_source",
    "parse_source_spec",
    "source_from_env",
    "subscribe",
]
