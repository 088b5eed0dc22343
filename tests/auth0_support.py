"""Helpers for the authviz.auth0 tests: sample paths, record builders, the reference frame."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from authviz.auth0 import events_to_frame, parse_body

FIXTURES = Path(__file__).parent / "fixtures" / "auth0"
SAMPLES = {
    "elastic_auth0_logstream_webhook.ndjson": 22,
    "mgmt_api_user_logs_MG177_sso.json": 50,
    "panther_auth0_rule_tests.ndjson": 57,
    "datadog_integrations_extras_auth0_tests.ndjson": 7,
    "sumologic_docs_auth0_s_with_location_info.json": 1,
    "eventbridge_envelope_thiscovery.json": 1,
}


def stream_record(log_id: str | None = "90020240101", **data: Any) -> dict[str, Any]:
    """A Log Streaming record ``{"log_id", "data"}`` with sensible defaults."""
    entry = {"date": "2024-05-01T12:00:00.000Z", "type": "s", "log_id": log_id}
    entry.update(data)
    record: dict[str, Any] = {"data": entry}
    if log_id is not None:
        record["log_id"] = log_id
    return record


def lines(*records: Any) -> bytes:
    """JSON lines of ``records`` (str items are written as given)."""
    return b"".join(
        (item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)).encode("utf-8") + b"\n"
        for item in records
    )


def reference_frame(body: bytes, *, dedup: bool = True) -> tuple[pd.DataFrame, list, int]:
    """What the per-record parser makes of a JSON-lines body, as a frame with raw line texts."""
    result = parse_body(body, dedup=dedup)
    frame = events_to_frame(result.events)
    return frame, result.rejects, result.duplicates
