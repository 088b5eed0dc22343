"""Property tests: the parser never crashes, and deduplication keeps its invariants."""

import json

from hypothesis import given, settings, strategies as st

from authviz.auth0 import AuthEvent, ParseError, parse_body, parse_event, parse_records
from authviz.auth0.schema import CATEGORIES, SOURCES
from auth0_support import stream_record

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "log_id",
        "data",
        "detail",
        "type",
        "date",
        "_id",
        "user",
        "request",
        "stats",
        "user_id",
        "email",
        "country",
        "app_metadata",
        "location_info",
        "isMobile",
    ]
)
# Objects that look like Auth0 records often enough to reach deep into every extractor.
_objects = st.dictionaries(st.one_of(_keys, st.text(max_size=6)), _json, max_size=6)
_nested = st.recursive(_objects, lambda inner: st.dictionaries(_keys, inner, min_size=1, max_size=3), max_leaves=4)


@settings(max_examples=150, deadline=None)
@given(_nested)
def test_any_json_object_parses_or_is_rejected_with_a_reason(obj):
    try:
        event = parse_event(obj)
    except ParseError as error:
        assert str(error)
        return
    assert isinstance(event, AuthEvent)
    assert event.category in CATEGORIES and event.source in SOURCES
    assert event.event_id and event.timestamp.tzinfo is not None
    json.dumps(event.to_dict())


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(_json, _nested), max_size=6))
def test_any_json_body_never_crashes(values):
    body = "\n".join(json.dumps(value) for value in values) + "\n{broken"
    result = parse_body(body)
    for reject in result.rejects:
        assert reject.reason.startswith(f"record {reject.position}: ")


_ids = st.sampled_from(["a", "b", "c"])
_records = st.lists(
    st.builds(lambda log_id, code: stream_record(log_id, type=code), _ids, st.sampled_from(["s", "f"])), max_size=12
)


@given(_records)
def test_dedup_invariants(records):
    result = parse_records(records)
    ids = [event.event_id for event in result.events]
    assert len(ids) == len(set(ids))  # each id once
    assert len(result.events) + len(result.rejects) + result.duplicates == len(records)  # nothing lost
    first_seen = {}
    for record in records:
        first_seen.setdefault(record["log_id"], record["data"]["type"])
    assert {event.event_id: event.type for event in result.events} == first_seen  # the first one is kept
    assert parse_records(records + records).duplicates == result.duplicates + len(records) - len(result.rejects)
