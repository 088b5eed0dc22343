"""From a webhook body to rows for the store (pure: no I/O).

Rules:

* The body is read by :func:`authviz.auth0.read_body_fast`, as :func:`authviz.auth0.parse_body`
  reads it (JSON lines, JSON array or one JSON object; log-stream records, EventBridge
  envelopes, Management API entries...): ordinary log records take the fast path, every other
  record the per-record reference parser, which is also what gives a refused record its reason.
  Both give the same rows (property-tested against :func:`prepare_reference`).
* Every row carries its event already serialised (``event_json``): the store writes it and the
  publisher splices it, so no event is encoded twice. A JSON line's record is kept as the text
  received (``raw``, without the surrounding whitespace); a record of a JSON array, or of a line
  only the standard library could read, as orjson writes it (the same JSON value either way).
* An event's store key is its ``event_id`` (Auth0's ``log_id``); an event without one gets
  ``sha256:`` + the hash of its raw record, so a retried body is still idempotent.
* A body that yields no event at all (empty, not JSON, nothing recognisable) is *refused*
  (:class:`BodyRefused`, HTTP 400) and nothing is written; otherwise refused records go to the
  quarantine table with their reason and the good ones are stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from authviz.auth0 import AuthEvent, ParseResult, event_dict, parse_body, raw_json, read_body_fast
from authviz.errors import AuthvizError

from .store import NewEvent, NewReject

__all__ = ["BodyRefused", "Ingest", "event_dict", "prepare", "prepare_reference", "to_rows"]

#: How many reject reasons a refused body reports back (the rest are counted).
MAX_REPORTED_REASONS = 20


class BodyRefused(AuthvizError):
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
    return raw_json(event.raw)


def _new_event(log_id: str, data: dict[str, Any], raw: str) -> NewEvent:
    return NewEvent(
        log_id,
        data,
        raw,
        data["timestamp"],
        data["type"],
        data["category"],
        data["user_id"],
        orjson.dumps(data).decode(),
    )


def to_row(event: AuthEvent) -> NewEvent:
    """The store row of one parsed event (the reference path)."""
    raw = _raw_text(event)
    log_id = event.event_id or "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    data = event_dict(event)
    data["event_id"] = log_id
    return _new_event(log_id, data, raw)


def to_rows(result: ParseResult) -> tuple[list[NewEvent], list[NewReject]]:
    events = [to_row(event) for event in result.events]
    rejects = [NewReject(r.position, r.reason, r.raw) for r in result.rejects]
    return events, rejects


def _refuse_empty(body: bytes) -> None:
    if not body.strip():
        raise BodyRefused("the body is empty; send Auth0 log records as JSON lines, a JSON array or a JSON object")


def _finish(events: list[NewEvent], rejects: list[NewReject], duplicates: int) -> Ingest:
    received = len(events) + len(rejects) + duplicates
    if not events:
        reasons = [r.reason for r in rejects[:MAX_REPORTED_REASONS]]
        raise BodyRefused(f"none of the {received} records could be read; nothing was stored", reasons)
    return Ingest(events, rejects, duplicates, received)


def prepare_reference(body: bytes) -> Ingest:
    """:func:`prepare` through the per-record reference parser only (for tests and comparisons)."""
    _refuse_empty(body)
    result = parse_body(body)
    events, rejects = to_rows(result)
    return _finish(events, rejects, result.duplicates)


def prepare(body: bytes) -> Ingest:
    """Parse a webhook body; raise :class:`BodyRefused` when it holds no usable record.

    Every record takes the fast path when it can (:func:`authviz.auth0.read_body_fast`); the
    result equals :func:`prepare_reference`'s: same events in the same order, same rejects with
    the same positions, raw texts and reasons, same duplicate count.
    """
    _refuse_empty(body)
    read = read_body_fast(body)
    events = [_new_event(log_id, data, text) for log_id, data, text in read.events]
    rejects = [NewReject(position, reason, text) for position, reason, text in read.rejects]
    return _finish(events, rejects, read.duplicates)
