"""authviz.hub: the embedded Pusher-compatible server.

The protocol itself lives in :mod:`authviz.pusher.protocol` (pure, no sockets); this package is the
aiohttp server around it (:class:`HubServer`), its outgoing webhooks, the in-process runner
(:func:`running_hub`), TLS (:func:`server_ssl_context`) and the ``authviz serve`` command.
"""

from authviz.hub.running import (
    DEFAULT_APP_ID,
    DEFAULT_KEY,
    RunningHub,
    random_secret,
    running_hub,
)
from authviz.hub.guard import ServerLimits
from authviz.hub.server import HUB_APP_KEY, HubServer, text_frame
from authviz.hub.tls import server_ssl_context
from authviz.hub.webhooks import WebhookSender
from authviz.pusher.protocol import App, CloseCode, TriggerError

__all__ = [
    "App",
    "CloseCode",
    "DEFAULT_APP_ID",
    "DEFAULT_KEY",
    "HUB_APP_KEY",
    "HubServer",
    "RunningHub",
    "ServerLimits",
    "TriggerError",
    "WebhookSender",
    "random_secret",
    "running_hub",
    "server_ssl_context",
    "text_frame",
]
