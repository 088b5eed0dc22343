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
"""

from authviz.widgets.buffer import EventBuffer
from authviz.widgets.chat import ChatBackend, ChatWidget
from authviz.widgets.countries import CountryChart
from authviz.widgets.feed import LiveFeed
from authviz.widgets.pump import LiveWidget, Pump
from authviz.widgets.records import CATEGORY_LABELS, FeedRecord, to_record
from authviz.widgets.session_events import SessionEvents
from authviz.widgets.topojson import topojson_path, topojson_url

__all__ = [
    "CATEGORY_LABELS", "ChatBackend", "ChatWidget", "CountryChart", "EventBuffer", "FeedRecord",
    "LiveFeed", "LiveWidget", "Pump", "SessionEvents", "to_record", "topojson_path", "topojson_url",
]
