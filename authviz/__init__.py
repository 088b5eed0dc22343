"""authviz: watch and analyse Auth0 authentication activity live through Pusher Channels.

The public API is re-exported here so users import from one place::

    import authviz
    logs = authviz.read_logs("logs.jsonl")            # parse any Auth0 shape into a DataFrame
    findings = authviz.run_detections(logs.frame)     # brute force, credential stuffing, ...
    with authviz.running_hub() as hub:                # embedded Pusher-compatible server
        ...

Names are imported lazily: ``import authviz`` stays cheap and starts no server library.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

from authviz.errors import AuthvizError, ConfigError, UsageError  # noqa: E402

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # the Auth0 event model
    **dict.fromkeys(
        (
            "AuthEvent",
            "ParseError",
            "ParseResult",
            "Reject",
            "LogFrame",
            "parse_event",
            "parse_records",
            "parse_body",
            "read_logs",
            "events_to_frame",
            "category_for",
            "normalize_country",
            "CATEGORIES",
            "COLUMNS",
        ),
        "authviz.auth0",
    ),
    # Pusher signing
    **dict.fromkeys(
        (
            "authorize_channel",
            "authenticate_user",
            "sign_request",
            "verify_request",
            "verify_webhook",
            "PusherValidationError",
            "SignatureError",
        ),
        "authviz.pusher",
    ),
    # the embedded hub
    **dict.fromkeys(("running_hub", "RunningHub", "ServerLimits"), "authviz.hub"),
    # the live client and sources
    **dict.fromkeys(
        (
            "LiveClient",
            "LiveEvent",
            "PusherSettings",
            "open_source",
            "source_from_env",
            "subscribe",
            "Recorder",
            "ReplaySource",
            "SimulatorSource",
        ),
        "authviz.live",
    ),
    # traffic simulator
    **dict.fromkeys(("TrafficGenerator", "month_of_traffic", "SCENARIOS"), "authviz.simulator"),
    # analytics
    **dict.fromkeys(
        ("run_detections", "time_series", "top_countries", "new_vs_returning", "pull_logs"),
        "authviz.analytics",
    ),
    # detections as code (Sigma on DuckDB / Spark)
    **dict.fromkeys(
        (
            "Rule",
            "RuleSet",
            "TenantSettings",
            "DetectionEngine",
            "detect",
            "load_rules",
            "load_settings",
            "packaged_rules",
            "spark_sql",
        ),
        "authviz.detections",
    ),
    # live alerts: the detection rules evaluated on the stream, and their delivery
    **dict.fromkeys(
        ("LiveDetector", "Alert", "AlertDelivery", "webhook_target", "slack_target", "verify_signature"),
        "authviz.alerts",
    ),
    # notebook widgets
    **dict.fromkeys(
        ("live_session", "LiveFeed", "CountryChart", "ChatWidget", "SessionEvents", "Pump"),
        "authviz.widgets",
    ),
}

__all__ = ["AuthvizError", "ConfigError", "UsageError", "__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'authviz' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
