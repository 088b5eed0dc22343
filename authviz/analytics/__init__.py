"""Auth analytics: trends, security detections and historical import.

Everything works on the event DataFrame of :mod:`authviz.auth0.schema`::

    from authviz.analytics import run_detections, time_series
    findings = run_detections(frame)                     # one row per incident
    hourly = time_series(frame, "1h")                    # logins, signups, failures, failure_rate

Live alerts (the detection rules on the stream) are :mod:`authviz.alerts`.
Historical import: ``authviz logs pull`` (:func:`pull_logs`). Ground truth: :func:`score_detections`.
"""

from authviz.analytics.detections import (
    DETECTIONS,
    FINDING_COLUMNS,
    SEVERITIES,
    breached_password,
    brute_force,
    credential_stuffing,
    empty_findings,
    impossible_travel,
    lockout_spike,
    mfa_push_fatigue,
    refresh_token_reuse,
    run_detections,
    signup_fraud,
    user_key,
)
from authviz.analytics.evaluate import score_detections, score_rule_findings
from authviz.analytics.pull import PullError, PullResult, pull_logs
from authviz.analytics.trends import (
    new_vs_returning,
    time_series,
    top,
    top_clients,
    top_connections,
    top_countries,
    top_ips,
)

__all__ = [
    "PullError",
    "PullResult",
    "pull_logs",
    "score_detections",
    "score_rule_findings",
    "DETECTIONS",
    "FINDING_COLUMNS",
    "SEVERITIES",
    "breached_password",
    "brute_force",
    "credential_stuffing",
    "empty_findings",
    "impossible_travel",
    "lockout_spike",
    "mfa_push_fatigue",
    "new_vs_returning",
    "refresh_token_reuse",
    "run_detections",
    "signup_fraud",
    "time_series",
    "top",
    "top_clients",
    "top_connections",
    "top_countries",
    "top_ips",
    "user_key",
]
