"""Helpers for the analytics tests: hand-made events and simulator records as schema frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from authviz.auth0 import schema
from authviz.auth0.log_types import category_for

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_n = 0


def ev(type_: str, at: float | timedelta = 0, *, user: str | None = "alice@example.com", ip: str | None = "198.51.100.1",
       lat: float | None = None, lon: float | None = None, city: str | None = None, country: str | None = None,
       description: str | None = None, tenant: str | None = "acme", user_id: str | None = None, **extra) -> dict:
    """One event row; ``at`` is minutes after T0 (or a timedelta)."""
    global _n
    _n += 1
    when = T0 + (at if isinstance(at, timedelta) else timedelta(minutes=at))
    row = {"event_id": f"e{_n:07d}", "timestamp": when, "type": type_, "category": category_for(type_),
           "description": description, "user_name": user, "user_id": user_id, "ip": ip, "latitude": lat,
           "longitude": lon, "city": city, "country_code": country, "tenant": tenant, "source": "log_stream"}
    row.update(extra)
    return row


def frame(events: list[dict]) -> pd.DataFrame:
    if not events:
        return schema.empty_frame()
    return schema.conform(pd.DataFrame(events))


def records_to_frame(records: list[dict]) -> pd.DataFrame:
    """Log-stream records as a schema frame: through the parser when it exists, else a minimal mapping."""
    try:
        from authviz.auth0 import parse_records, events_to_frame  # type: ignore[attr-defined]
    except ImportError:
        parse_records = None
    if parse_records is not None:
        result = parse_records(records)
        assert not result.rejects, result.rejects[:3]
        return events_to_frame(result.events)
    rows = []
    for record in records:
        d = record["data"]
        loc = d.get("location_info") or {}
        rows.append({"event_id": record["log_id"], "timestamp": d["date"], "type": d["type"],
                     "category": category_for(d["type"]), "description": d.get("description"),
                     "user_id": d.get("user_id"), "user_name": d.get("user_name"), "connection": d.get("connection"),
                     "client_id": d.get("client_id"), "client_name": d.get("client_name"), "ip": d.get("ip"),
                     "user_agent": d.get("user_agent"), "country_code": loc.get("country_code"),
                     "country_iso3": loc.get("country_code3"), "country_name": loc.get("country_name"),
                     "city": loc.get("city_name"), "latitude": loc.get("latitude"), "longitude": loc.get("longitude"),
                     "is_mobile": d.get("is_mobile"), "tenant": d.get("tenant_name"), "source": "log_stream"})
    return schema.conform(pd.DataFrame(rows))
