"""Alerts leaving authviz: the signed webhook document, the Slack message, and background delivery.

- :mod:`authviz.alerts.documents`: pure wire formats (``webhook_document``, ``sign``,
  ``verify_signature``, ``slack_payload``).
- :mod:`authviz.alerts.delivery`: :class:`AlertDelivery` (bounded queues, its own thread,
  retries with back-off, de-duplication and throttling per rule and group).
"""

from authviz.alerts.delivery import AlertDelivery, Gate, Target, TargetStats, slack_target, webhook_target
from authviz.alerts.documents import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    sign,
    slack_payload,
    verify_signature,
    webhook_document,
)

__all__ = ["AlertDelivery", "Gate", "Target", "TargetStats", "slack_target", "webhook_target", "DELIVERY_HEADER",
           "SIGNATURE_HEADER", "sign", "slack_payload", "verify_signature", "webhook_document"]
