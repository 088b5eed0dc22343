"""The event loop the hub runs on: uvloop where it is installed, else asyncio's own.

uvloop (libuv) roughly halves the loop's own cost per socket operation, and the hub's latency at
fan-out is mostly such operations (one ``send`` per subscriber per batch). It is a dependency on
Linux and macOS; ``AUTHVIZ_EVENT_LOOP=asyncio`` selects the standard loop (for debugging, or to
compare). Both loops pass the same test suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from authviz.config import EVENT_LOOP_ENV, event_loop_choice

__all__ = ["EVENT_LOOP_ENV", "event_loop_kind", "new_event_loop", "run"]

T = TypeVar("T")


def _uvloop() -> Any | None:
    if event_loop_choice() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # Windows, or an environment without it: the standard loop works too
        return None
    return uvloop


def event_loop_kind() -> str:
    """``"uvloop"`` or ``"asyncio"``: what :func:`new_event_loop` returns here."""
    return "uvloop" if _uvloop() is not None else "asyncio"


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of the chosen kind (for a loop run in a background thread)."""
    uvloop = _uvloop()
    return uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a loop of the chosen kind."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
