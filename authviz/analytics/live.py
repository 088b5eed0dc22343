"""Live alerts moved to :mod:`authviz.alerts` (the detection rules evaluated incrementally);
these names stay importable from here."""

from authviz.alerts.live import LiveDetector
from authviz.alerts.model import Alert

__all__ = ["Alert", "LiveDetector"]
