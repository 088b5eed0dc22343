"""Live widgets for notebooks: one :class:`Pump` feeds :class:`LiveFeed`, :class:`CountryChart`,
:class:`ChatWidget` and :class:`SessionEvents`.

Quick use::

    from authviz.widgets import Pump, LiveFeed
    pump = Pump(hz=4)                 # one per notebook: the only writer to the widgets
    feed = LiveFeed()
    pump.add(feed)
    pump.start()                      # an asyncio task on the kernel's loop
    pump.submit(event)                # from any thread (websocket, simulator)
    feed                              # display it

In a notebook, :func:`live_session` starts everything behind the widgets (the embedded hub and
bridge in-process unless Pusher settings are in the environment)::

    session = live_session()
    feed = session.feed()
    session.simulate(n=400, seed=7)
    ...
    session.stop()
"""

from authviz.widgets.chat import ChatBackend, ChatWidget
from authviz.widgets.countries import CountryChart
from authviz.widgets.feed import LiveFeed
from authviz.widgets.pump import LiveWidget, Pump
from authviz.widgets.records import CATEGORY_LABELS, FeedRecord, to_record
from authviz.widgets.session_events import SessionEvents
from authviz.widgets.topojson import topojson_path, topojson_url

# The live session pulls in the hub, the bridge and the live client: imported on first use.
_SESSION_NAMES = ("BridgeChat", "LiveSession", "live_session", "summary", "expected_counts")


def __getattr__(name: str):
    if name in _SESSION_NAMES:
        from authviz.widgets import session

        return getattr(session, name)
    raise AttributeError(f"module 'authviz.widgets' has no attribute {name!r}")


__all__ = [
    *_SESSION_NAMES,
    "CATEGORY_LABELS",
    "ChatBackend",
    "ChatWidget",
    "CountryChart",
    "FeedRecord",
    "LiveFeed",
    "LiveWidget",
    "Pump",
    "SessionEvents",
    "to_record",
    "topojson_path",
    "topojson_url",
]
