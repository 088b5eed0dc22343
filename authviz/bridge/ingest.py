"""From a webhook body to rows for the store (pure: no I/O).

Rules:

* The body is parsed by :func:`authviz.auth0.parse_body` (JSON lines, JSON array or one JSON
  object; log-stream records, EventBridge envelopes, Management API entries...).
* An event's store key is its ``event_id`` (Auth0's ``log_id``); an event without one gets
  ``sha256:`` + the hash of its raw record, so a retried body is still idempotent.
* A body that yields no event at all (empty, not JSON, nothing recognisable) is *refused*
  (:class:`BodyRefused`, HTTP 400) and nothing is written; otherwise refused records go to the
  quarantine table with their reason and the good ones are stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from authviz.auth0.model import AuthEvent, ParseResult, iso_z, unwrap
from authviz.auth0.schema import COLUMNS

from authviz.auth0 import parse_body

from .store import NewEvent, NewReject

__all__ = ["BodyRefused", "Ingest", "prepare", "to_rows"]

#: How many reject reasons a refused body reports back (the rest are counted).
MAX_REPORTED_REASONS = 20


class BodyRefused(Exception):
    """The whole body is unusable; ``reasons`` says why (for the 400 response)."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message, reasons or [])  # both in args: picklable across processes
        self.message = message
        self.reasons = reasons or []

    def __str__(self) -> str:
        return self.message


def warm_up() -> bool:
    """Import the parser in a worker process before the first request needs it."""
    return bool(parse_body)


@dataclass(slots=True)
class Ingest:
    """A parsed body ready for :meth:`EventStore.add_batch`."""

    events: list[NewEvent]
    rejects: list[NewReject]
    #: Records repeated inside the body itself (the parser kept one copy).
    body_duplicates: int
    received: int


def _raw_text(event: AuthEvent) -> str:
    return orjson.dumps(event.raw, default=unwrap, option=orjson.OPT_NON_STR_KEYS).decode()


#: The schema columns except ``raw`` (kept apart as text), in order.
_FIELDS = tuple(name for name in COLUMNS if name != "raw")


def _event_dict(event: AuthEvent) -> dict[str, object]:
    """``event.to_dict(include_raw=False)`` without its per-call dataclass introspection (hot path)."""
    data = {name: getattr(event, name) for name in _FIELDS}
    data["timestamp"] = iso_z(event.timestamp)
    return data


def to_row(event: AuthEvent) -> NewEvent:
    raw = _raw_text(event)
    log_id = event.event_id or "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    data = _event_dict(event)
    data["event_id"] = log_id
    return NewEvent(
        log_id=log_id,
        event=data,
        raw=raw,
        timestamp=data.get("timestamp"),
        type=event.type,
        category=event.category,
        user_id=event.user_id,
    )


def to_rows(result: ParseResult) -> tuple[list[NewEvent], list[NewReject]]:
    events = [to_row(event) for event in result.events]
    rejects = [NewReject(r.position, r.reason, r.raw) for r in result.rejects]
    return events, rejects


def prepare(body: bytes) -> Ingest:
    """Parse a webhook body; raise :class:`BodyRefused` when it holds no usable record."""
    if not body.strip():
        raise BodyRefused("the body is empty; send Auth0 log records as JSON lines, a JSON array or a JSON object")
    result = parse_body(body)
    events, rejects = to_rows(result)
    received = len(result.events) + len(result.rejects) + result.duplicates
    if not events:
        reasons = [r.reason for r in result.rejects[:MAX_REPORTED_REASONS]]
        raise BodyRefused(
            f"none of the {received} records could be read; nothing was stored", reasons
        )
    return Ingest(events, rejects, result.duplicates, received)
