"""From a webhook body to rows for the store (pure: no I/O).

Rules:

* The body is read as :func:`authviz.auth0.parse_body` reads it (JSON lines, JSON array or one
  JSON object; log-stream records, EventBridge envelopes, Management API entries...). Ordinary
  log records take the fast path (:mod:`.fastpath`); every other record goes through the
  per-record reference parser, which is also what gives a refused record its reason. Both give
  the same rows (property-tested against :func:`prepare_reference`).
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from authviz.errors import AuthvizError
from authviz.auth0 import parse_body, parse_event
from authviz.auth0.model import AuthEvent, ParseError, ParseResult, iso_z, unwrap
from authviz.auth0.parse import (
    CONTENT_FIELDS, NOT_ONE_DOCUMENT, document_records, document_value, dumps_text, loads,
)
from authviz.auth0.schema import COLUMNS
from authviz.auth0.shapes import kind

from .fastpath import fast_event
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


def raw_json(record: Any) -> str:
    """The JSON text a record is stored and published with (compact, as orjson writes it)."""
    try:
        return orjson.dumps(record, default=unwrap, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # an integer beyond 64 bits (decoded by the json fallback)
        return dumps_text(record)


#: The schema columns except ``raw`` (kept apart as text), in order.
_FIELDS = tuple(name for name in COLUMNS if name != "raw")


def event_dict(event: AuthEvent) -> dict[str, object]:
    """``event.to_dict(include_raw=False)`` without its per-call dataclass introspection."""
    data = {name: getattr(event, name) for name in _FIELDS}
    data["timestamp"] = iso_z(event.timestamp)
    return data


def _new_event(log_id: str, data: dict[str, Any], raw: str) -> NewEvent:
    return NewEvent(log_id, data, raw, data["timestamp"], data["type"], data["category"],
                    data["user_id"], orjson.dumps(data).decode())


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
        raise BodyRefused(
            f"none of the {received} records could be read; nothing was stored", reasons
        )
    return Ingest(events, rejects, duplicates, received)


def prepare_reference(body: bytes) -> Ingest:
    """:func:`prepare` through the per-record reference parser only (for tests and comparisons)."""
    _refuse_empty(body)
    result = parse_body(body)
    events, rejects = to_rows(result)
    return _finish(events, rejects, result.duplicates)


def _line_text(line: bytes) -> str:
    """A JSON line's text as the reference reports it in a reject."""
    return line.decode("utf-8", errors="replace").rstrip(" \t\r\n\x0b\x0c")


#: JSON's whitespace around a value (RFC 8259): what is cut from a line kept as the raw text.
_JSON_SPACE = " \t\r\n"


def _body_records(data: bytes) -> Iterator[tuple[int, Any, Any, str | None, bool]]:
    """``(position, object, raw, problem, verbatim)`` as
    :func:`authviz.auth0.parse.iter_body_records` yields the first four, except that ``raw`` of a
    JSON line is its bytes (decoded only when used). ``verbatim``: the line was read by orjson,
    so its text is exactly one valid JSON value and is kept as the record's raw text (a line the
    standard library had to read, for integers beyond 64 bits, is stored as orjson writes it)."""
    value = document_value(data)
    if value is not NOT_ONE_DOCUMENT:
        for position, obj, text, problem in document_records(value, data):
            yield position, obj, text, problem, False
        return
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            try:
                obj = loads(line)  # orjson again, then the standard library for big integers
            except ValueError as error:
                yield number, None, line, f"not valid JSON ({error})", False
                continue
            yield number, obj, line, None, False
            continue
        yield number, obj, line, None, True


def prepare(body: bytes) -> Ingest:
    """Parse a webhook body; raise :class:`BodyRefused` when it holds no usable record.

    Each record takes the fast path (:func:`.fastpath.fast_event`) when it can, else the
    reference parser (:func:`authviz.auth0.parse_event`), which also gives every reject its
    reason. The result equals :func:`prepare_reference`'s: same events in the same order (the
    same ``raw`` JSON values; the text of a JSON line as received), same rejects with the same
    positions, raw texts and reasons, same duplicate count (within the body, a repeated id with
    the same content is a duplicate, with other content a reject).
    """
    _refuse_empty(body)
    events: list[NewEvent] = []
    rejects: list[NewReject] = []
    duplicates = 0
    seen: dict[str, tuple[int, dict[str, Any]]] = {}
    for position, obj, raw, problem, verbatim in _body_records(body):
        if problem is None and type(obj) is not dict and not isinstance(obj, Mapping):
            problem = f"not a JSON object but {kind(obj)}"
        if problem is not None:
            text = raw if isinstance(raw, str) else _line_text(raw)
            rejects.append(NewReject(position, f"record {position}: {problem}", text))
            continue
        data = fast_event(obj)
        if data is None:
            try:
                data = event_dict(parse_event(obj))
            except ParseError as error:
                text = raw if isinstance(raw, str) else _line_text(raw)
                rejects.append(NewReject(position, f"record {position}: {error}", text))
                continue
        log_id = data["event_id"]
        first = seen.get(log_id)
        if first is None:
            seen[log_id] = (position, data)
            # the record as received: a JSON line's own text (orjson read it, so it is one
            # valid JSON value), else as orjson writes it
            text = raw.decode().strip(_JSON_SPACE) if verbatim else raw_json(obj)
            events.append(_new_event(log_id, data, text))
        elif _content(first[1]) == _content(data):
            duplicates += 1
        else:  # the reference's conflict (authviz.auth0.parse.Collector.event), same words
            text = raw if isinstance(raw, str) else _line_text(raw)
            rejects.append(NewReject(position, (
                f"record {position}: event id {log_id!r} was already seen in record {first[0]} "
                f"with different content; record {first[0]} was kept"), text))
    return _finish(events, rejects, duplicates)


def _content(data: dict[str, Any]) -> tuple[Any, ...]:
    """:func:`authviz.auth0.parse.content_key` of an event dict (ISO timestamps compare as the
    instants they name: both are UTC with microseconds)."""
    return tuple(data[name] for name in CONTENT_FIELDS)
