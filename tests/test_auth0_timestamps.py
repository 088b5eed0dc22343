from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import given, strategies as st

from authviz.auth0 import TimestampError, parse_timestamp
from authviz.auth0.timestamps import parse_timestamp_array

UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-11-03T03:06:05.696Z", datetime(2021, 11, 3, 3, 6, 5, 696000, UTC)),
        ("2021-11-03T03:06:05Z", datetime(2021, 11, 3, 3, 6, 5, tzinfo=UTC)),
        ("2021-11-03T03:06:05+02:00", datetime(2021, 11, 3, 1, 6, 5, tzinfo=UTC)),
        ("2021-11-03T03:06:05.5-0130", datetime(2021, 11, 3, 4, 36, 5, 500000, UTC)),
        ("2025-10-03 14:09:32.149000000", datetime(2025, 10, 3, 14, 9, 32, 149000, UTC)),
        ("2025-10-03T14:09:32", datetime(2025, 10, 3, 14, 9, 32, tzinfo=UTC)),
        ("2025-10-03 14:09:32.123456789", datetime(2025, 10, 3, 14, 9, 32, 123456, UTC)),
    ],
)
def test_accepted_forms(text, expected):
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)
    assert parse_timestamp_array(pa.array([text])).to_pylist()[0] == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("yesterday", "'yesterday' is not a timestamp"),
        ("2021-13-01T00:00:00Z", "month must be in 1..12"),
        ("2021-02-30T00:00:00Z", "day is out of range"),
        ("3000-01-01T00:00:00Z", "out of the supported range"),
        ("2021-01-01", "not a timestamp"),
        ("2021-01-01T00:00:00Z\n", "not a timestamp"),
        ("2021-01-01T00:00:00+25:00", "out of range"),
        (1700000000, "1700000000 is not a timestamp"),
        (None, "None is not a timestamp"),
    ],
)
def test_refused_values_say_why(value, fragment):
    with pytest.raises(TimestampError, match=None) as caught:
        parse_timestamp(value)
    assert fragment in str(caught.value)


def test_datetimes_pass_through_as_utc():
    naive = datetime(2024, 1, 1, 12)
    assert parse_timestamp(naive) == datetime(2024, 1, 1, 12, tzinfo=UTC)
    plus_two = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert parse_timestamp(plus_two) == datetime(2024, 1, 1, 10, tzinfo=UTC)


_moments = st.datetimes(min_value=datetime(1700, 1, 1), max_value=datetime(2200, 1, 1))
_offsets = st.sampled_from(["Z", "+00:00", "+05:30", "-0800", ""])
_fractions = st.sampled_from(["", ".1", ".123", ".123456", ".123456789"])


@given(_moments, _offsets, _fractions, st.sampled_from(["T", " "]))
def test_vectorised_path_agrees_with_the_per_record_path(moment, offset, fraction, separator):
    text = moment.strftime(f"%Y-%m-%d{separator}%H:%M:%S") + fraction + offset
    assert parse_timestamp_array(pa.array([text])).to_pylist()[0] == parse_timestamp(text)


@given(
    st.lists(
        st.one_of(st.text(max_size=30), st.none(), st.builds(lambda m: m.isoformat() + "Z", _moments)), max_size=20
    )
)
def test_vectorised_null_exactly_where_per_record_refuses(values):
    out = parse_timestamp_array(pa.array(values, type=pa.string())).to_pylist()
    for value, parsed in zip(values, out):
        try:
            expected = parse_timestamp(value)
        except TimestampError:
            expected = None
        assert parsed == expected
