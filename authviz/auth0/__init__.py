"""authviz.auth0: every shape of Auth0 event, normalised into one record type and one DataFrame.

Shapes (detected automatically, or forced with ``source=``): the classic Rule payload, an Actions
post-login ``event``, Log Streaming webhook records (JSON array, JSON lines or one object),
Management API ``/api/v2/logs`` entries and EventBridge envelopes. See :mod:`.schema` for the
DataFrame contract, :mod:`.parse` for per-record parsing (the reference), :mod:`.fastpath` for the webhook's hot path
and :mod:`.bulk` for the columnar reader.
"""

from authviz.auth0.bulk import LogInputError, read_log_files, read_logs
from authviz.auth0.countries import Country, normalize_country, resolve_country
from authviz.auth0.fastpath import BodyRead, event_dict, fast_event, raw_json, read_body_fast
from authviz.auth0.frame import LogFrame, events_to_frame
from authviz.auth0.log_types import CATEGORY_BY_CODE, LOG_TYPES, category_for, describe_type
from authviz.auth0.model import AuthEvent, ParseError, ParseResult, Reject
from authviz.auth0.parse import parse_body, parse_event, parse_records
from authviz.auth0.schema import CATEGORIES, COLUMNS, SOURCES, conform, empty_frame
from authviz.auth0.shapes import detect_shape
from authviz.auth0.timestamps import TimestampError, parse_timestamp

__all__ = [
    "AuthEvent",
    "BodyRead",
    "CATEGORIES",
    "CATEGORY_BY_CODE",
    "COLUMNS",
    "Country",
    "LOG_TYPES",
    "LogFrame",
    "LogInputError",
    "ParseError",
    "ParseResult",
    "Reject",
    "SOURCES",
    "TimestampError",
    "category_for",
    "conform",
    "describe_type",
    "detect_shape",
    "empty_frame",
    "event_dict",
    "events_to_frame",
    "fast_event",
    "normalize_country",
    "parse_body",
    "parse_event",
    "parse_records",
    "parse_timestamp",
    "raw_json",
    "read_body_fast",
    "read_log_files",
    "read_logs",
    "resolve_country",
]
