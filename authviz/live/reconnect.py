"""Reconnection policy: what a close code means, and how long to wait before the next attempt.

Pure functions and a small stateful :class:`Backoff`; no I/O, no threads, so every rule is
unit-tested directly. Close codes (Pusher protocol 7):

* 4000-4099: the connection must not be re-established unchanged -> :attr:`CloseAction.STOP`
  (the consumer gets a :class:`~authviz.live.errors.ConnectionRejected`).
* 4100-4199: reconnect after backing off (at least ``min_backoff_delay``, 1 s) -> BACKOFF.
* 4200-4299: reconnect at once -> RECONNECT (the first attempt is immediate, but repeated failures
  still back off: a server that closes every new connection cannot cause a reconnect storm).
* anything else (1000, 1006, 4300+, a refused TCP connection): BACKOFF.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

__all__ = ["Backoff", "CloseAction", "close_action", "describe_close_code"]


class CloseAction(enum.Enum):
    STOP = "stop"
    BACKOFF = "backoff"
    RECONNECT = "reconnect"


_DESCRIPTIONS = {
    4000: "the server requires TLS",
    4001: "the app does not exist (check PUSHER_KEY)",
    4003: "the app is disabled",
    4004: "the app is over its connection quota",
    4005: "the path was not found",
    4006: "the protocol version is not supported",
    4007: "the protocol is not supported",
    4008: "no protocol version was given",
    4009: "the connection is unauthorized",
    4100: "the server is over capacity",
    4200: "the server asked for a reconnect",
    4201: "a pong was not received in time",
    4202: "the connection was closed for inactivity",
    4301: "client events were sent too fast",
    4302: "the watchlist is too long",
}


def describe_close_code(code: int | None) -> str:
    """A short phrase for a close code (for error sentences)."""
    if code is None:
        return "the connection was lost"
    return _DESCRIPTIONS.get(code, f"close code {code}")


def close_action(code: int | None) -> CloseAction:
    """What to do after the server closed with ``code`` (``None``: no close frame)."""
    if code is None:
        return CloseAction.BACKOFF
    if 4000 <= code <= 4099:
        return CloseAction.STOP
    if 4200 <= code <= 4299:
        return CloseAction.RECONNECT
    return CloseAction.BACKOFF


@dataclass
class Backoff:
    """Exponential back-off with full jitter and a cap.

    The n-th consecutive failed attempt (n = 0, 1, ...) waits a random time in
    ``[delay/2, delay]`` with ``delay = min(cap, initial * factor**n)``. ``reset()`` is called only
    once a connection has stayed up for ``stable_after`` seconds, so a server that accepts and then
    closes at once still sees growing delays. ``RECONNECT`` codes skip the wait only when no failure
    is pending (``attempts == 0``).
    """

    initial: float = 0.25
    factor: float = 2.0
    cap: float = 15.0
    #: minimum wait for 4100-4199 ("back off")
    min_backoff_delay: float = 1.0
    #: a connection that lived this long resets the attempt counter
    stable_after: float = 5.0
    rng: random.Random | None = None
    attempts: int = 0

    def next_delay(self, action: CloseAction = CloseAction.BACKOFF, minimum: float = 0.0) -> float:
        """The wait before the next attempt (at least ``minimum``); counts the attempt."""
        n = self.attempts
        self.attempts += 1
        if action is CloseAction.RECONNECT and n == 0:
            return 0.0
        delay = min(self.cap, self.initial * (self.factor ** min(n, 32)))
        delay = (self.rng or random).uniform(delay / 2, delay)
        return max(delay, minimum)

    def next_delay_for(self, code: int | None) -> float:
        """The wait after a close with ``code`` (4100-4199 wait at least ``min_backoff_delay``)."""
        minimum = self.min_backoff_delay if code is not None and 4100 <= code <= 4199 else 0.0
        return self.next_delay(close_action(code), minimum)

    def connection_lived(self, seconds: float) -> None:
        """Report how long the last connection stayed up; resets the counter if it was stable."""
        if seconds >= self.stable_after:
            self.attempts = 0

    def reset(self) -> None:
        self.attempts = 0
