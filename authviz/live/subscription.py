"""A buffered view of one or more channels of a :class:`~authviz.live.LiveClient`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from authviz.live.buffer import Overflow
from authviz.live.events import LiveEvent
from authviz.live.stream import EventStream

__all__ = ["ChannelHost", "Subscription"]


class ChannelHost(Protocol):
    """What a :class:`Subscription` asks of the client that feeds it (:class:`~authviz.live.LiveClient`).

    The other direction is :class:`~authviz.live.stream.EventStream`'s producer side (``offer``,
    ``offer_many``, ``notify``, ``detach``): the two talk through these methods only.
    """

    reconnects: int
    auth_failures: int
    decrypt_failures: int

    def members(self, channel: str) -> dict[str, Any]: ...

    def wait_subscribed(self, channels: Iterable[str], timeout: float = 10.0) -> bool: ...

    def unsubscribe(self, subscription: "Subscription") -> None: ...

    def close(self, timeout: float = 5.0) -> bool: ...


class Subscription(EventStream):
    """Events of ``channels`` (optionally only the ``events`` named), buffered for one consumer.

    Created by :meth:`LiveClient.subscribe`. ``close()`` unsubscribes (and closes the client too
    when the subscription owns it, see :func:`authviz.live.subscribe`).
    """

    def __init__(
        self,
        client: ChannelHost,
        channels: Iterable[str],
        *,
        events: Iterable[str] | None = None,
        maxsize: int = 10_000,
        overflow: Overflow = "drop_oldest",
        owns_client: bool = False,
        sink: Callable[[LiveEvent], Any] | None = None,
    ) -> None:
        super().__init__(events=events, maxsize=maxsize, overflow=overflow, sink=sink)
        self.client = client
        self.channels: tuple[str, ...] = tuple(channels)
        self.owns_client = owns_client

    def members(self, channel: str | None = None) -> dict[str, Any]:
        """Members of a presence channel (the first presence channel of this subscription by default)."""
        if channel is None:
            channel = next((c for c in self.channels if c.startswith("presence-")), None)
            if channel is None:
                return {}
        return self.client.members(channel)

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        """Block until every channel of this subscription is subscribed on the current connection."""
        return self.client.wait_subscribed(self.channels, timeout)

    def _extra_counts(self) -> tuple[int, int, int]:
        c = self.client
        return c.reconnects, c.auth_failures, c.decrypt_failures

    def _stop_producer(self, timeout: float) -> None:
        if self.owns_client:
            self.client.close(timeout)
        else:
            self.client.unsubscribe(self)

    def __repr__(self) -> str:
        return f"Subscription(channels={self.channels!r}, stats={self.stats})"
