"""Timestamps: the two textual forms Auth0 exports use, always to a tz-aware UTC datetime.

Accepted: ISO 8601 date-time with seconds, an optional fraction of 1 to 9 digits and a zone
(``Z``, ``+HH:MM`` or ``+HHMM``), or without a zone (``YYYY-MM-DD HH:MM:SS.fffffffff``, some
exports drop the ``T`` and the zone): zone-less values are taken as UTC. Fractions beyond
microseconds are truncated, in both the per-record and the vectorised path, so both give the same
instant. Values outside what a ``datetime64[ns]`` column holds are refused.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from authviz.auth0.model import ParseError

#: The accepted textual form (also used, as RE2, by the vectorised path).
TIMESTAMP_PATTERN = r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$"
_TIMESTAMP_RE = re.compile(TIMESTAMP_PATTERN, re.ASCII)
_ZONE_PATTERN = r"(Z|[+-]\d{2}:?\d{2})$"

#: The range a ``datetime64[ns, UTC]`` column can hold.
MIN_TIMESTAMP = pd.Timestamp.min.tz_localize("UTC").ceil("us").to_pydatetime()
MAX_TIMESTAMP = pd.Timestamp.max.tz_localize("UTC").floor("us").to_pydatetime()


class TimestampError(ParseError, ValueError):
    """A value is not a timestamp in an accepted form; ``str()`` says which value and why."""


def timestamp_problem(value: object) -> str | None:
    """Why ``value`` is not an accepted timestamp, or ``None`` when it is one."""
    try:
        parse_timestamp(value)
    except TimestampError as error:
        return str(error)
    return None


def parse_timestamp(value: object) -> datetime:
    """Parse an accepted timestamp string (or a datetime) to a tz-aware UTC ``datetime``.

    Raises :class:`TimestampError` with a sentence such as ``'yesterday' is not a timestamp``.
    """
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return _in_range(moment.astimezone(timezone.utc), value)
    if not isinstance(value, str):
        raise TimestampError(f"{value!r} is not a timestamp (expected ISO 8601 text)")
    match = _TIMESTAMP_RE.fullmatch(value)
    if match is None:
        raise TimestampError(f"{value!r} is not a timestamp (expected ISO 8601 such as 2024-05-01T12:00:00.000Z)")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        tz = _zone(zone)
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz)
        moment = moment.astimezone(timezone.utc)
    except (ValueError, OverflowError) as error:
        raise TimestampError(f"{value!r} is not a valid timestamp ({error})") from None
    return _in_range(moment, value)


def _zone(zone: str | None) -> timezone:
    if zone is None or zone == "Z":
        return timezone.utc
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        raise ValueError(f"zone offset {zone} out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _in_range(moment: datetime, value: object) -> datetime:
    if not MIN_TIMESTAMP <= moment <= MAX_TIMESTAMP:
        raise TimestampError(f"{value!r} is out of the supported range (years 1677 to 2262)")
    return moment


def parse_timestamp_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Vectorised :func:`parse_timestamp`: ``timestamp[ns, UTC]`` values, null where not accepted.

    Invariant: a non-null result equals ``parse_timestamp`` of the same text; a null result means
    the caller must take the per-record path, which gives the reason.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.large_string()) if values.type != pa.large_string() else values
    valid = pc.fill_null(pc.match_substring_regex(values, TIMESTAMP_PATTERN), False)
    has_zone = pc.fill_null(pc.match_substring_regex(values, _ZONE_PATTERN), False)
    candidates = pc.if_else(valid, values, pa.scalar(None, pa.large_string()))
    zoned = pc.if_else(
        has_zone,
        candidates,
        pc.binary_join_element_wise(candidates, pa.scalar("Z", pa.large_string()), pa.scalar("", pa.large_string())),
    )
    try:
        parsed = pc.cast(zoned, pa.timestamp("ns", "UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # One bad value (month 13, out of range) fails the whole cast: coerce per element instead.
        series = pd.to_datetime(
            pd.Series(zoned.to_pandas(types_mapper=pd.ArrowDtype)).astype(object),
            utc=True,
            format="ISO8601",
            errors="coerce",
        )
        series = series.where(series.between(MIN_TIMESTAMP, MAX_TIMESTAMP))
        parsed = pa.array(series, type=pa.timestamp("ns", "UTC"))
    # Truncate to microseconds (floor, like dropping fraction digits), as the per-record path does.
    ints = np.asarray(parsed.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False))
    floored = pa.array((ints // 1000) * 1000, type=pa.int64(), mask=parsed.is_null().to_numpy(zero_copy_only=False))
    return floored.cast(pa.timestamp("ns", "UTC"))
