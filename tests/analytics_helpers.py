"""Helpers for the analytics tests: hand-made events and simulator records as schema frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pandas as pd

from authviz.auth0 import read_logs, schema
from authviz.auth0.log_types import category_for

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_n = 0


def ev(
    type_: str,
    at: float | timedelta = 0,
    *,
    user: str | None = "alice@example.com",
    ip: str | None = "198.51.100.1",
    lat: float | None = None,
    lon: float | None = None,
    city: str | None = None,
    country: str | None = None,
    description: str | None = None,
    tenant: str | None = "acme",
    user_id: str | None = None,
    **extra,
) -> dict:
    """One event row; ``at`` is minutes after T0 (or a timedelta)."""
    global _n
    _n += 1
    when = T0 + (at if isinstance(at, timedelta) else timedelta(minutes=at))
    row = {
        "event_id": f"e{_n:07d}",
        "timestamp": when,
        "type": type_,
        "category": category_for(type_),
        "description": description,
        "user_name": user,
        "user_id": user_id,
        "ip": ip,
        "latitude": lat,
        "longitude": lon,
        "city": city,
        "country_code": country,
        "tenant": tenant,
        "source": "log_stream",
    }
    row.update(extra)
    return row


def frame(events: list[dict]) -> pd.DataFrame:
    if not events:
        return schema.empty_frame()
    return schema.conform(pd.DataFrame(events))


def records_to_frame(records: list[dict]) -> pd.DataFrame:
    """Log-stream records as a schema frame, through the real parser (bulk reader on JSON lines)."""
    result = read_logs(b"\n".join(orjson.dumps(r) for r in records))
    assert not result.rejects, result.rejects[:3]
    return result.frame
