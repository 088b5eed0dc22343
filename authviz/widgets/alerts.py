"""``AlertsPanel``: alerts of the live detections, with their evidence and what to do.

Fed by the pump (topic ``auth:raw``: the auth events as received, which the detections need whole).
Events are batched and given to :class:`authviz.alerts.LiveDetector` at most every ``interval``
seconds on the pump's thread (a ``feed`` costs tens of milliseconds, so not at every tick). Alerts
are shown newest first, one row per incident (detection, key): an update replaces its row.

Only the public :class:`~authviz.analytics.Alert` fields are relied upon (``detection, severity,
key, start, end, count, evidence_ids, summary, update``); ``title``, ``rule_id`` and
``what_to_do`` are shown when the detector provides them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import ipywidgets as W

from authviz.widgets.html import esc, style_block, time_html
from authviz.widgets.pump import RAW_AUTH_TOPIC
from authviz.widgets.records import parse_timestamp


SEVERITY_TONES = {"low": "info", "medium": "warn", "high": "fail", "critical": "fail"}

#: What to do, per built-in detection, while the detector does not say it itself.
WHAT_TO_DO = {
    "brute_force": "Check the user's recent log-ins; block the IP if the attempts go on.",
    "credential_stuffing": "Block the IP, enable bot detection, and reset the passwords of accounts it got into.",
    "impossible_travel": "Ask the user to confirm the log-in; revoke their sessions if they did not make it.",
    "breached_password": "Make the user reset the password; breached-password detection blocked the attempt.",
    "lockout_spike": "See whether the blocked accounts share an IP or a client; unblock real users.",
    "signup_fraud": "Review the new accounts from these IPs; add a CAPTCHA or rate limit to sign-ups.",
    "mfa_push_fatigue": "Contact the user: they may be pushed to approve a log-in they did not start.",
    "refresh_token_reuse": "Revoke the user's refresh tokens: one may have been stolen.",
}

EVIDENCE_SHOWN = 5


def alert_html(alert: Any) -> str:
    """One alert as an HTML list item; every value escaped."""
    severity = str(getattr(alert, "severity", "") or "")
    tone = SEVERITY_TONES.get(severity, "warn")
    detection = str(getattr(alert, "detection", "") or "")
    title = getattr(alert, "title", None) or detection.replace("_", " ").capitalize()
    what = getattr(alert, "what_to_do", None) or WHAT_TO_DO.get(detection, "")
    ids = list(getattr(alert, "evidence_ids", ()) or ())
    evidence = ", ".join(esc(i) for i in ids[:EVIDENCE_SHOWN])
    if len(ids) > EVIDENCE_SHOWN:
        evidence += f" and {len(ids) - EVIDENCE_SHOWN:,} more"
    start, end = parse_timestamp(getattr(alert, "start", None)), parse_timestamp(getattr(alert, "end", None))
    parts = [
        f'<li class="av-row av-{tone} av-alert">',
        f'<span class="av-label av-sev-{esc(severity)}">{esc(severity.upper())}</span> ',
        f'<span class="av-who">{esc(title)}</span>',
        ' <span class="av-detail">(updated)</span>' if getattr(alert, "update", False) else "",
        f'<br><span class="av-text">{esc(getattr(alert, "summary", ""))}</span>',
        f'<br><span class="av-detail">{esc(getattr(alert, "count", 0))} events from </span>{time_html(start)}'
        f'<span class="av-detail"> to </span>{time_html(end)}',
    ]
    if what:
        parts.append(f'<br><span class="av-todo"><b>What to do:</b> {esc(what)}</span>')
    if evidence:
        parts.append(f'<br><span class="av-evidence">Evidence: {evidence}</span>')
    parts.append("</li>")
    return "".join(parts)


class AlertsPanel(W.VBox):
    """Newest-first alerts of a :class:`~authviz.alerts.LiveDetector` fed the live events.

    ``detector`` defaults to ``authviz.LiveDetector()`` (made when the first events arrive); ``interval`` is the least time between two
    detector runs (seconds); ``max_alerts`` bounds the incidents kept and drawn.
    """

    topics = frozenset({RAW_AUTH_TOPIC})

    def __repr__(self) -> str:
        return "(the alerts of the live detections appear here when the cell runs)"

    def __init__(
        self, detector: Any = None, *, interval: float = 2.0, max_alerts: int = 50, title: str = "Alerts"
    ) -> None:
        #: made on the first run when not given (pandas and the rules load then, after the page drew)
        self.detector = detector
        self.interval = interval
        self.max_alerts = max_alerts
        self._lock = threading.RLock()
        self._pending: list[Any] = []
        self.alerts: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.fired = 0
        self.errors = 0
        self.last_error: str | None = None
        self._last_run = float("-inf")
        self._dirty = True
        self.view = W.HTML(value=self._render())
        self.view.add_class("authviz-alerts")
        super().__init__([W.HTML(f"<b>{esc(title)}</b>"), self.view])

    def consume(self, items: Iterable[Any]) -> None:
        with self._lock:
            self._pending.extend(item for item in items if hasattr(item, "get") or hasattr(item, "to_dict"))

    def add(self, alerts: Iterable[Any]) -> None:
        """Show alerts (newest first; an update of an incident replaces its row)."""
        with self._lock:
            for alert in alerts:
                key = (str(getattr(alert, "detection", "")), str(getattr(alert, "key", "")))
                self.alerts.pop(key, None)
                self.alerts[key] = alert
                self.fired += 1
            while len(self.alerts) > self.max_alerts:
                self.alerts.popitem(last=False)
            self._dirty = True

    def run(self) -> int:
        """Give the pending events to the detector now; returns the alerts it raised."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            if self.detector is None:
                from authviz.alerts import LiveDetector

                self.detector = LiveDetector()
            found = list(self.detector.feed(batch))
        except Exception as exc:  # shown in the panel, never a traceback from the pump
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._dirty = True
            return 0
        self.add(found)
        return len(found)

    def refresh(self, now: float) -> bool:
        if now == float("inf") or now - self._last_run >= self.interval:
            self.run()
            if now != float("inf"):
                self._last_run = now
        with self._lock:
            if not self._dirty:
                return False
            html = self._render()
            with self.view.hold_sync():
                self.view.value = html
            self._dirty = False
            return True

    def _render(self) -> str:
        rows = [alert_html(alert) for alert in reversed(self.alerts.values())]
        body = "".join(rows) or (
            '<li class="av-empty">No alerts. The live detections watch every event; '
            "launch an attack to see one fire.</li>"
        )
        error = f'<div class="av-error">The detections failed: {esc(self.last_error)}</div>' if self.last_error else ""
        return f'<div class="authviz authviz-alerts">{style_block()}<ul class="av-rows">{body}</ul>{error}</div>'
