"""Live alerts: the detection rules evaluated on the stream, and alerts delivered.

- :mod:`authviz.alerts.live`: :class:`LiveDetector` (the rules of :mod:`authviz.detections`,
  evaluated event by event in Python, escalations included) raising :class:`Alert` objects
  (:mod:`authviz.alerts.model`); :mod:`authviz.alerts.correlate` keeps the correlations'
  per-group state, :mod:`authviz.alerts.travel` impossible travel's per-user state.
- :mod:`authviz.alerts.documents`: pure wire formats (``webhook_document``, ``sign``,
  ``verify_signature``, ``slack_payload``).
- :mod:`authviz.alerts.delivery`: :class:`AlertDelivery` (bounded queues, its own thread,
  retries with back-off, de-duplication and throttling per rule and group).
"""

from authviz.alerts.live import HUNTING_RULES, LiveDetector, live_rules
from authviz.alerts.model import Alert
from authviz.alerts.delivery import AlertDelivery, Gate, Target, TargetStats, delivery_for, slack_target, webhook_target
from authviz.alerts.documents import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    sign,
    slack_payload,
    verify_signature,
    webhook_document,
)

__all__ = [
    "Alert",
    "LiveDetector",
    "HUNTING_RULES",
    "live_rules",
    "AlertDelivery",
    "delivery_for",
    "Gate",
    "Target",
    "TargetStats",
    "slack_target",
    "webhook_target",
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "sign",
    "slack_payload",
    "verify_signature",
    "webhook_document",
]
