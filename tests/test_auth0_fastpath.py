"""The webhook's fast parse path gives exactly what the per-record reference path gives.

``prepare`` (fast path, reference fallback per record) against ``prepare_reference`` (the
per-record parser of :mod:`authviz.auth0` only): same events (key order and serialised text
included), same rejects with the same positions, texts and reasons, same duplicate count, or the
same refusal. Bodies are built from realistic records with any field replaced by odd values.
"""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from authviz.auth0 import parse_event
from authviz.auth0.fastpath import fast_event, fast_timestamp
from authviz.bridge.ingest import BodyRefused, event_dict, prepare, prepare_reference
from authviz.auth0.model import iso_z
from authviz.auth0.timestamps import TimestampError, parse_timestamp

from bridge_support import record

# -- strategies -------------------------------------------------------------------------------

_ODD = st.one_of(
    st.none(),
    st.just(""),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(width=32),
    st.text(max_size=12),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from("ab"), st.integers(0, 2), max_size=1),
    st.sampled_from(
        [
            "1",
            "0",
            "true",
            "False",
            "12.5",
            "nan",
            "FR",
            "FRA",
            "France",
            "Atlantis",
            "dev-abc.eu.auth0.com",
            "example.org",
            "a@b.c",
        ]
    ),
)
_VALID_Z = st.builds(
    lambda moment, digits: (
        moment.strftime("%Y-%m-%dT%H:%M:%S")
        + ("" if digits == 0 else "." + f"{moment.microsecond:06d}{moment.day:03d}"[:digits])
        + "Z"
    ),
    st.one_of(
        st.datetimes(min_value=datetime(1677, 1, 1), max_value=datetime(2263, 12, 31)),
        # the edges of what a datetime64[ns] column holds (the reference refuses beyond them)
        st.sampled_from(
            [
                datetime(1677, 1, 1),
                datetime(1677, 9, 21, 0, 12, 43, 145224),
                datetime(1677, 9, 21, 0, 12, 43, 145225),
                datetime(1678, 1, 1),
                datetime(2261, 12, 31, 23, 59, 59, 999999),
                datetime(2262, 1, 1),
                datetime(2262, 4, 11, 23, 47, 16, 854775),
                datetime(2262, 4, 11, 23, 47, 16, 854776),
                datetime(2263, 1, 1),
            ]
        ),
    ),
    st.integers(0, 9),
)
_TIMESTAMPS = st.one_of(
    _VALID_Z,
    st.builds(
        lambda y, mo, d, h, mi, s, frac, zone, sep: (
            f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{zone}"
        ),
        st.sampled_from([1677, 1678, 1999, 2024, 2026, 2261, 2262, 2263]),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 24),
        st.integers(0, 60),
        st.integers(0, 60),
        st.sampled_from(["", ".", ".1", ".12", ".123", ".123456", ".1234567", ".123456789", ".1234567890"]),
        st.sampled_from(["Z", "", "+00:00", "+0100", "-05:30", "z"]),
        st.sampled_from(["T", " ", "t"]),
    ),
    _ODD,
)
#: Values for the fields the reference reads with ``_first(a, b)``: empty text and null often.
_PAIRED = st.one_of(st.sampled_from([None, "", True, False, "true", 0, 1]), _ODD)
_PAIRS = (("is_mobile", "isMobile"), ("tenant_name", "tenant"), ("log_id", "_id"))
_FIELDS = (
    "log_id",
    "_id",
    "description",
    "user_id",
    "user_name",
    "connection",
    "client_id",
    "client_name",
    "ip",
    "user_agent",
    "hostname",
    "tenant_name",
    "tenant",
    "is_mobile",
    "isMobile",
    "type",
    "date",
    "location_info",
)
_LOCATION_FIELDS = ("country_code", "country_code3", "country_name", "city_name", "latitude", "longitude")


@st.composite
def records(draw: st.DrawFn) -> dict:
    """A log-stream record (sometimes Management API or EventBridge) with odd values here and there."""
    n = draw(st.integers(1, 40))
    base = record(
        n, draw(st.sampled_from(["s", "ss", "f", "slo", "scp", "limit_wc", "gd_send_pn", "zz_unknown", "fsa"]))
    )
    data = dict(base["data"])
    data["location_info"] = dict(data.get("location_info") or {})
    data["location_info"].update({"country_code3": "FRA", "city_name": "Paris", "latitude": 48.85, "longitude": 2.35})
    data["hostname"] = "dev-abc.eu.auth0.com"
    data["date"] = draw(_TIMESTAMPS) if draw(st.booleans()) else data["date"]
    for first, second in _PAIRS:
        if draw(st.integers(0, 2)) == 0:
            data[first], data[second] = draw(_PAIRED), draw(_PAIRED)
    for name in draw(st.lists(st.sampled_from(_FIELDS), max_size=3, unique=True)):
        if draw(st.booleans()):
            data.pop(name, None)
        else:
            data[name] = draw(_ODD)
    location = data.get("location_info")
    if isinstance(location, dict):
        for name in draw(st.lists(st.sampled_from(_LOCATION_FIELDS), max_size=3, unique=True)):
            if draw(st.booleans()):
                location.pop(name, None)
            else:
                location[name] = draw(_ODD)
    shape = draw(
        st.sampled_from(["log_stream", "log_stream", "management_api", "eventbridge", "wrapped", "no_outer_id"])
    )
    if shape == "management_api":
        return data
    outer_id = data.get("log_id") if draw(st.booleans()) else draw(_PAIRED)
    outer = {"log_id": outer_id, "data": data}
    if shape == "no_outer_id":
        outer = {"data": data}
    if shape == "eventbridge":
        return {"detail": outer, "source": "aws.partner/auth0.com"}
    if shape == "wrapped":
        return {"SUCCESSFUL_LOGIN": outer}
    return outer


_LINES = st.one_of(
    records().map(orjson.dumps),
    st.sampled_from(
        [
            b"{not json",
            b"[1, 2]",
            b"42",
            b'"text"',
            b"null",
            b"",
            b"   ",
            b'{"hello": 1}',
            b"\xff\xfe{",
            b'{"log_id": "x", "data": null}',
            b'{"data": 5}',
        ]
    ),
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(_LINES, min_size=1, max_size=8))
    # repeat some lines exactly (Auth0 retries inside a body) or with another content
    for _ in range(draw(st.integers(0, 2))):
        lines.append(draw(st.sampled_from(lines)))
    if draw(st.integers(0, 4)) == 0:  # a JSON array body (Log Streaming "JSON Array" format)
        items = [orjson.loads(line) for line in lines if _is_json(line)]
        return orjson.dumps(items)
    return draw(st.sampled_from([b"\n", b"\r\n", b"\n\n"])).join(lines)


def _is_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _outcome(prepare_fn, body: bytes):
    try:
        ingest = prepare_fn(body)
    except BodyRefused as refused:
        return ("refused", refused.message, refused.reasons)
    events = [
        (e.log_id, list(e.event.items()), e.event_json, orjson.loads(e.raw), e.timestamp, e.type, e.category, e.user_id)
        for e in ingest.events
    ]
    rejects = [(r.position, r.reason, r.raw) for r in ingest.rejects]
    return ("ok", events, rejects, ingest.body_duplicates, ingest.received)


# -- properties -------------------------------------------------------------------------------


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_fast_event_equals_the_reference_whenever_it_answers(obj):
    fast = fast_event(obj)
    if fast is None:
        return  # the reference path decides
    reference = event_dict(parse_event(obj))
    assert list(fast.items()) == list(reference.items())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_prepare_equals_the_reference_path(body):
    assert _outcome(prepare, body) == _outcome(prepare_reference, body)


@settings(max_examples=500, deadline=None)
@given(_TIMESTAMPS)
def test_fast_timestamp_equals_the_reference(value):
    if not isinstance(value, str):
        return
    fast = fast_timestamp(value)
    try:
        reference = iso_z(parse_timestamp(value))
    except TimestampError:
        reference = None
    assert fast is None or fast == reference


# -- examples -------------------------------------------------------------------------------------


def test_the_fast_path_takes_the_ordinary_records():
    """The bench and Auth0's own records do not fall back (else the fast path is pointless)."""
    for n, type_ in enumerate(["s", "ss", "f", "slo", "fp", "gd_send_pn"], 1):
        obj = record(n, type_)
        assert fast_event(obj) == event_dict(parse_event(obj))
    from authviz.simulator import TrafficGenerator

    generated = list(TrafficGenerator(seed=3, rate_per_s=50.0).generate(n=300))
    assert all(fast_event(obj) is not None for obj in generated)


def test_a_mixed_body_keeps_the_good_records_and_quarantines_the_bad_with_reasons():
    good1, good2 = record(1, "s"), record(2, "f")
    no_type = record(3)
    del no_type["data"]["type"]
    bad_date = record(4)
    bad_date["data"]["date"] = "2026-02-30T10:00:00.000Z"
    conflict = record(1, "f")  # the id of good1 with other content
    body = b"\n".join(
        [
            orjson.dumps(good1),
            b"{oops",
            orjson.dumps(no_type),
            orjson.dumps(good2),
            orjson.dumps(bad_date),
            orjson.dumps(good1),
            orjson.dumps(conflict),
            b"7",
        ]
    )
    ingest = prepare(body)
    assert [e.log_id for e in ingest.events] == [good1["log_id"], good2["log_id"]]
    assert ingest.body_duplicates == 1 and ingest.received == 8
    reasons = {r.position: r.reason for r in ingest.rejects}
    assert sorted(reasons) == [2, 3, 5, 7, 8]
    assert reasons[2].startswith("record 2: not valid JSON")
    assert reasons[3] == "record 3: 'data.type' is missing"
    assert "record 5: 'data.date' is not a timestamp" in reasons[5]
    assert "was already seen in record 1 with different content" in reasons[7]
    assert reasons[8] == "record 8: not a JSON object but a number"
    assert {r.raw for r in ingest.rejects if r.position == 2} == {"{oops"}
    assert _outcome(prepare, body) == _outcome(prepare_reference, body)


def test_an_all_bad_body_is_refused_with_the_same_reasons():
    body = b'{"hello": 1}\n{nope\n[]'
    with pytest.raises(BodyRefused) as fast:
        prepare(body)
    with pytest.raises(BodyRefused) as reference:
        prepare_reference(body)
    assert (fast.value.message, fast.value.reasons) == (reference.value.message, reference.value.reasons)
    assert len(fast.value.reasons) == 3


def test_published_text_is_the_same_with_and_without_the_serialised_event():
    from authviz.bridge.store import StoredEvent

    row = prepare(orjson.dumps(record(5, "s"))).events[0]
    spliced = StoredEvent(9, row.log_id, "2026-11-20T10:00:00.000Z", row.event, row.raw, row.event_json)
    plain = StoredEvent(9, row.log_id, "2026-11-20T10:00:00.000Z", row.event, row.raw)
    assert spliced.to_json() == plain.to_json()
    assert spliced.to_json(include_raw=False) == plain.to_json(include_raw=False)
    assert orjson.loads(spliced.to_json())["raw"] == record(5, "s")


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 10**400, True, "48.8", ""])
@pytest.mark.parametrize("field", ["latitude", "longitude"])
def test_odd_coordinates_take_the_reference_path(field, value):
    obj = record(1)
    obj["data"]["location_info"][field] = value
    assert fast_event(obj) is None


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-20T10:00:00Z",
        "2026-11-20T10:00:00.1Z",
        "2026-11-20T10:00:00.123Z",
        "2026-11-20T10:00:00.123456789Z",
        "2026-11-20T10:00:00.1234567890Z",
        "2026-11-20T10:00:60Z",
        "2026-11-20T10:00:59.999Z",
        "2026-11-20T10:60:00Z",
        "2026-11-20T24:00:00Z",
        "2024-02-29T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-11-20T10:00:0\u0663Z",
        "2026-11-20T10:00:00.\u0663Z",
        "\uff12026-11-20T10:00:00Z",
        "2026-11-20T10:00:00.Z",
        "2026-11-20T10:00:00,5Z",
        "2026-11-20 10:00:00Z",
        "2026-11-20T10:00:00.5z",
        "2026-11-20T10:00:00+00:00",
        "1677-09-21T00:12:43.145225Z",
        "2262-04-11T23:47:16.854775Z",
        "1678-01-01T00:00:00Z",
        "2261-12-31T23:59:59.999999Z",
    ],
)
def test_fast_timestamp_edges(value):
    try:
        reference = iso_z(parse_timestamp(value))
    except TimestampError:
        reference = None
    fast = fast_timestamp(value)
    assert fast is None or fast == reference
    if value.startswith(("2026-11-20T10:00:00", "2024-02-29", "1678", "2261")) and reference and value.endswith("Z"):
        assert fast == reference  # the ordinary forms are taken on the fast path


def test_a_json_line_is_stored_as_received_and_publishes_the_same_value():
    from authviz.bridge.publications import publications_for
    from authviz.bridge.store import StoredEvent

    spaced = (
        b'  {"log_id": "90000000000000000000042",  "data": {"date": "2026-11-20T10:00:00.000Z", '
        b'"type": "s", "user_name": "caf\\u00e9@example.com", "user_id": "auth0|x"}}\r'
    )
    (row,) = prepare(spaced + b"\n" + orjson.dumps(record(43))).events[:1]
    (reference,) = prepare_reference(spaced + b"\n" + orjson.dumps(record(43))).events[:1]
    assert row.raw == spaced.decode().strip()  # exactly as received, escapes included
    assert orjson.loads(row.raw) == orjson.loads(reference.raw) and row.event_json == reference.event_json
    stored = [
        StoredEvent(1, r.log_id, "2026-11-20T10:00:00.000Z", r.event, r.raw, r.event_json) for r in (row, reference)
    ]
    mine, theirs = (publications_for([s]) for s in stored)
    assert [(p.event, p.channels, p.user_id, p.seq) for p in mine] == [
        (p.event, p.channels, p.user_id, p.seq) for p in theirs
    ]
    assert [orjson.loads(p.data) for p in mine] == [orjson.loads(p.data) for p in theirs]


def test_a_line_with_an_integer_beyond_64_bits_gives_the_reference_values():
    obj = record(44)
    line = orjson.dumps(obj)[:-2] + b', "n": 123456789012345678901234567890}}'
    assert _outcome(prepare, line) == _outcome(prepare_reference, line)
